"""The files a phase works on, shown whole in its packet: small models change what they see, not what they must find.

Measured 2026-12-02 on the calc demo: given only the list of files, the 0.5B tester spent its 8 calls reading
line 1 of calc.py, searching for file names and writing to the folder `tests/`; it never wrote a test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from orchestrator.agents.worktree_files import read_text, safe_file
from orchestrator.gates.changes import is_spec, is_test
from orchestrator.run.workspace import git
from orchestrator.steps.task_examples import module_name

MAX_FILES = 4
MAX_LINES = 80
"""A file longer than this shows its first lines and says how to read the rest."""


def named_files(listed: list[str], text: str) -> list[str]:
    """Repository files whose path or name the text mentions as a word (`calc.py`, `src/app/models.py`), and Python
    modules it calls into by their dotted name (`numbers_fmt.pad_number(` names numbers_fmt.py)."""
    found = []
    for path in listed:
        name = Path(path).name
        if is_spec(path) or "." not in name:
            continue
        if re.search(rf"(?<![\w/.-]){re.escape(path)}(?![\w-])", text) or \
                re.search(rf"(?<![\w/.-]){re.escape(name)}(?![\w-])", text) or _called_into(path, text):
            found.append(path)
    return found


def _called_into(path: str, text: str) -> bool:
    """True when the text calls a name of the Python module at `path` through its dotted name (`pkg.mod.f(`)."""
    dotted = module_name(path) if path.endswith(".py") else ""
    return bool(dotted) and re.search(rf"(?<![\w.]){re.escape(dotted)}\.[A-Za-z_]\w*\s*\(", text) is not None


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


MAX_BASE_BYTES = 1_000_000


def render_base_files(workspace: Any, paths: list[str]) -> str:
    """Markdown with each file as it was at the run's base commit, read from git's blob (never through the
    worktree); a file the run created shows as new, and a link or a big or binary blob shows as nothing."""
    return "\n\n".join(_render_text(path, base_text(workspace, path)) for path in paths)


def base_text(workspace: Any, path: str) -> str | None:
    """A file's text at the run's base commit: None when the base has no such file, "" for a link, big or binary."""
    listing = git(workspace.path, "ls-tree", "-l", "-z", workspace.base_commit, "--", path).rstrip("\0")
    if not listing:
        return None
    mode, kind, blob, size = listing.split("\t", 1)[0].split()
    if kind != "blob" or mode not in ("100644", "100755") or int(size) > MAX_BASE_BYTES:
        return ""
    text = git(workspace.path, "cat-file", "blob", blob)
    return "" if "\0" in text[:8192] else text


def _render(root: Path, path: str) -> str:
    return _render_text(path, read_text(root, path) or "")


def _render_text(path: str, text: str | None) -> str:
    if text is None:
        return f"### {path}\n(a new file: it did not exist before this run)"
    lines = text.splitlines()
    shown = "\n".join(lines[:MAX_LINES])
    more = f"\n[... {len(lines) - MAX_LINES} more lines: read_file to see them]" if len(lines) > MAX_LINES else ""
    return f"### {path} ({len(lines)} lines)\n```\n{shown}\n```{more}"

