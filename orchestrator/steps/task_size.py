"""The `small_task` rule of a dispatch step: is this task small and well specified enough for the lean path?

A survey of the repo and a long spec cost more than a one-function task (issue 21, measured 2026-12-07: the
surveyor alone spent 174 s and 19,775 tokens mapping one module for a one-line helper). The rule is deterministic
and says why, so the run log shows what it saw; it reads at most MAX_NAMED_FILES files the task names, each
through the link-safe worktree read (at most its 2 MB cap).
"""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.agents.worktree_files import read_text
from orchestrator.gates.changes import is_test
from orchestrator.steps.relevant import named_files

MAX_TASK_CHARS = 600
MAX_FILE_LINES = 300
MAX_NAMED_FILES = 3
_CALLED = re.compile(r"\b([A-Za-z_]\w*)\s*\(")


def task_subject(task: str) -> str:
    """The first name the task calls (`tetrahedral(n)` gives tetrahedral): what it adds or fixes; "" when none."""
    called = _CALLED.search(task)
    return called.group(1) if called else ""


def small_task(task: str, root: Path, listed: list[str]) -> tuple[bool, str]:
    """(small, why): the task names a function and at most MAX_NAMED_FILES existing Python source files, each a readable
    text file of at most MAX_FILE_LINES lines, in at most MAX_TASK_CHARS characters."""
    if len(task) > MAX_TASK_CHARS:
        return False, f"the task has {len(task)} characters (more than {MAX_TASK_CHARS})"
    called = _CALLED.search(task)
    if called is None:
        return False, "the task names no function (no `name(`)"
    sources = [p for p in named_files(listed, task) if p.endswith(".py") and not is_test(p)]
    if not sources:  # the lean path's steps answer with python blocks
        return False, "the task names no existing Python source file of the repository"
    if len(sources) > MAX_NAMED_FILES:  # a repo with many files of the named name: not small, and not read
        return False, f"the task's file names match {len(sources)} files (more than {MAX_NAMED_FILES})"
    texts = {path: read_text(root, path) for path in sources}
    unread = [path for path, text in texts.items() if text is None]
    if unread:  # a link out of the worktree, a binary or a file past the read cap: unknown, so not small
        return False, f"{', '.join(unread)}: not a readable text file of the worktree"
    lines = {path: len(text.splitlines()) for path, text in texts.items() if text is not None}
    big = [f"{path} ({n} lines)" for path, n in lines.items() if n > MAX_FILE_LINES]
    if big:
        return False, f"{', '.join(big)}: more than {MAX_FILE_LINES} lines"
    files = ", ".join(f"{path} ({n} lines)" for path, n in lines.items())
    return True, f"names {called.group(1)}( and {files}, in {len(task)} characters"
