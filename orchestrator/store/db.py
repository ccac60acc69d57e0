"""One small connection interface over SQLite and Postgres, so the run log's SQL is written once.

Statements use `?` placeholders and rows read as mappings on both. `with db:` is one transaction.
An INSERT's new row id comes back as `cursor.lastrowid` on both (Postgres through `RETURNING id`).
psycopg is imported only when a Postgres store is opened.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestrator.store.schema import Dialect

LOCK_WAIT_S = 30
"""How long a connection waits for another process's lock: twenty runs sharing one store on two cores
queue past SQLite's default 5 s (the concurrency test saw "database is locked" in the checkpointer's setup)."""

_SCHEMA_LOCK = 40_252_501
"""Postgres advisory lock key held while migrating the run log, so two processes never migrate one store at once."""

CHECKPOINTS_LOCK = 40_252_503
"""Another key, held while LangGraph's saver migrates its tables (they wait on each other otherwise: see
`schema_lock`)."""


def is_postgres_url(url: str) -> bool:
    """Whether a store URL names a Postgres database."""
    return url.startswith(("postgresql://", "postgres://"))


class SqliteDB:
    """The run log's SQLite connection: WAL, a 30 s lock wait, rows as mappings."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(str(path), timeout=LOCK_WAIT_S, check_same_thread=False)
        # WAL: the run log commits several times per step, ~4 ms each instead of ~20 ms (NOTES.md).
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.row_factory = sqlite3.Row

    def execute(self, sql: str, args: Any = ()) -> Any:
        """Run one statement."""
        return self.conn.execute(sql, args)

    def lock_schema(self) -> None:
        """Take the write lock for the rest of this transaction."""
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")

    def __enter__(self) -> SqliteDB:
        self.conn.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.conn.__exit__(*exc)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


class _Inserted:
    """What an INSERT ... RETURNING id gives back, shaped like a sqlite3 cursor."""

    def __init__(self, cursor: Any):
        row = cursor.fetchone()
        self.lastrowid = row["id"] if row else None


class PostgresDB:
    """A psycopg connection speaking the run log's `?` SQL; one transaction per `with` block."""

    dialect: Dialect = "postgres"

    def __init__(self, url: str):
        import psycopg
        from psycopg.rows import dict_row

        self.conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)
        self._tx: list[Any] = []

    def execute(self, sql: str, args: Any = ()) -> Any:
        """Run one statement (in the open transaction, if any)."""
        sql = _PLACEHOLDER.sub("%s", sql)
        if sql.startswith("INSERT") and " RETURNING " not in sql and _has_id(sql):
            return _Inserted(self.conn.execute(sql + " RETURNING id", tuple(args)))
        return self.conn.execute(sql, tuple(args))

    def lock_schema(self) -> None:
        """Hold the store's migration lock until this transaction ends."""
        self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))

    def __enter__(self) -> PostgresDB:
        tx = self.conn.transaction()
        tx.__enter__()
        self._tx.append(tx)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._tx.pop().__exit__(*exc)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


_PLACEHOLDER = re.compile(r"\?")
_WITH_ID = ("INSERT INTO events", "INSERT INTO calls", "INSERT INTO decisions")


def _has_id(sql: str) -> bool:
    """Tables whose rows get a generated id (the others have their own key)."""
    return sql.startswith(_WITH_ID)


@contextmanager
def schema_lock(url: str, key: int = CHECKPOINTS_LOCK) -> Iterator[None]:
    """Hold an advisory lock on a connection of its own for the block, for a library's own migrations.

    The wait polls, never sits in a statement: LangGraph's saver builds an index CONCURRENTLY, which waits for
    every open transaction, so a blocked `pg_advisory_lock` in another worker would deadlock with it."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn, advisory_lock(conn, key):
        yield


@contextmanager
def advisory_lock(conn: Any, key: int) -> Iterator[None]:
    """Hold a session advisory lock on an autocommit psycopg connection, waiting by polling (see schema_lock)."""
    while not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
        time.sleep(0.2)
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def connect(store: Path | str) -> SqliteDB | PostgresDB:
    """The run log's connection: a Postgres URL, else a SQLite file path."""
    text = str(store)
    return PostgresDB(text) if is_postgres_url(text) else SqliteDB(Path(text.removeprefix("sqlite:")))
