"""Versioned migrations of the run log: a store from before versioning (main's schema) opens and upgrades."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from orchestrator.store.log import RunLog
from orchestrator.store.schema import MIGRATIONS

# The run log's schema as every store had it before versioning: no migrations table, no index.
UNVERSIONED = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, workflow TEXT, workflow_path TEXT, task TEXT, repo TEXT, branch TEXT,
    base_commit TEXT, status TEXT, exit_code INTEGER, message TEXT, options TEXT,
    started REAL, finished REAL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, ts REAL, kind TEXT, step TEXT, persona TEXT, data TEXT
);
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, ts REAL, step TEXT, persona TEXT, model TEXT,
    prompt_tokens INTEGER, completion_tokens INTEGER, cost_usd REAL, latency_s REAL,
    provider_model_version TEXT, sampling TEXT
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, ts REAL, step TEXT, persona TEXT, strategy TEXT,
    candidates TEXT, chosen TEXT, reason TEXT, latency_us REAL, features TEXT, prompt_hash TEXT,
    tokens INTEGER DEFAULT 0, cost_usd REAL DEFAULT 0, gate TEXT, gate_outcome TEXT
);
"""


def _old_store(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(UNVERSIONED)
    db.execute("INSERT INTO runs (id, task, repo, status, options, started) VALUES "
               "('r1', 'old task', '/app', 'done', '{}', 1.0)")
    db.execute("INSERT INTO events (run_id, ts, kind, step, persona, data) VALUES "
               "('r1', 1.0, 'gate', 'review', '', '{\"verdict\": \"pass\"}')")
    db.commit()
    db.close()


def _indexes(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                             "AND name NOT LIKE 'sqlite_%'")}
    finally:
        db.close()


def test_a_store_from_before_versioning_opens_and_upgrades(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    _old_store(path)
    log = RunLog(path)
    try:
        assert log.version == len(MIGRATIONS)
        assert log.run("r1")["task"] == "old task"  # the old rows are kept as they were
        assert [e["data"] for e in log.events("r1", "gate")] == [{"verdict": "pass"}]
        log.event("r1", "note", message="written after the upgrade")
        assert [e["kind"] for e in log.events("r1")] == ["gate", "note"]
    finally:
        log.close()
    assert {"events_run", "calls_run", "decisions_run", "runs_repo"} <= _indexes(path)
    db = sqlite3.connect(path)
    applied = [row[0] for row in db.execute("SELECT v FROM migrations ORDER BY v")]
    db.close()
    assert applied == list(range(1, len(MIGRATIONS) + 1))


def test_opening_an_upgraded_store_again_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    RunLog(path).close()
    log = RunLog(path)
    try:
        assert log.version == len(MIGRATIONS)
        assert log.db.execute("SELECT COUNT(*) AS n FROM migrations").fetchone()["n"] == len(MIGRATIONS)
    finally:
        log.close()


def test_reads_by_run_use_the_index(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    RunLog(path).close()
    db = sqlite3.connect(path)
    plan = " ".join(str(row) for row in db.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM events WHERE run_id = 'x' AND kind = 'gate' ORDER BY id"))
    db.close()
    assert "events_run" in plan, plan
