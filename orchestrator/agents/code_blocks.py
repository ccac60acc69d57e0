"""Code written as a reply: fenced blocks found in a model's text, and merged into the file they change.

A model that answers in prose and a ```python block writes better code than one that has to escape the code
inside a JSON tool call (measured 2026-12-07 on HumanEval through the tool harness: the 0.5B's constrained
writes were mostly a signature and no body). These functions only parse and merge text; the write itself goes
through the step's toolbox, so confinement and the write policy apply as to any tool call.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_FENCE = re.compile(r"^```[ \t]*([^\n`]*)\n(.*?)(?:^```[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_PATH = r"[\w.][\w./-]*\.[A-Za-z0-9]+"
_PATH_BEFORE = re.compile(rf"(?:^|[\s`*:#(])({_PATH})[`*:)]*\s*$")
_PATH_COMMENT = re.compile(rf"^\s*#\s*(?:file(?:name)?\s*:\s*|path\s*:\s*)?({_PATH})\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: the path the reply gave it (None when it gave none) and its code."""

    path: str | None
    code: str


def code_blocks(text: str) -> list[Block]:
    """The reply's fenced blocks, in order; a last block cut off before its closing fence counts.

    The path is the first that fits of: a path in the fence's info string (```python calc.py), a first line
    that is a comment naming it (# file: calc.py, which is then dropped), a path ending the line before."""
    blocks = []
    for match in _FENCE.finditer(text):
        info, code = match.group(1).split(), match.group(2)
        path = next((word for word in info[1:] if re.fullmatch(_PATH, word)), None)
        if path is None and info and re.fullmatch(_PATH, info[0]) and "." in info[0]:
            path = info[0]
        first, _, rest = code.partition("\n")
        named = _PATH_COMMENT.match(first)
        if path is None and named:
            path, code = named.group(1), rest
        if path is None:
            path = _path_before(text[:match.start()])
        if code.strip():
            blocks.append(Block(path=path, code=code.rstrip() + "\n"))
    return blocks or _unfenced(text)


def _unfenced(text: str) -> list[Block]:
    """A reply that is nothing but Python, without fences (measured 2026-12-07: the 1.5B tester answered
    `# file: tests/test_subtract.py` and the test, three times): one block, named by its first-line comment."""
    # A lone fence line with nothing to pair with (the 1.5B closed a block it never opened) is not code.
    text = "\n".join(line for line in text.splitlines() if not re.fullmatch(r"\s*```\w*\s*", line))
    tree = _parsed(text)
    if tree is None or not any(isinstance(node, (*_DEFS, ast.Import, ast.ImportFrom)) for node in tree.body):
        return []
    first, _, rest = text.strip().partition("\n")
    named = _PATH_COMMENT.match(first)
    path, code = (named.group(1), rest) if named else (None, text.strip())
    return [Block(path=path, code=code.rstrip() + "\n")] if code.strip() else []


def _path_before(text: str) -> str | None:
    lines = text.rstrip().splitlines()
    found = _PATH_BEFORE.search(lines[-1]) if lines else None
    return found.group(1) if found else None


def merged(old: str, new: str, module: str = "") -> str:
    """The file after a block: the block itself when it is the whole file, else the old file with the block's
    definitions put in.

    The block is the whole file when the old one is empty or doesn't parse, when it isn't Python, or when it
    defines every top-level function and class the old file does. Otherwise each function or class of the block
    replaces the old one of its name, in place, or is added at the end; its imports the file lacks go after the
    file's own, except imports from the file's own `module` (the 0.5B wrote `from calc import add, subtract`
    into calc.py); a new top-level assignment is added; anything else at top level (example calls, prints, a
    `__main__` block) is left out, as it would run on import.
    """
    old_tree, new_tree = _parsed(old), _parsed(new)
    if not old.strip() or old_tree is None or new_tree is None:
        return new
    if set(_definitions(old_tree)) <= set(_definitions(new_tree)):
        return new
    lines = old.splitlines()
    for name, node in reversed(list(_definitions(new_tree).items())):
        if name in _definitions(old_tree):
            first, last = _span(_definitions(old_tree)[name])
            lines[first - 1:last] = _source(new, node).splitlines()
            old_tree = _parsed("\n".join(lines) + "\n") or old_tree
    text = "\n".join(lines).rstrip() + "\n"
    added = [_source(new, node) for name, node in _definitions(new_tree).items() if name not in _definitions(old_tree)]
    added += [_source(new, node) for node in _new_assignments(old_tree, new_tree)]
    text = _with_imports(text, old_tree, _new_imports(old, new, new_tree, module))
    return text + "".join(f"\n\n{chunk}\n" for chunk in added) if added else text


def _parsed(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _definitions(tree: ast.Module) -> dict[str, ast.stmt]:
    return {node.name: node for node in tree.body if isinstance(node, _DEFS)}


def _span(node: ast.stmt) -> tuple[int, int]:
    """First and last line of a statement, decorators included."""
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)]), node.end_lineno or node.lineno


def _source(text: str, node: ast.stmt) -> str:
    first, last = _span(node)
    return "\n".join(text.splitlines()[first - 1:last])


def _new_imports(old: str, new: str, new_tree: ast.Module, module: str) -> list[str]:
    have = {line.strip() for line in old.splitlines()}
    imports = [_source(new, node) for node in new_tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
               and not (isinstance(node, ast.ImportFrom) and module and node.module == module)]
    return [text for text in imports if text.strip() not in have]


def _with_imports(text: str, tree: ast.Module, imports: list[str]) -> str:
    """The text with the import lines added after its last top-level import (or its docstring, or at the top)."""
    if not imports:
        return text
    anchors: list[ast.stmt] = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    if not anchors and tree.body and isinstance(tree.body[0], ast.Expr) and \
            isinstance(getattr(tree.body[0], "value", None), ast.Constant):
        anchors = [tree.body[0]]  # the module docstring stays first
    lines = text.splitlines()
    at = max((_span(node)[1] for node in anchors), default=0)
    return "\n".join([*lines[:at], *imports, *lines[at:]]) + "\n"


def _new_assignments(old_tree: ast.Module, new_tree: ast.Module) -> list[ast.stmt]:
    """Top-level assignments of names the old file doesn't assign (a constant the new code uses)."""
    def names(tree: ast.Module) -> dict[str, ast.stmt]:
        found: dict[str, ast.stmt] = {}
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign) else []
            found.update({t.id: node for t in targets if isinstance(t, ast.Name)})
        return found
    old_names = names(old_tree)
    return list({id(node): node for name, node in names(new_tree).items() if name not in old_names}.values())
