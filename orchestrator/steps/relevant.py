"""The files a phase works on, shown whole in its packet: small models change what they see, not what they must find.

Measured 2026-12-02 on the calc demo: given only the list of files, the 0.5B tester spent its 8 calls reading
line 1 of calc.py, searching for file names and writing to the folder `tests/`; it never wrote a test.
"""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.agents.worktree_files import read_text, safe_file
from orchestrator.gates.changes import is_spec, is_test

MAX_FILES = 4
MAX_LINES = 80
"""A file longer than this shows its first lines and says how to read the rest."""


def named_files(listed: list[str], text: str) -> list[str]:
    """Repository files whose path or name the text mentions as a word (`calc.py`, `src/app/models.py`)."""
    found = []
    for path in listed:
        name = Path(path).name
        if is_spec(path) or "." not in name:
            continue
        if re.search(rf"(?<![\w/.-]){re.escape(path)}(?![\w-])", text) or \
                re.search(rf"(?<![\w/.-]){re.escape(name)}(?![\w-])", text):
            found.append(path)
    return found


def tests_of(root: Path, listed: list[str], modules: list[str]) -> list[str]:
    """Test files that import one of the given Python modules (by module name)."""
    stems = {Path(m).stem for m in modules if m.endswith(".py") and not is_test(m)}
    if not stems:
        return []
    pattern = re.compile(rf"^\s*(from|import)\s+({'|'.join(map(re.escape, sorted(stems)))})\b", re.MULTILINE)
    return [p for p in listed if is_test(p) and pattern.search(read_text(root, p) or "")]


def working_files(root: Path, listed: list[str], text: str, extra: list[str] | None = None
                  ) -> tuple[list[str], list[str]]:
    """(source files, test files) a step works with: those the text names, the tests importing them, `extra`."""
    named = named_files(listed, text)
    chosen = list(dict.fromkeys([*named, *tests_of(root, listed, named), *(extra or [])]))
    chosen = [p for p in chosen if safe_file(root, p) is not None][:MAX_FILES]
    return [p for p in chosen if not is_test(p)], [p for p in chosen if is_test(p)]


def render_files(root: Path, paths: list[str]) -> str:
    """Markdown with the whole text of each file (its first MAX_LINES lines when longer)."""
    return "\n\n".join(_render(root, path) for path in paths)


def _render(root: Path, path: str) -> str:
    lines = (read_text(root, path) or "").splitlines()
    shown = "\n".join(lines[:MAX_LINES])
    more = f"\n[... {len(lines) - MAX_LINES} more lines: read_file to see them]" if len(lines) > MAX_LINES else ""
    return f"### {path} ({len(lines)} lines)\n```\n{shown}\n```{more}"

