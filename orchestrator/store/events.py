"""Run events as they happen: the run log emits each one here, and listeners show or keep them.

Listeners are keyed by run: one subscribed for a run id hears that run only (the runner's plain-text log,
an embedding program's `on_event`); one subscribed without a run id hears every run of the process (the
CLI's live view or JSON lines, which show the one run they started). Listeners run on the thread that
logged the event (parallel builders log from several), so they must be quick and thread-safe.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunEvent:
    """One thing that happened in a run: a phase started, a tool was called, a gate decided ..."""

    run_id: str
    kind: str
    step: str = ""
    persona: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        """The event as one JSON-ready mapping (`--json` writes one per line)."""
        return {"ts": round(self.ts, 3), "run_id": self.run_id, "kind": self.kind, "step": self.step,
                "persona": self.persona, **{k: v for k, v in self.data.items() if k not in _HEAD}}


_HEAD = ("ts", "run_id", "kind", "step", "persona")

Listener = Callable[[RunEvent], None]
_listeners: dict[str | None, list[Listener]] = {}  # run id (None: every run) -> its listeners
_lock = threading.Lock()


def emit(event: RunEvent) -> None:
    """Hand an event to its run's listeners and the process-wide ones; one that raises is dropped."""
    with _lock:
        listeners = [*_listeners.get(event.run_id, ()), *_listeners.get(None, ())]
    for listener in listeners:
        try:
            listener(event)
        except Exception:  # noqa: BLE001 - e.g. a closed pipe under `--json | head`: the run goes on
            unsubscribe(listener, event.run_id)
            unsubscribe(listener)


def subscribe(listener: Listener, run_id: str | None = None) -> None:
    """Start handing `listener` the events of one run (or of every run, with no run id)."""
    with _lock:
        _listeners.setdefault(run_id, []).append(listener)


def unsubscribe(listener: Listener, run_id: str | None = None) -> None:
    """Stop handing events to `listener` (no error when it is not subscribed)."""
    with _lock:
        items = _listeners.get(run_id, [])
        if listener in items:
            items.remove(listener)
        if not items:
            _listeners.pop(run_id, None)


@contextmanager
def listening(*listeners: Listener, run_id: str | None = None) -> Iterator[None]:
    """Subscribe listeners (to one run, or to every run) for the duration of a `with` block."""
    for listener in listeners:
        subscribe(listener, run_id)
    try:
        yield
    finally:
        for listener in listeners:
            unsubscribe(listener, run_id)


def json_line(event: RunEvent) -> str:
    """One event as one line of JSON."""
    return json.dumps(event.as_json(), default=str, ensure_ascii=False)


def short(value: Any, limit: int = 80) -> str:
    """A value on one line, cut to `limit` characters (event data the run logs, and lines that show events)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
