"""The files a phase works on, shown whole in its packet: small models change what they see, not what they must find.

Measured 2026-12-02 on the calc demo: given only the list of files, the 0.5B tester spent its 8 calls reading
line 1 of calc.py, searching for file names and writing to the folder `tests/`; it never wrote a test.
"""

from __future__ import annotations

import re
from pathlib import Path

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
    return [p for p in listed if is_test(p) and pattern.search(_read(root / p))]


def relevant_files(root: Path, listed: list[str], text: str, extra: list[str] | None = None) -> str:
    """Markdown with the whole text of the files the text names, their tests and `extra` (at most MAX_FILES)."""
    named = named_files(listed, text)
    chosen = list(dict.fromkeys([*(extra or []), *named, *tests_of(root, listed, named)]))[:MAX_FILES]
    return "\n\n".join(_render(root, path) for path in chosen if (root / path).is_file())


def _render(root: Path, path: str) -> str:
    lines = _read(root / path).splitlines()
    shown = "\n".join(lines[:MAX_LINES])
    more = f"\n[... {len(lines) - MAX_LINES} more lines: read_file to see them]" if len(lines) > MAX_LINES else ""
    return f"### {path} ({len(lines)} lines)\n```\n{shown}\n```{more}"


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
