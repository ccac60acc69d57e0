"""A worker's cache of repositories named by git URL: clone or fetch before a run, push its branch back.

The cache is the worker's own (one clone per URL), never a user's checkout, so resetting it to the remote's
head is safe. Only URLs of the usual transports are accepted: git's `ext::` and `fd::` transports run
commands, and a queued run must never choose what a worker executes.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from orchestrator.errors import ConfigError
from orchestrator.run.workspace import BRANCH_PREFIX, git

_URL = re.compile(r"^(file|https?|ssh|git)://\S+$|^[\w.-]+@[\w.-]+:[\w./~-]+$")
_TRANSPORTS = "file,https,http,ssh,git"


def check_repo_url(url: str) -> str:
    """The URL, stripped, if it names a repository by a plain transport; a clear error otherwise."""
    url = url.strip()
    if not _URL.match(url) or url.startswith("-"):
        raise ConfigError(f"repo URL {url!r}: use a git URL such as file:///srv/git/app.git, https://host/app.git, "
                          "ssh://host/app.git or user@host:app.git (a local path: file:// plus its absolute path)")
    return url


def default_cache() -> Path:
    """Where a worker keeps its clones: $XDG_CACHE_HOME/orchestrator/repos (or ~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "orchestrator" / "repos"


def _git_url(*args: str, cwd: Path) -> str:
    """git with only the plain transports allowed, whatever the cached repo's config says."""
    return git(cwd, "-c", "protocol.allow=never", *[a for t in _TRANSPORTS.split(",")
                                                      for a in ("-c", f"protocol.{t}.allow=always")], *args)


def sync_repo(url: str, cache: Path) -> Path:
    """The cached clone of `url`, fetched and with its checkout at the remote's default branch head."""
    url = check_repo_url(url)
    path = cache / hashlib.sha256(url.encode()).hexdigest()[:16]
    if not (path / ".git").is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        _git_url("clone", "--quiet", "--", url, str(path), cwd=cache)
    else:
        _git_url("fetch", "--quiet", "--prune", "origin", cwd=path)
        head = git(path, "rev-parse", "--abbrev-ref", "origin/HEAD", check=False).strip() or "origin/HEAD"
        git(path, "checkout", "--quiet", "--detach", head)
    return path


def fetch_run_branch(repo: Path, run_id: str) -> bool:
    """Bring a run's branch as another worker last pushed it; False when the remote has none yet."""
    branch = BRANCH_PREFIX + run_id
    found = _git_url("ls-remote", "--heads", "origin", branch, cwd=repo).strip()
    if not found:
        return False
    _git_url("fetch", "--quiet", "origin", f"+refs/heads/{branch}:refs/heads/{branch}", cwd=repo)
    return True


def push_run_branch(repo: Path, run_id: str) -> None:
    """Push a run's branch to the origin (a fast-forward: its commits only ever grow)."""
    branch = BRANCH_PREFIX + run_id
    _git_url("push", "--quiet", "origin", f"refs/heads/{branch}:refs/heads/{branch}", cwd=repo)
