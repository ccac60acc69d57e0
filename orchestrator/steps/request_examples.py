"""The examples a feature request states, as a test: "rotate_right([1, 2, 3, 4, 5], 2) gives [4, 5, 1, 2, 3]".

A request for a new function often states what some calls give, and sometimes that the inputs stay unchanged.
Measured 2026-12-07 (bench_team, the fresh4 and fresh5 halves): 10 of 16 feature requests stated examples; the
1.5B tester's own test restated most of them and added cases of its own, some wrong; and one run ended done with a
build that emptied its input lists, which the request forbade and the tester never checked (a false done).

Two forms count, both with a literal before and after a connector ("gives", "is", "returns", "==", "->", ...):
- a call of the function with literal arguments right before it: `interleave([1], ['x']) == [1, 'x']`;
- for a function the request shows with exactly one parameter (`valid_ipv4(address)`), a bare literal:
  `'256.1.1.1' -> False`, `[1, 2, 1, 2] gives 1`.
A call followed by "raises" and a built-in exception name counts as raising it. A tuple written without
parentheses never counts (in "0 -> 'zero', 7 -> 'seven'" the value is `'zero'`, not `('zero', 7)`). When a sentence
says the inputs stay unchanged ("Neither input list may be modified"), each stated call with a list, dict or set
argument is also checked to leave its arguments equal to copies taken before the call.

Anything else is left to the tester; bug reports (whose "returns" names the wrong value) use `task_examples`.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

from orchestrator.steps.task_examples import CALL_START, MAX_CALL, MAX_VALUE, call_at, is_literal

_CONNECTOR = r"(?:(?:should|must|will) (?:return|give|be)|returns?|gives?|that is|is|==|->|→|=>|yields?|equals?)"
_AFTER_CALL = re.compile(rf"\s*{_CONNECTOR}\s+", re.IGNORECASE)
_RAISES = re.compile(r"\s*(?:should |must |will )?raises?\s+([A-Z]\w*)")
_BARE = re.compile(rf"\s+{_CONNECTOR}\s+", re.IGNORECASE)
_UNCHANGED = re.compile(
    r"\b(?:left|stays?|remains?|kept|keeps\b[^.]{0,40}?)\s+unchanged\b"
    r"|\b(?:not|never|neither\b[^.]{0,60}?)\s+(?:be\s+|get\s+)?(?:modified|changed|mutated|altered)\b"
    r"|\b(?:not|never)\s+(?:modify|change|mutate|alter)\b", re.IGNORECASE)
EXAMPLES_FILE_SUFFIX = "_task_examples.py"
"""How the test file written from a request's examples ends (test_<function>_task_examples.py)."""
_CHANGED_MESSAGE = ("{} changed the arguments it was called with; the task says its inputs stay unchanged, so it "
                   "must not modify them (no pop, remove, append, sort or item assignment on them): work on a copy")
"""The unchanged-inputs check's failure message: the builder reads it in the gate's report (measured 2026-12-07:
without it, the 1.5B kept `a.pop(0)` through three rounds of a bare `assert ([], []) == ([1, 2, 3], ...)`)."""
_OPERATORS = set("*+-/%<>=&|^~@")
_INPUT_WORDS = r"input|inputs|argument|arguments|passed|given|itself|original|in place"


@dataclass(frozen=True)
class Stated:
    """A stated call (source); the value it gives (source), or the exception it raises (a built-in's name)."""

    call: str
    expected: str = ""
    raises: str = ""


def request_examples(task: str, function: str) -> list[Stated]:
    """The examples of `function` the request states, in the order it states them, without repeats."""
    found: list[tuple[int, Stated]] = []
    for match in CALL_START.finditer(task):
        if match.group(1) != function:
            continue
        call = call_at(task, match.start(1), match.end() - 1)
        stated = _after_call(task, match.start(1) + len(call), call) if call else None
        if stated:
            found.append((match.start(1), stated))
    if _one_parameter(task, function):
        found += _bare_examples(task, function)
    unique: list[Stated] = []
    for _, stated in sorted(found, key=lambda pair: pair[0]):
        if stated not in unique:
            unique.append(stated)
    return unique


def inputs_stay_unchanged(task: str, function: str) -> bool:
    """True when a sentence of the request says its inputs stay unchanged (it names them, or says input, itself...)."""
    params = _parameters(task, function) or []
    words = "|".join([_INPUT_WORDS, *(re.escape(p) for p in params)])
    for sentence in re.split(r"(?<=[.;!?])\s+", task):
        if _UNCHANGED.search(sentence) and re.search(rf"\b(?:{words})\b", sentence, re.IGNORECASE):
            return True
    return False


def _after_call(task: str, end: int, call: str) -> Stated | None:
    raised = _RAISES.match(task, end)
    if raised:
        name = raised.group(1)
        is_exception = isinstance(getattr(builtins, name, None), type) and issubclass(getattr(builtins, name),
                                                                                      BaseException)
        return Stated(call, raises=name) if is_exception else None
    connector = _AFTER_CALL.match(task, end)
    value = _literal_prefix(task[connector.end(): connector.end() + MAX_VALUE]) if connector else None
    return Stated(call, expected=value) if value else None


def _bare_examples(task: str, function: str) -> list[tuple[int, Stated]]:
    """`LITERAL connector LITERAL` pairs, read as function(LITERAL) == LITERAL."""
    found = []
    for connector in _BARE.finditer(task):
        argument = _literal_suffix(task, connector.start())
        value = _literal_prefix(task[connector.end(): connector.end() + MAX_VALUE])
        if argument and value:
            found.append((connector.start(), Stated(f"{function}({argument})", expected=value)))
    return found


def _literal_prefix(text: str) -> str | None:
    """The longest literal at the start of `text` that ends at a word boundary (not a bare tuple)."""
    for end in range(len(text), 0, -1):
        candidate = text[:end].strip()
        if candidate and candidate[-1] not in ".,;:" and (end == len(text) or not text[end].isalnum()) \
                and _plain_literal(candidate):
            return candidate
    return None


def _literal_suffix(task: str, end: int) -> str | None:
    """The longest literal ending at `end`, starting after a space, an opening bracket or the start of the text."""
    for start in range(max(0, end - MAX_CALL), end):
        if start > 0 and not (task[start - 1].isspace() or task[start - 1] in "(:"):
            continue
        if task[:start].rstrip()[-1:] in _OPERATORS:  # "1024 ** 5 is ..." states nothing about f(5)
            continue
        candidate = task[start:end]
        if candidate.strip() == candidate and _plain_literal(candidate):
            return candidate
    return None


def _plain_literal(source: str) -> bool:
    """A Python literal, but not a tuple written without parentheses (`'zero', 7`)."""
    try:
        node = ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError):
        return False
    if isinstance(node, ast.Tuple) and not source.startswith("("):
        return False
    return is_literal(node)


def _parameters(task: str, function: str) -> list[str] | None:
    """The parameter names the request shows for `function` (`valid_ipv4(address)`); None when it shows none."""
    for match in CALL_START.finditer(task):
        if match.group(1) != function:
            continue
        close = task.find(")", match.end())
        try:
            node = ast.parse(task[match.start(1): close + 1], mode="eval").body if close > 0 else None
        except (SyntaxError, ValueError):
            continue
        if isinstance(node, ast.Call) and node.args and all(isinstance(a, ast.Name) for a in node.args):
            return [a.id for a in node.args if isinstance(a, ast.Name)] + [k.arg for k in node.keywords if k.arg]
    return None


def _one_parameter(task: str, function: str) -> bool:
    params = _parameters(task, function)
    return params is not None and len(params) == 1


def examples_test(module: str, function: str, examples: list[Stated], unchanged: bool) -> str:
    """A test module for the stated examples (and, when `unchanged`, that the calls leave their arguments equal)."""
    checks = [f"    assert {e.call} == {e.expected}\n" for e in examples if not e.raises]
    checks += [f"    with pytest.raises({e.raises}):\n        {e.call}\n" for e in examples if e.raises]
    mutable = [e for e in examples if unchanged and _mutable_arguments(e.call)]
    heads = ["import copy\n"] * bool(mutable) + ["import pytest\n"] * any(e.raises for e in examples)
    text = "".join(heads) + ("\n" if heads else "") + f"from {module} import {function}\n\n\n"
    text += (f"def test_{function}_as_the_task_states():\n"
             f'    """The calls and results the task states."""\n' + "".join(checks))
    if mutable:
        message = repr(_CHANGED_MESSAGE.format(function))
        blocks = "".join(f"    arguments = ({_arguments(e.call)},)\n    before = copy.deepcopy(arguments)\n"
                         f"    {function}(*arguments)\n    assert arguments == before, {message}\n" for e in mutable)
        text += (f"\n\ndef test_{function}_leaves_its_arguments_unchanged():\n"
                 f'    """The task says the inputs stay unchanged."""\n' + blocks)
    return text


def _arguments(call: str) -> str:
    node = ast.parse(call, mode="eval").body
    assert isinstance(node, ast.Call)
    return ", ".join(ast.get_source_segment(call, a) or "" for a in node.args)


def _mutable_arguments(call: str) -> bool:
    node = ast.parse(call, mode="eval").body
    return isinstance(node, ast.Call) and any(isinstance(a, (ast.List, ast.Dict, ast.Set)) for a in node.args)
