"""The one glob dialect for file scopes (write policy, commits, PBI scopes, gates), via wcmatch.

Patterns are root-anchored and forward-slashed: `*` and `?` stay inside one folder, `**` spans folders
(`**/x.py` also matches a top-level `x.py`), dotfiles match, and a trailing `/` means everything under it.
A pattern starting with `!` excludes (`["**", "!tests/**"]`: everything but the tests).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from wcmatch import glob

_FLAGS = glob.GLOBSTAR | glob.DOTGLOB | glob.NEGATE


def _normal(pattern: str) -> str:
    return pattern + "**" if pattern.endswith("/") else pattern


def glob_match(rel_path: str, patterns: Iterable[str]) -> bool:
    """True when the relative path matches any of the patterns."""
    patterns = tuple(patterns)
    return bool(patterns) and _matcher(patterns).match(rel_path)


@functools.lru_cache(maxsize=512)
def _matcher(patterns: tuple[str, ...]) -> Any:
    """The compiled matcher of a pattern list: a run asks about the same few lists for every file, every step."""
    return glob.compile([_normal(p) for p in patterns], flags=_FLAGS)
