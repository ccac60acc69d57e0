"""Helpers for the hostile tests: canary secrets, a fingerprint of the user's repo, leak scans, process checks."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from conftest import git

CANARY = "sk-canary-7f3a9b1c2d4e5f60a1b2"
CANARY_VARS = {"OPENAI_API_KEY": CANARY, "ANTHROPIC_API_KEY": CANARY + "-ant", "GITHUB_TOKEN": CANARY + "-gh"}


def plant_canaries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the orchestrator process provider keys whose values must never show up anywhere."""
    for name, value in CANARY_VARS.items():
        monkeypatch.setenv(name, value)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(repo: Path) -> dict[str, object]:
    """The user's repo as a run must leave it: tree, index, .git/config, hooks, HEAD and the user's own refs."""
    tree = {str(p.relative_to(repo)): _sha(p) for p in sorted(repo.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(repo).parts}
    hooks = {p.name: _sha(p) for p in sorted((repo / ".git" / "hooks").iterdir())}
    refs = [line for line in git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
            if not line.startswith("refs/heads/orchestrator/")]
    return {"tree": tree, "index": _sha(repo / ".git" / "index"), "config": _sha(repo / ".git" / "config"),
            "hooks": hooks, "head": git(repo, "rev-parse", "HEAD"), "refs": refs,
            "status": git(repo, "status", "--porcelain=v2", "--untracked-files=all")}


def leaks(*roots: Path, texts: tuple[str, ...] = ()) -> list[str]:
    """Every file (databases, logs, worktrees included) or text in which a canary value appears."""
    needles = [v.encode() for v in CANARY_VARS.values()] + [CANARY.encode()]
    found = [str(p) for root in roots for p in root.rglob("*")
             if p.is_file() and not p.is_symlink() and any(n in p.read_bytes() for n in needles)]
    return found + [t[:80] for t in texts if CANARY in t]


def running(marker: str) -> list[int]:
    """Host pids of live processes whose command line contains `marker`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if marker.encode() in (proc / "cmdline").read_bytes() and \
                    (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z":
                found.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return found


def gone(marker: str, wait_s: float = 5.0) -> bool:
    """True once no process with `marker` in its command line is alive."""
    deadline = time.monotonic() + wait_s
    while running(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
