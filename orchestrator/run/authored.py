"""What a phase may commit: the files its agent wrote through the tools, not what a test run left behind."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.agents.worktree_files import remove, write_text

MAX_COMMIT_BYTES = 2_000_000
"""A file larger than this is never committed, whoever wrote it (a test's junk would bloat the user's objects)."""
BINARY_SNIFF = 8192


@dataclass
class WriteLedger:
    """Path -> the bytes the run's tools last wrote there (None: removed), until a commit takes them."""

    _written: dict[str, bytes | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, rel: str, data: bytes | None) -> None:
        """Remember one write (or removal) made through the tools or by the orchestrator for an agent."""
        with self._lock:
            self._written[rel] = data

    def forget(self, paths: list[str]) -> None:
        """Drop the entries a commit took."""
        with self._lock:
            for rel in paths:
                self._written.pop(rel, None)

    def copy(self) -> WriteLedger:
        """An independent copy (best-of-n saves one per candidate's snapshot)."""
        with self._lock:
            return WriteLedger(dict(self._written))

    def lookup(self, rel: str) -> tuple[bool, bytes | None]:
        """(whether the tools wrote this path, what they left there)."""
        with self._lock:
            return rel in self._written, self._written.get(rel)


def printable(path: str) -> str:
    """A path as text a log or a model can carry (a non-UTF-8 name shows its bad bytes as U+FFFD)."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _current(root: Path, rel: str) -> bytes | None:
    path = root / rel
    if path.is_symlink():
        return b"link:" + os.fsencode(os.readlink(path))  # never equal to a write: tools write no links
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None


@dataclass
class Sorting:
    """A phase's pending files sorted: to commit, to put back as the tools wrote them, to discard (with why)."""

    keep: list[str] = field(default_factory=list)
    rewrite: list[tuple[str, bytes | None]] = field(default_factory=list)
    discard: list[tuple[str, str]] = field(default_factory=list)


def sort_pending(root: Path, ledger: WriteLedger, pending: list[str]) -> Sorting:
    """Keep what the tools wrote; a file changed since is put back as written; anything else is a test's leftover."""
    sorting = Sorting()
    for rel in pending:
        known, written = ledger.lookup(rel)
        if not known:
            sorting.discard.append((rel, _leftover_reason(root, rel)))
        elif written is not None and len(written) > MAX_COMMIT_BYTES:
            sorting.discard.append((rel, f"over the {MAX_COMMIT_BYTES:,}-byte commit limit"))
        else:
            if _current(root, rel) != written:
                sorting.rewrite.append((rel, written))  # a test rewrote (or removed) it after the agent's write
            sorting.keep.append(rel)
    return sorting


def _leftover_reason(root: Path, rel: str) -> str:
    """Why a file nobody wrote through the tools is discarded (binary and huge ones are named as such)."""
    data = _current(root, rel)
    if data is None:
        return "removed by a test run, not by the agent"
    if len(data) > MAX_COMMIT_BYTES:
        return f"made by a test run, not by the agent ({len(data):,} bytes)"
    if b"\0" in data[:BINARY_SNIFF]:
        return "a binary file made by a test run, not by the agent"
    return "made or changed by a test run, not by the agent"


def put_back(root: Path, rewrite: list[tuple[str, bytes | None]]) -> None:
    """Restore the agent's version of files a test changed after the agent wrote them."""
    for rel, data in rewrite:
        if data is None:
            remove(root, rel)
        else:
            write_text(root, rel, data)
