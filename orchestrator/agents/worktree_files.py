"""The orchestrator's own reads and writes in a worktree, behind the same link checks as the agents' tools.

Packets, specs, AGENTS.md, the file to change and the review's checks read files a test or a repo could have
made into links (`AGENTS.md -> /proc/self/environ`); these helpers never follow one out of the worktree.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from orchestrator.agents.sandbox import resolve_inside
from orchestrator.errors import SandboxViolation

MAX_READ_BYTES = 2_000_000
"""A file larger than this is no packet material (and may be a test's junk)."""


def refuse_hard_link(target: Path, shown_path: str) -> None:
    """Refuse a file with several names: one of them may be outside the worktree (e.g. the repo's .git/config)."""
    if target.is_file() and target.stat().st_nlink > 1:
        raise SandboxViolation(f"{shown_path} is a hard link (another name of a file that may lie outside the "
                               "worktree); refused like a symlink.")


def safe_file(root: Path, rel: str) -> Path | None:
    """The real path of a regular worktree file the tools could read, or None (missing, a link leading out of
    the worktree or into .git, a hard link, a device or fifo, too large)."""
    try:
        target = resolve_inside(Path(root), rel)
        info = target.stat()
    except (SandboxViolation, OSError, ValueError):
        return None
    if not target.is_file() or info.st_nlink > 1 or info.st_size > MAX_READ_BYTES:
        return None
    return target


def read_text(root: Path, rel: str) -> str | None:
    """A worktree file's text as the tools would read it; None when `safe_file` refuses it or it is binary."""
    target = safe_file(root, rel)
    if target is None:
        return None
    try:
        data = target.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def write_text(root: Path, rel: str, text: str | bytes) -> None:
    """Put text (or bytes) at a worktree path without writing through what is there: a link or hard link is
    replaced, not followed; a folder on the way that leads out of the worktree is refused (SandboxViolation)."""
    parent = resolve_inside(Path(root), os.path.dirname(rel) or ".")
    parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=".orchestrator-restore-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8") if isinstance(text, str) else text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, parent / os.path.basename(rel))  # rename replaces the name itself, never its target
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove(root: Path, rel: str) -> None:
    """Remove a worktree path (a link is removed itself); a folder on the way out of the worktree is refused."""
    parent = resolve_inside(Path(root), os.path.dirname(rel) or ".")
    (parent / os.path.basename(rel)).unlink(missing_ok=True)


def walk_files(root: Path, folder: str) -> list[str]:
    """Paths (relative, posix) of the files and links under a worktree folder, never following a link."""
    base = Path(root) / folder
    if base.is_symlink() or not base.is_dir():
        return []
    found, stack = [], [base]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != ".git":
                        stack.append(Path(entry.path))
                else:
                    found.append(Path(entry.path).relative_to(root).as_posix())
    return sorted(found)
