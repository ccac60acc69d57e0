"""Writes that would break Python source: dropped code, names defined twice, or text that no longer parses.

Each is refused with the way out.

Measured 2026-12-02 on the calc demo: asked to add subtract to a 6-line calc.py, the 0.5B and the 1.5B
both answered write_file(calc.py, "def subtract...") in 3 of 3 seeds, which deletes add.
"""

from __future__ import annotations

import ast
import json
import re

from orchestrator.agents.write_policy import DEFAULT_TEST_GLOBS
from orchestrator.errors import ToolError
from orchestrator.globs import glob_match

_MAX_SUGGESTED_CALL = 1200
"""A longer suggested call would cost the model more context than the plain advice helps."""


def top_level_names(text: str) -> dict[str, int]:
    """Top-level function and class names of Python source, with their line; by pattern when it doesn't parse."""
    try:
        return {node.name: node.lineno for node in ast.parse(text).body
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {m.group(2): text.count("\n", 0, m.start()) + 1
                for m in re.finditer(r"^(async\s+def|def|class)\s+(\w+)", text, re.MULTILINE)}


def check_keeps_definitions(path: str, old: str, new: str) -> None:
    """Refuse a rewrite of a Python source file that drops a top-level function or class it defines now.

    Test files are left to the write policy, whose existing-tests rule (and its lifting for refinement) covers them.
    """
    if not path.endswith(".py") or glob_match(path, DEFAULT_TEST_GLOBS):
        return
    kept = top_level_names(new)
    dropped = {name: line for name, line in top_level_names(old).items() if name not in kept}
    if not dropped:
        return
    names = ", ".join(f"{name} (line {line})" for name, line in dropped.items())
    raise ToolError(
        f"write_file replaces the whole of {path}, and the new content drops {names}. {_append_advice(path, old, new)} "
        "Or write the whole file with that code kept. To remove code on purpose, use edit.")


def _append_advice(path: str, old: str, new: str) -> str:
    """How to add the new code instead; when all of it is new definitions, the exact call (small models copy it)."""
    new_names = top_level_names(new)
    call = json.dumps({"name": "append_file", "arguments": {"path": path, "content": new}})
    if new_names and not set(new_names) & set(top_level_names(old)) and len(call) <= _MAX_SUGGESTED_CALL:
        return f"To add this code and keep the rest, call: {call}"
    return f"To add new code and keep the rest, call append_file with path {path!r} and only the new code as content."


def check_appends_new_names(path: str, old: str, added: str) -> None:
    """Refuse an append to a Python file that defines again a top-level function or class the file has.

    The later definition would silently replace the earlier one; the change belongs in place, with edit.
    """
    if not path.endswith(".py"):
        return
    existing = top_level_names(old)
    again = [name for name in top_level_names(added) if name in existing]
    if not again:
        return
    name = again[0]
    advice = "change it in place with edit (search: its current lines, replace: the new ones)."
    current = _definition_source(old, name)
    if len(again) == len(top_level_names(added)) == 1 and current:
        call = json.dumps({"name": "edit", "arguments": {"path": path, "search": current, "replace": added.strip()}})
        if len(call) <= _MAX_SUGGESTED_CALL:
            advice = f"change it in place instead: {call}"
    raise ToolError(f"append_file: {path} already defines {name} (line {existing[name]}); a second definition "
                    f"would silently replace it, so {advice}")


def _definition_source(text: str, name: str) -> str:
    """The source lines of one top-level definition (decorators included), or "" when the file doesn't parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ""
    lines = text.splitlines()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            return "\n".join(lines[first - 1:node.end_lineno])
    return ""


def check_still_parses(path: str, old: str | None, new: str, tool: str) -> None:
    """Refuse a change that leaves a Python file unparseable when it parsed before (or is new).

    Measured 2026-12-02 on the bugfix demo: the 0.5B's edit(search="subtract", replace="def subtract...") wrote
    `def def subtract`, and the gate's report of the SyntaxError then sent it rewriting the tests.
    """
    if not path.endswith(".py") or (old is not None and not _parses(old)):
        return
    try:
        ast.parse(new)
    except SyntaxError as error:
        line = (error.text or "").strip()
        shown = f" ({line[:120]!r})" if line else ""
        hint = (" The search text must be whole lines of the file, and replace the whole lines that change."
                if tool == "edit" else "")
        raise ToolError(f"{tool}: {path} would no longer be valid Python: line {error.lineno}: {error.msg}{shown}. "
                        f"Nothing was written.{hint}") from None
    except (ValueError, RecursionError, MemoryError):
        return  # NUL bytes, nesting too deep for the parser: not a syntax question


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


SMALL_FILE_CHARS = 2000
"""A file this small is shown whole when an edit misses, so the agent can copy it (or rewrite it)."""


def edit_missed(path: str, text: str) -> str:
    """Why an edit missed, and, for a small file, the file itself."""
    message = (f"edit: the search text was not found in {path}; it must match the file exactly (spaces, "
               "indentation).")
    if len(text) > SMALL_FILE_CHARS:
        return message + " Use read_file to copy it."
    return message + f" The file is small: write it whole with write_file, or copy from it. It reads:\n{text}"
