"""Where run state lives: each repo's `.git/orchestrator/` (SQLite, the default) or one shared Postgres.

The setting comes from `--store URL` or the ORCHESTRATOR_STORE environment variable, never from a repo's
own config: a store URL carries a password and decides where every run's data goes.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.agents.sandbox import SAFE_GIT_CONFIG
from orchestrator.errors import ConfigError, WorkspaceError
from orchestrator.store.db import is_postgres_url

STORE_ENV = "ORCHESTRATOR_STORE"
DEFAULT_STORE = "sqlite:"


@dataclass(frozen=True)
class Store:
    """A resolved store setting: `sqlite:` (one store per repo) or a Postgres URL shared by every repo."""

    url: str = DEFAULT_STORE

    @property
    def shared(self) -> bool:
        """True when runs of many repos (and machines) share this store."""
        return is_postgres_url(self.url)

    def runlog_target(self, repo: Path) -> Path | str:
        """What RunLog opens for a repo: the shared URL, or the repo's own SQLite file."""
        return self.url if self.shared else state_dir(repo) / "runs.sqlite"

    def open_runlog(self, repo: Path) -> Any:
        """The run log for runs of this repo."""
        from orchestrator.store.log import RunLog

        return RunLog(self.runlog_target(repo))

    @contextmanager
    def checkpointer(self, repo: Path) -> Iterator[Any]:
        """A LangGraph checkpointer: PostgresSaver on the shared database, else the repo's SQLite file."""
        if self.shared:
            from langgraph.checkpoint.postgres import PostgresSaver

            with PostgresSaver.from_conn_string(self.url) as saver:
                _set_up(self.url, saver)
                yield saver
            return
        from langgraph.checkpoint.sqlite import SqliteSaver

        from orchestrator.store.log import checkpoints_connection

        conn = checkpoints_connection(state_dir(repo) / "checkpoints.sqlite")
        try:
            yield SqliteSaver(conn)
        finally:
            conn.close()

    def describe(self) -> str:
        """The URL with any password hidden, for messages and logs."""
        return redact_url(self.url)


_SET_UP: set[str] = set()
_SET_UP_LOCK = threading.Lock()


def _set_up(url: str, saver: Any) -> None:
    """Run the saver's own versioned migrations once per process, one process at a time: two workers starting
    on a new store at once otherwise both insert the same checkpoint_migrations row."""
    from orchestrator.store.db import schema_lock

    with _SET_UP_LOCK:
        if url in _SET_UP:
            return
        with schema_lock(url):
            saver.setup()
        _SET_UP.add(url)


def resolve_store(setting: str | None = None) -> Store:
    """The store named by `--store`, else ORCHESTRATOR_STORE, else `sqlite:`; a bad value is a clear error."""
    value = (setting or os.environ.get(STORE_ENV) or DEFAULT_STORE).strip()
    if value == DEFAULT_STORE or is_postgres_url(value):
        return Store(value)
    source = "--store" if setting else STORE_ENV
    raise ConfigError(f"{source}: unknown store {redact_url(value)!r}: use `sqlite:` (the default: each repo's "
                      "own .git/orchestrator/) or a Postgres URL such as postgresql://user@host:5432/orchestrator")


def redact_url(url: str) -> str:
    """A URL with the password between ':' and '@' replaced by '***'."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user, colon, _ = credentials.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


def state_dir(repo: Path) -> Path:
    """`.git/orchestrator/` of a repository (the common git dir, shared by all its worktrees)."""
    repo = repo.resolve()
    if not repo.is_dir():
        raise WorkspaceError(f"{repo}: no such directory")
    proc = subprocess.run(["git", *SAFE_GIT_CONFIG, "rev-parse", "--git-common-dir"], cwd=repo,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise WorkspaceError(f"{repo}: not a git repository (run 'git init' and commit once first)")
    common = Path(proc.stdout.strip())
    common = common if common.is_absolute() else (repo / common).resolve()
    path = common / "orchestrator"
    path.mkdir(parents=True, exist_ok=True)
    return path
