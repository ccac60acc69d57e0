"""Append-only run log (SQLite in .git/orchestrator): runs, events and every model call.

Every event and model call is also emitted to orchestrator.run.events, for live views and the plain log.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from orchestrator.run.events import RunEvent, emit

_SCHEMA = """
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


class RunLog:
    """Writes and reads the run log of one repository."""

    def __init__(self, path: Path):
        self.path = path
        self.db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        # WAL: an append-only log commits several times per step, ~4 ms each instead of ~20 ms (NOTES.md).
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.row_factory = sqlite3.Row
        self.db.executescript(_SCHEMA)
        self._lock = threading.Lock()  # parallel PBI builders log from several threads

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def start_run(self, run_id: str, **fields: Any) -> None:
        """Record a new run as running."""
        fields = {**fields, "options": json.dumps(fields.get("options", {}))}
        cols = ["id", "status", "started", *fields]
        values = [run_id, "running", time.time(), *fields.values()]
        self.db.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)
        self.db.commit()

    def finish_run(self, run_id: str, status: str, exit_code: int, message: str = "") -> None:
        """Record how a run ended (or paused)."""
        self.db.execute(
            "UPDATE runs SET status = ?, exit_code = ?, message = ?, finished = ? WHERE id = ?",
            (status, exit_code, message, time.time(), run_id),
        )
        self.db.commit()

    def update_options(self, run_id: str, options: dict[str, Any]) -> None:
        """Store a run's options again (resume may rebind roles or raise caps)."""
        self.db.execute("UPDATE runs SET options = ? WHERE id = ?", (json.dumps(options), run_id))
        self.db.commit()

    def set_status(self, run_id: str, status: str) -> None:
        """Mark a run's status without ending it (e.g. running again after resume)."""
        self.db.execute("UPDATE runs SET status = ? WHERE id = ?", (status, run_id))
        self.db.commit()

    def elapsed(self, run_id: str) -> float:
        """Wall time of the run's earlier sessions, for the wall-time budget."""
        return sum(e["data"].get("seconds", 0.0) for e in self.events(run_id, "session"))

    def event(self, run_id: str, kind: str, step: str = "", persona: str = "", **data: Any) -> None:
        """Append one event (phase start/end, gate verdict, tool call, fallback ...)."""
        with self._lock:
            self.db.execute(
                "INSERT INTO events (run_id, ts, kind, step, persona, data) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, time.time(), kind, step, persona, json.dumps(data, default=str)),
            )
            self.db.commit()
        emit(RunEvent(run_id, kind, step, persona, data))

    def call(self, run_id: str, step: str, persona: str, reply: Any) -> None:
        """Append one model call with its tokens, cost and reproducibility data."""
        with self._lock:
            self._insert_call(run_id, step, persona, reply)
        emit(RunEvent(run_id, "model_call", step, persona, {
            "model": reply.model, "prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
            "cost_usd": reply.cost_usd, "latency_s": reply.latency_s}))

    def _insert_call(self, run_id: str, step: str, persona: str, reply: Any) -> None:
        self.db.execute(
            "INSERT INTO calls (run_id, ts, step, persona, model, prompt_tokens, completion_tokens, cost_usd,"
            " latency_s, provider_model_version, sampling) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, time.time(), step, persona, reply.model, reply.prompt_tokens, reply.completion_tokens,
             reply.cost_usd, reply.latency_s, reply.provider_model_version, json.dumps(reply.sampling)),
        )
        self.db.commit()

    def decision(self, run_id: str, step: str, persona: str, decision: Any) -> int:
        """Record one routing decision; returns its id so tokens, cost and the gate outcome can follow."""
        d = decision.as_log()
        with self._lock:
            cur = self.db.execute(
                "INSERT INTO decisions (run_id, ts, step, persona, strategy, candidates, chosen, reason, latency_us,"
                " features, prompt_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, time.time(), step, persona, d["strategy"], json.dumps(d["candidates"]), d["chosen"],
                 d["reason"], d["latency_us"], json.dumps(d["features"], default=str), d["prompt_hash"]),
            )
            self.db.commit()
            return int(cur.lastrowid)

    def decision_spend(self, decision_id: int, tokens: int, cost_usd: float) -> None:
        """Add a call's tokens and cost to the decision that chose its model."""
        with self._lock:
            self.db.execute("UPDATE decisions SET tokens = tokens + ?, cost_usd = cost_usd + ? WHERE id = ?",
                            (tokens, cost_usd, decision_id))
            self.db.commit()

    def decision_winner(self, decision_id: int, model: str, why: str) -> None:
        """Name the model whose answer won a best-of-n or speculative decision (its gate outcome follows)."""
        with self._lock:
            self.db.execute("UPDATE decisions SET chosen = ?, reason = reason || ? WHERE id = ?",
                            (model, f"; {why}", decision_id))
            self.db.commit()

    def settle_decisions(self, run_id: str, gate: str, outcome: str) -> list[dict[str, Any]]:
        """Attach a gate outcome to the run's decisions still waiting for one; returns them."""
        with self._lock:
            rows = [dict(r) for r in self.db.execute(
                "SELECT * FROM decisions WHERE run_id = ? AND gate_outcome IS NULL ORDER BY id", (run_id,))]
            self.db.execute("UPDATE decisions SET gate = ?, gate_outcome = ? WHERE run_id = ? AND gate_outcome IS NULL",
                            (gate, outcome, run_id))
            self.db.commit()
        return rows

    def decisions(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Routing decisions of one run (or of every run), oldest first, JSON fields decoded."""
        sql, args = ("SELECT * FROM decisions WHERE run_id = ? ORDER BY id", (run_id,)) if run_id else (
            "SELECT * FROM decisions ORDER BY id", ())
        rows = [dict(r) for r in self.db.execute(sql, args)]
        for row in rows:
            row["candidates"] = json.loads(row["candidates"] or "[]")
            row["features"] = json.loads(row["features"] or "{}")
        return rows

    def all_calls(self) -> list[dict[str, Any]]:
        """Every model call of every run, oldest first (preference data for calibration)."""
        return [dict(r) for r in self.db.execute("SELECT * FROM calls ORDER BY id")]

    def gate_events(self) -> list[dict[str, Any]]:
        """Every gate verdict of every run, oldest first."""
        rows = [dict(r) for r in self.db.execute("SELECT * FROM events WHERE kind = 'gate' ORDER BY id")]
        for row in rows:
            row["data"] = json.loads(row["data"] or "{}")
        return rows

    def runs(self) -> list[dict[str, Any]]:
        """All runs, newest first."""
        return [dict(r) for r in self.db.execute("SELECT * FROM runs ORDER BY started DESC")]

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run's row, or None."""
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return dict(row) if row else None

    def events(self, run_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """A run's events in order, optionally of one kind, with their data decoded."""
        sql, args = "SELECT * FROM events WHERE run_id = ?", [run_id]
        if kind:
            sql, args = sql + " AND kind = ?", [*args, kind]
        rows = [dict(r) for r in self.db.execute(sql + " ORDER BY id", args)]
        for row in rows:
            row["data"] = json.loads(row["data"] or "{}")
        return rows

    def calls(self, run_id: str) -> list[dict[str, Any]]:
        """A run's model calls in order."""
        return [dict(r) for r in self.db.execute("SELECT * FROM calls WHERE run_id = ? ORDER BY id", (run_id,))]

    def delete_run(self, run_id: str) -> None:
        """Forget a run: its record, events, model calls and routing decisions."""
        with self._lock:
            for table in ("events", "calls", "decisions"):
                self.db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))  # noqa: S608 - fixed names
            self.db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            self.db.commit()
