"""The calls a bug report states with the value they should give, as a reproduction test: the user's own word.

A report such as "count_between([1, 2, 3, 4], 2, 4) in ranges.py returns 1, but it should return 3" holds its own
test. Measured 2026-12-07 (bench_team, the fresh2 and fresh3 halves): of 8 small bug reports the 1.5B tester's
reproduction stopped 4 runs, twice passing before the fix (the red gate's "proves nothing") and twice asserting
a wrong value the right fix could never meet, where each report stated the call and the right value.

Only a call of one function (plain, or qualified by its module: `numbers_fmt.pad_number(-5, 3)`) whose arguments are
all literals counts, and only with a literal after "should return", "should give", "should be", "instead of",
"expected" or "I expect" before the next call; anything else is left to the tester.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

CALL_START = re.compile(r"(?<![\w.])(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*)\(")
"""A call of a name, maybe qualified (`numbers_fmt.pad_number(`): group 1 is the name, and where it starts is where
the call's source starts (the test imports the function from its module)."""
_EXPECTED = re.compile(r"\b(?:should (?:return|give|be)|instead of|expected:?|I expect)\s+", re.IGNORECASE)
MAX_CALL = 400
MAX_VALUE = 400


@dataclass(frozen=True)
class Example:
    """A stated call (source) and the value it should give (source), both Python literals but the callee."""

    call: str
    expected: str


def stated_examples(task: str, function: str) -> list[Example]:
    """The examples of `function` the task states, in order, without repeats."""
    calls = [(m.start(1), m.end() - 1) for m in CALL_START.finditer(task) if m.group(1) == function]
    found: list[Example] = []
    for index, (start, paren) in enumerate(calls):
        call = call_at(task, start, paren)
        if call is None:
            continue
        following = task[start + len(call): calls[index + 1][0] if index + 1 < len(calls) else len(task)]
        expected = _expected_in(following)
        if expected is not None and Example(call, expected) not in found:
            found.append(Example(call, expected))
    return found


def call_at(text: str, start: int, paren: int) -> str | None:
    """The call starting at `start` when its arguments (up to the matching parenthesis) are all literals."""
    for end in range(paren + 1, min(len(text), start + MAX_CALL) + 1):
        if text[end - 1] != ")":
            continue
        try:
            node = ast.parse(text[start:end], mode="eval").body
        except (SyntaxError, ValueError):
            continue
        if isinstance(node, ast.Call) and all(is_literal(a) for a in node.args) and not node.keywords:
            return text[start:end]
        return None
    return None


def _expected_in(text: str) -> str | None:
    """The longest literal right after the first "should return"-like phrase of `text`."""
    match = _EXPECTED.search(text)
    if match is None:
        return None
    rest = text[match.end(): match.end() + MAX_VALUE]
    for end in range(len(rest), 0, -1):
        candidate = rest[:end].strip()
        if candidate and candidate[-1] not in ".,;:" and _literal_source(candidate):
            return candidate
    return None


def _literal_source(source: str) -> bool:
    try:
        return is_literal(ast.parse(source, mode="eval").body)
    except (SyntaxError, ValueError):
        return False


def is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def reproduction_test(module: str, function: str, examples: list[Example]) -> str:
    """A test module asserting each example, in one test function (red when any stated value is not given yet)."""
    asserts = "".join(f"    assert {e.call} == {e.expected}\n" for e in examples)
    return (f"from {module} import {function}\n\n\n"
            f'def test_{function}_as_reported():\n    """The calls and values the bug report states."""\n{asserts}')


def module_name(path: str) -> str:
    """The dotted name a test imports a source file by: its path without `.py` (and without a leading `src/`)."""
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts and parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def defines(source: str, function: str) -> bool:
    """True when `source` parses and defines `function` at its top level."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == function for n in tree.body)
