"""The run log (SQLite in .git/orchestrator, or a shared Postgres): runs, events, routing decisions and every
model call.

Events and calls are only ever added; a run's row (status, options) and its decisions' spend and gate
outcome are updated as the run goes, and removing a run (`runs rm`, `runs prune`) deletes its rows.

Every event and model call is also emitted to orchestrator.store.events, for live views and the plain log.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestrator.models.ids import is_offline
from orchestrator.store.db import LOCK_WAIT_S, connect, is_postgres_url
from orchestrator.store.events import RunEvent, emit
from orchestrator.store.guard import opened_store
from orchestrator.store.schema import migrate

LATENCY_CALLS = 2000
"""How many of the latest calls the typical-latency averages are replayed from (older ones weigh ~nothing)."""

Write = tuple[str, tuple[Any, ...], int]
"""A held write: SQL, its arguments, and the token of the decision it inserts or updates (0: none)."""


def checkpoints_connection(path: Path) -> sqlite3.Connection:
    """A connection to the LangGraph checkpoint database that every run of a repository shares."""
    with opened_store(path, "checkpoint store"):
        conn = sqlite3.connect(str(path), timeout=LOCK_WAIT_S, check_same_thread=False)
        conn.execute("PRAGMA schema_version")  # a corrupt file fails here, with its name, not mid-run
    return conn


class RunLog:
    """Writes and reads the run log of one repository (SQLite file) or of many (a Postgres URL)."""

    def __init__(self, path: Path | str):
        self.path = path
        # A SQLite file that is corrupt (or on a full disk) fails here with its name and the way out.
        postgres = is_postgres_url(str(path))
        with contextlib.nullcontext() if postgres else opened_store(Path(str(path).removeprefix("sqlite:"))):
            self.db = connect(path)
            self.version = migrate(self.db)
        self._lock = threading.RLock()  # parallel PBI builders log from several threads
        self._held: list[Write] = []  # writes waiting for the end of the step (see `batch`)
        self._batching = 0
        self._ids: dict[int, int] = {}  # token of a decision -> its row id once written
        self._tokens = itertools.count(-1, -1)  # negative: never a row id

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold every write until the block (one step) ends, then commit them in one transaction.

        Reads commit what is held first, so they see it. A call to a network model commits at once:
        its spend must survive a kill. Nothing is held across the block, so no lock outlives a step.
        """
        with self._lock:
            self._batching += 1
        try:
            yield
        finally:
            with self._lock:
                self._batching -= 1
                self._flush()

    def _write(self, sql: str, args: tuple[Any, ...], token: int = 0) -> None:
        """Run a write now (outside a batch) or hold it for the batch's one commit."""
        with self._lock:
            self._held.append((sql, args, token))
            if not self._batching:
                self._flush()

    def _flush(self) -> None:
        """Commit the held writes in one transaction; a decision's token gets its row id."""
        with self._lock:
            held, self._held = self._held, []
            if not held:
                return
            with self.db:
                for sql, args, token in held:
                    if token and sql.startswith("UPDATE"):
                        args = (*args[:-1], self._ids[token])
                    cursor = self.db.execute(sql, args)
                    if token and sql.startswith("INSERT"):
                        self._ids[token] = int(cursor.lastrowid)

    def _read(self, sql: str, args: Any = ()) -> list[Any]:
        """Rows of a query, after committing what is held."""
        with self._lock:
            self._flush()
            return list(self.db.execute(sql, args))

    def close(self) -> None:
        """Commit what is held and close the database."""
        self._flush()
        self.db.close()

    def start_run(self, run_id: str, **fields: Any) -> None:
        """Record a new run as running."""
        fields = {**fields, "options": json.dumps(fields.get("options", {}))}
        cols = ["id", "status", "started", *fields]
        values = (run_id, "running", time.time(), *fields.values())
        self._write(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", values)

    def finish_run(self, run_id: str, status: str, exit_code: int, message: str = "") -> None:
        """Record how a run ended (or paused)."""
        self._write("UPDATE runs SET status = ?, exit_code = ?, message = ?, finished = ? WHERE id = ?",
                    (status, exit_code, message, time.time(), run_id))

    def update_options(self, run_id: str, options: dict[str, Any]) -> None:
        """Store a run's options again (resume may rebind roles or raise caps)."""
        self._write("UPDATE runs SET options = ? WHERE id = ?", (json.dumps(options), run_id))

    def set_status(self, run_id: str, status: str) -> None:
        """Mark a run's status without ending it (e.g. running again after resume)."""
        self._write("UPDATE runs SET status = ? WHERE id = ?", (status, run_id))

    def elapsed(self, run_id: str) -> float:
        """Wall time of the run's earlier sessions, for the wall-time budget."""
        return sum(e["data"].get("seconds", 0.0) for e in self.events(run_id, "session"))

    def event(self, run_id: str, kind: str, step: str = "", persona: str = "", **data: Any) -> None:
        """Append one event (phase start/end, gate verdict, tool call, fallback ...)."""
        self._append_event(run_id, kind, step, persona, data)
        emit(RunEvent(run_id, kind, step, persona, data))

    def _append_event(self, run_id: str, kind: str, step: str, persona: str, data: dict[str, Any]) -> None:
        self._write("INSERT INTO events (run_id, ts, kind, step, persona, data) VALUES (?, ?, ?, ?, ?, ?)",
                    (run_id, time.time(), kind, step, persona, json.dumps(data, default=str)))

    def call(self, run_id: str, step: str, persona: str, reply: Any) -> None:
        """Append one model call with its tokens, cost and reproducibility data (a network call commits at once)."""
        with self._lock:
            self._write(
                "INSERT INTO calls (run_id, ts, step, persona, model, prompt_tokens, completion_tokens, cost_usd,"
                " latency_s, provider_model_version, sampling) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, time.time(), step, persona, reply.model, reply.prompt_tokens, reply.completion_tokens,
                 reply.cost_usd, reply.latency_s, reply.provider_model_version, json.dumps(reply.sampling)),
            )
            if not is_offline(reply.model):
                self._flush()
        emit(RunEvent(run_id, "model_call", step, persona, {
            "model": reply.model, "prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
            "cost_usd": reply.cost_usd, "latency_s": reply.latency_s}))

    def decision(self, run_id: str, step: str, persona: str, decision: Any) -> int:
        """Record one routing decision; returns a handle for `decision_spend` (the row is written with the step)."""
        d = decision.as_log()
        with self._lock:
            token = next(self._tokens)
            self._write(
                "INSERT INTO decisions (run_id, ts, step, persona, strategy, candidates, chosen, reason, latency_us,"
                " features, prompt_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, time.time(), step, persona, d["strategy"], json.dumps(d["candidates"]), d["chosen"],
                 d["reason"], d["latency_us"], json.dumps(d["features"], default=str), d["prompt_hash"]),
                token,
            )
            return token

    def decision_spend(self, decision_id: int, tokens: int, cost_usd: float) -> None:
        """Add a call's tokens and cost to the decision that chose its model."""
        self._write("UPDATE decisions SET tokens = tokens + ?, cost_usd = cost_usd + ? WHERE id = ?",
                    (tokens, cost_usd, decision_id), decision_id if decision_id < 0 else 0)

    def decision_winner(self, decision_id: int, model: str, why: str) -> None:
        """Name the model whose answer won a best-of-n or speculative decision (its gate outcome follows)."""
        self._write("UPDATE decisions SET chosen = ?, reason = reason || ? WHERE id = ?",
                    (model, f"; {why}", decision_id), decision_id if decision_id < 0 else 0)

    def settle_decisions(self, run_id: str, gate: str, outcome: str) -> list[dict[str, Any]]:
        """Attach a gate outcome to the run's decisions still waiting for one; returns them."""
        with self._lock:
            rows = [dict(r) for r in self._read(
                "SELECT * FROM decisions WHERE run_id = ? AND gate_outcome IS NULL ORDER BY id", (run_id,))]
            self._write("UPDATE decisions SET gate = ?, gate_outcome = ? WHERE run_id = ? AND gate_outcome IS NULL",
                        (gate, outcome, run_id))
        return rows

    def phase_rows(self, run_id: str, task: str, rows: list[dict[str, Any]], handoffs: dict[str, Any]) -> None:
        """Record what one step did (its phase rows, its handoffs) under the LangGraph task that ran it."""
        # Bookkeeping, not news: phase_end already told the listeners, so this one is not emitted.
        self._append_event(run_id, "phase", "", "", {"task": task, "rows": rows, "handoffs": handoffs})

    def phases(self, run_id: str) -> list[dict[str, Any]]:
        """The run's phase rows in order; a task that ran again (after a crash) counts with its last rows only."""
        by_task: dict[str, list[dict[str, Any]]] = {}
        for event in self.events(run_id, "phase"):
            task = event["data"].get("task") or f"event-{event['id']}"
            by_task.pop(task, None)
            by_task[task] = event["data"].get("rows", [])
        return [row for rows in by_task.values() for row in rows]

    def decisions(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Routing decisions of one run (or of every run), oldest first, JSON fields decoded."""
        sql, args = ("SELECT * FROM decisions WHERE run_id = ? ORDER BY id", (run_id,)) if run_id else (
            "SELECT * FROM decisions ORDER BY id", ())
        rows = [dict(r) for r in self._read(sql, args)]
        for row in rows:
            row["candidates"] = json.loads(row["candidates"] or "[]")
            row["features"] = json.loads(row["features"] or "{}")
        return rows

    def bandit_outcomes(self) -> list[dict[str, Any]]:
        """Every settled bandit decision of every run in the store, oldest first, as bandit `learn` rows."""
        rows = self._read("SELECT chosen, features, gate_outcome, cost_usd FROM decisions WHERE strategy = 'bandit'"
                          " AND gate_outcome IS NOT NULL ORDER BY id")
        return [{"model": r["chosen"], "task_type": json.loads(r["features"] or "{}").get("task_type", ""),
                 "passed": r["gate_outcome"] == "pass", "cost_usd": r["cost_usd"] or 0.0} for r in rows]

    def recent_latencies(self, limit: int = LATENCY_CALLS) -> list[tuple[str, float]]:
        """(model, seconds) of the store's last `limit` calls, oldest first."""
        rows = self._read("SELECT model, latency_s FROM calls WHERE latency_s IS NOT NULL ORDER BY id DESC LIMIT ?",
                          (limit,))
        return [(r["model"], float(r["latency_s"])) for r in reversed(rows)]

    def all_calls(self) -> list[dict[str, Any]]:
        """Every model call of every run, oldest first (preference data for calibration)."""
        return [dict(r) for r in self._read("SELECT * FROM calls ORDER BY id")]

    def gate_events(self) -> list[dict[str, Any]]:
        """Every gate verdict of every run, oldest first."""
        rows = [dict(r) for r in self._read("SELECT * FROM events WHERE kind = 'gate' ORDER BY id")]
        for row in rows:
            row["data"] = json.loads(row["data"] or "{}")
        return rows

    def runs(self) -> list[dict[str, Any]]:
        """All runs, newest first."""
        return [dict(r) for r in self._read("SELECT * FROM runs ORDER BY started DESC")]

    def run(self, run_id: str) -> dict[str, Any] | None:
        """One run's row, or None."""
        rows = self._read("SELECT * FROM runs WHERE id = ?", (run_id,))
        return dict(rows[0]) if rows else None

    def events(self, run_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        """A run's events in order, optionally of one kind, with their data decoded."""
        sql, args = "SELECT * FROM events WHERE run_id = ?", [run_id]
        if kind:
            sql, args = sql + " AND kind = ?", [*args, kind]
        rows = [dict(r) for r in self._read(sql + " ORDER BY id", args)]
        for row in rows:
            row["data"] = json.loads(row["data"] or "{}")
        return rows

    def calls(self, run_id: str) -> list[dict[str, Any]]:
        """A run's model calls in order."""
        return [dict(r) for r in self._read("SELECT * FROM calls WHERE run_id = ? ORDER BY id", (run_id,))]

    def delete_run(self, run_id: str) -> None:
        """Forget a run: its record, events, model calls and routing decisions."""
        with self._lock:
            for table in ("events", "calls", "decisions"):
                self._write(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))  # noqa: S608 - fixed names
            self._write("DELETE FROM runs WHERE id = ?", (run_id,))
