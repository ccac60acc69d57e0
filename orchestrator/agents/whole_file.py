"""Whole-file writes that would drop code: refused with the way to add code without losing any.

Measured 2026-12-02 on the calc demo: asked to add subtract to a 6-line calc.py, the 0.5B and the 1.5B
both answered write_file(calc.py, "def subtract...") in 3 of 3 seeds, which deletes add.
"""

from __future__ import annotations

import ast
import re

from orchestrator.errors import ToolError


def top_level_names(text: str) -> dict[str, int]:
    """Top-level function and class names of Python source, with their line; by pattern when it doesn't parse."""
    try:
        return {node.name: node.lineno for node in ast.parse(text).body
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    except (SyntaxError, ValueError):
        return {m.group(2): text.count("\n", 0, m.start()) + 1
                for m in re.finditer(r"^(async\s+def|def|class)\s+(\w+)", text, re.MULTILINE)}


def check_keeps_definitions(path: str, old: str, new: str) -> None:
    """Refuse a rewrite of a Python file that drops a top-level function or class it defines now."""
    if not path.endswith(".py"):
        return
    kept = top_level_names(new)
    dropped = {name: line for name, line in top_level_names(old).items() if name not in kept}
    if not dropped:
        return
    names = ", ".join(f"{name} (line {line})" for name, line in dropped.items())
    last = next((line for line in reversed(old.splitlines()) if line.strip()), "")
    raise ToolError(
        f"write_file replaces the whole of {path}, and the new content drops {names}. Either write the whole file "
        f"with that code kept, or add only the new code with edit: search = the file's last line {last!r}, "
        f"replace = that line, a blank line, then the new code. To remove code on purpose, use edit.")
