"""Run events as they happen: the run log emits each one here, and listeners show or keep them.

One process-wide hook, like the failover listeners of the model layer: the CLI subscribes its live view
or its JSON lines, the runner a plain-text log in the run's state folder. Listeners run on the thread that
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
_listeners: list[Listener] = []
_lock = threading.Lock()


def emit(event: RunEvent) -> None:
    """Hand an event to every listener; a listener that raises is dropped, so a display never stops a run."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(event)
        except Exception:  # noqa: BLE001 - e.g. a closed pipe under `--json | head`: the run goes on
            unsubscribe(listener)


def subscribe(listener: Listener) -> None:
    """Start handing events to `listener`."""
    with _lock:
        _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    """Stop handing events to `listener` (no error when it is not subscribed)."""
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


@contextmanager
def listening(*listeners: Listener) -> Iterator[None]:
    """Subscribe listeners for the duration of a `with` block."""
    for listener in listeners:
        subscribe(listener)
    try:
        yield
    finally:
        for listener in listeners:
            unsubscribe(listener)


def json_line(event: RunEvent) -> str:
    """One event as one line of JSON."""
    return json.dumps(event.as_json(), default=str, ensure_ascii=False)
