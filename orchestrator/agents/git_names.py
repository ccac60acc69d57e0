"""Names git refuses to commit (and non-UTF-8 names), refused at write time: no later commit of the run fails on one."""

from __future__ import annotations

from pathlib import PurePosixPath

from orchestrator.errors import SandboxViolation

RESERVED = (".git", "git~1")
"""Any case, with trailing dots or spaces: git refuses them all (core.protectNTFS, on by default)."""


def check_git_accepts(rel: str) -> None:
    """Refuse a path git would refuse to commit (`docs/.GIT/x`, `.git ` on NTFS rules, a non-UTF-8 name), at
    write time: once written, every later commit of the run would fail on it."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise SandboxViolation(f"path {rel.encode('utf-8', 'replace').decode()!r} is not valid UTF-8; "
                               "use a plain file name.") from None
    for part in PurePosixPath(rel).parts:
        if part.rstrip(". ").lower() in RESERVED:
            raise SandboxViolation(f"path {rel!r}: {part!r} is a name git reserves (any case of .git); "
                                   "git refuses to commit it. Use another folder name.")
