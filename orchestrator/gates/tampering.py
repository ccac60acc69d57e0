"""A review flag for changed code that reaches into the test runner or the process: what an in-process forge needs.

Code under test runs in the tested Python process, so nothing stops it from rewriting pytest's objects in
memory; the gate can only make that hard and visible. This flag names such code for the critic.
"""

from __future__ import annotations

import re

from orchestrator.agents.sandbox import resolve_inside
from orchestrator.errors import SandboxViolation
from orchestrator.gates.changes import Changes

RUNNER_REACH = [
    (re.compile(r"\b_pytest\b|\bpluggy\b|\bpytest_\w+\s*\("), "pytest's internals or hooks"),
    (re.compile(r"orchestrator_probe|ORCHESTRATOR_PROBE", re.IGNORECASE), "the gate's probe"),
    (re.compile(r"/proc/self/fd|\bos\.write\s*\(\s*\d"), "the process's file descriptors"),
]
PROCESS_REACH = [
    (re.compile(r"\bsys\.modules\b"), "sys.modules"),
    (re.compile(r"\bos\._exit\b"), "os._exit"),
    (re.compile(r"\batexit\b"), "atexit"),
    (re.compile(r"\bgc\.get_(objects|referrers)\b"), "the garbage collector's objects"),
    (re.compile(r"__defaults__|__code__|__globals__|__closure__"), "other functions' internals"),
]
"""Source (not tests) has no business here either; tests may, e.g. to stub an optional import."""


def tampering_flag(worktree, changes: Changes) -> str | None:
    """One line naming changed files that reach into the runner or the process, or None."""
    found = []
    for path in [*changes.source, *changes.tests]:
        if not path.endswith(".py"):
            continue
        patterns = RUNNER_REACH + (PROCESS_REACH if path in changes.source else [])
        text = _read(worktree, path)
        hits = sorted({what for pattern, what in patterns if pattern.search(text)})
        if hits:
            found.append(f"{path} ({', '.join(hits)})")
    if not found:
        return None
    return ("changed code reaches into the test runner or the process, which a forged test verdict needs: "
            + "; ".join(found[:5]) + ". Check it is not rigging the tests.")


def _read(worktree, path: str) -> str:
    """The file's text, through the same checks as an agent's read (a link out of the worktree reads as empty)."""
    try:
        target = resolve_inside(worktree, path)
    except SandboxViolation:
        return ""
    if not target.is_file() or target.stat().st_size > 2_000_000:
        return ""
    return target.read_text(encoding="utf-8", errors="replace")
