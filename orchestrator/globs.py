"""The one glob dialect for file scopes (write policy, commits, PBI scopes, gates), via wcmatch.

Patterns are root-anchored and forward-slashed: `*` and `?` stay inside one folder, `**` spans folders
(`**/x.py` also matches a top-level `x.py`), dotfiles match, and a trailing `/` means everything under it.
A pattern starting with `!` excludes (`["**", "!tests/**"]`: everything but the tests).
"""

from __future__ import annotations

from collections.abc import Iterable

from wcmatch import glob

_FLAGS = glob.GLOBSTAR | glob.DOTGLOB | glob.NEGATE


def _normal(pattern: str) -> str:
    return pattern + "**" if pattern.endswith("/") else pattern


def glob_match(rel_path: str, patterns: Iterable[str]) -> bool:
    """True when the relative path matches any of the patterns."""
    normal = [_normal(p) for p in patterns]
    return bool(normal) and glob.globmatch(rel_path, normal, flags=_FLAGS)
