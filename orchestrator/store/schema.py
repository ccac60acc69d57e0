"""The run log's schema as an ordered list of migrations: a store's version is how many it has applied.

Like LangGraph's savers and llm, a `migrations` table records each applied step; a migration is never
edited once released, only new ones appended. Version 1 is the schema every store had before versioning
(`CREATE ... IF NOT EXISTS`, so a store created then adopts it without change); later versions add to it.
Each statement is written once for both SQLite and Postgres; `{id}` and `{real}` stand for the types that differ.
"""

from __future__ import annotations

import time
from typing import Any, Literal

Dialect = Literal["sqlite", "postgres"]

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL"},
    # REAL is 4 bytes in Postgres: a Unix time would lose its seconds.
    "postgres": {"id": "BIGSERIAL PRIMARY KEY", "real": "DOUBLE PRECISION"},
}

MIGRATIONS: list[list[str]] = [
    # 1: the schema of every store created before versioning.
    [
        "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, workflow TEXT, workflow_path TEXT, task TEXT,"
        " repo TEXT, branch TEXT, base_commit TEXT, status TEXT, exit_code INTEGER, message TEXT, options TEXT,"
        " started {real}, finished {real})",
        "CREATE TABLE IF NOT EXISTS events (id {id}, run_id TEXT, ts {real}, kind TEXT, step TEXT, persona TEXT,"
        " data TEXT)",
        "CREATE TABLE IF NOT EXISTS calls (id {id}, run_id TEXT, ts {real}, step TEXT, persona TEXT, model TEXT,"
        " prompt_tokens INTEGER, completion_tokens INTEGER, cost_usd {real}, latency_s {real},"
        " provider_model_version TEXT, sampling TEXT)",
        "CREATE TABLE IF NOT EXISTS decisions (id {id}, run_id TEXT, ts {real}, step TEXT, persona TEXT,"
        " strategy TEXT, candidates TEXT, chosen TEXT, reason TEXT, latency_us {real}, features TEXT,"
        " prompt_hash TEXT, tokens INTEGER DEFAULT 0, cost_usd {real} DEFAULT 0, gate TEXT, gate_outcome TEXT)",
    ],
    # 2: indexes on what every read filters by (a run's rows; learned routing reads by strategy and model).
    [
        "CREATE INDEX IF NOT EXISTS events_run ON events (run_id, kind)",
        "CREATE INDEX IF NOT EXISTS calls_run ON calls (run_id)",
        "CREATE INDEX IF NOT EXISTS calls_model ON calls (model)",
        "CREATE INDEX IF NOT EXISTS decisions_run ON decisions (run_id, gate_outcome)",
        "CREATE INDEX IF NOT EXISTS decisions_strategy ON decisions (strategy)",
        "CREATE INDEX IF NOT EXISTS runs_repo ON runs (repo, started)",
    ],
    # 3: spend caps that hold across workers: one row per scope ("run:<id>", "team:x"), reserved atomically.
    [
        "CREATE TABLE IF NOT EXISTS budgets (scope TEXT PRIMARY KEY, cap_usd {real} NOT NULL,"
        " reserved_usd {real} NOT NULL DEFAULT 0, spent_usd {real} NOT NULL DEFAULT 0, updated {real})",
    ],
]

_TABLE = "CREATE TABLE IF NOT EXISTS migrations (v INTEGER PRIMARY KEY, applied {real})"


def statements(version: int, dialect: Dialect) -> list[str]:
    """The SQL of one migration (1-based) for a dialect."""
    return [sql.format(**_TYPES[dialect]) for sql in MIGRATIONS[version - 1]]


def current_version(db: Any) -> int:
    """The highest migration a store has applied (0 for a store from before versioning, or a new one)."""
    row = db.execute("SELECT MAX(v) AS v FROM migrations").fetchone()
    return int(row["v"] or 0)


def migrate(db: Any) -> int:
    """Apply every migration the store lacks, each in its own transaction; returns the version reached.

    Two processes opening one new store at once: on Postgres an advisory lock lets one migrate while the
    other waits, then finds the work done; on SQLite the write lock does the same.
    """
    with db:
        db.lock_schema()
        db.execute(_TABLE.format(**_TYPES[db.dialect]))
    for number in range(current_version(db) + 1, len(MIGRATIONS) + 1):
        with db:
            db.lock_schema()
            if current_version(db) >= number:
                continue  # another process applied it while this one waited
            for sql in statements(number, db.dialect):
                db.execute(sql)
            db.execute("INSERT INTO migrations (v, applied) VALUES (?, ?)", (number, time.time()))
    return current_version(db)
