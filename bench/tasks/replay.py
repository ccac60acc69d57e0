"""Shared attempts, run once: a `complete` that answers a request it has seen from a store of earlier replies.

RouterBench's trick, kept inside the real orchestrator: every policy runs its own workflow, gates, routing and
run log, and only a model call whose request (model, messages, tools, sampling) was already answered is served
from the store, with the reply's recorded tokens and latency. The models are deterministic for a given request
and seed, so a replayed policy gives the figures its live run gives (tests/test_bench_tasks.py checks it).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.models.types import ModelReply, ToolCall

_SCHEMA = """create table if not exists replies (
    key text primary key, model text, reply text, created real default (unixepoch('subsec')))"""


def request_key(model: str, messages: list[dict[str, Any]], kwargs: dict[str, Any], seed: str) -> str:
    """A digest of everything that decides the reply: model, messages, tool schemas, sampling, process seed."""
    tools = [[t.name, t.parameters] for t in kwargs.get("tools") or []]
    sampling = {k: kwargs.get(k) for k in ("temperature", "max_tokens", "require_tool", "seed")}
    blob = json.dumps([model, messages, tools, sampling, seed], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class AttemptStore:
    """Replies by request key, in SQLite (one file per bench output folder; safe across a kill)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("pragma journal_mode=wal")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def get(self, key: str) -> ModelReply | None:
        """The stored reply for a request, or None."""
        with self._lock:
            row = self._db.execute("select reply from replies where key = ?", (key,)).fetchone()
        return None if row is None else _reply(json.loads(row[0]))

    def put(self, key: str, reply: ModelReply) -> None:
        """Keep a live reply (first writer wins)."""
        data = {"model": reply.model, "text": reply.text, "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens, "cost_usd": reply.cost_usd,
                "latency_s": reply.latency_s, "version": reply.provider_model_version, "sampling": reply.sampling,
                "tool_calls": [{"name": c.name, "arguments": c.arguments, "id": c.id} for c in reply.tool_calls]}
        with self._lock:
            self._db.execute("insert or ignore into replies (key, model, reply) values (?, ?, ?)",
                             (key, reply.model, json.dumps(data)))

    def close(self) -> None:
        """Close the database."""
        self._db.close()


def _reply(data: dict[str, Any]) -> ModelReply:
    """A ModelReply rebuilt from its stored form."""
    calls = [ToolCall(name=c["name"], arguments=c["arguments"], id=c.get("id", "")) for c in data["tool_calls"]]
    return ModelReply(model=data["model"], text=data["text"], tool_calls=calls, prompt_tokens=data["prompt_tokens"],
                      completion_tokens=data["completion_tokens"], cost_usd=data["cost_usd"],
                      latency_s=data["latency_s"], provider_model_version=data["version"],
                      sampling=data["sampling"])


class ReplayingComplete:
    """A `complete` for run_workflow: stored reply when the request was seen, else the live call (then stored).

    `hits` and `replayed_s` (the recorded latency of replayed calls) let the bench add back the wall time a
    live call would have taken."""

    def __init__(self, store: AttemptStore | None, live: Callable[..., ModelReply], seed: str = "0"):
        self.store, self.live, self.seed = store, live, seed
        self.hits = self.misses = 0
        self.replayed_s = 0.0

    def __call__(self, model: str, messages: list[dict[str, Any]], **kwargs: Any) -> ModelReply:
        key = request_key(model, messages, kwargs, self.seed)
        stored = self.store.get(key) if self.store is not None else None
        if stored is not None:
            self.hits += 1
            self.replayed_s += stored.latency_s
            return stored
        self.misses += 1
        reply = self.live(model, messages, **kwargs)
        if self.store is not None:
            self.store.put(key, reply)
        return reply


def live_complete(model: str, messages: list[dict[str, Any]], **kwargs: Any) -> ModelReply:
    """The orchestrator's own resilient call path (retries, breakers, listeners) for one model."""
    from orchestrator.models.resilience import complete_with_failover

    return complete_with_failover([model], messages, **kwargs)
