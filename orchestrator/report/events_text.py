"""Run events as text: one readable line per event (live view, pipes) and the plain-text log of a run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator.store.events import RunEvent, listening, short


def _who(event: RunEvent) -> str:
    return f"{event.step} ({event.persona})" if event.persona and event.persona != "-" else event.step


def _phase_start(e: RunEvent) -> str:
    d = e.data
    packet = f"packet {d.get('packet_tokens', 0)} tokens"
    for key in ("trimmed", "dropped"):
        if d.get(f"packet_{key}"):
            packet += f", {key} {', '.join(d[f'packet_{key}'])}"
    return f"phase {_who(e)} on {d.get('model')}: started ({packet})"


def _phase_end(e: RunEvent) -> str:
    d = e.data
    reason = f": {short(d['reason'], 160)}" if d.get("reason") else ""
    return (f"phase {_who(e)}: {d.get('verdict') or 'done'}{reason} ({d.get('tokens', 0)} tokens, "
            f"${d.get('cost_usd', 0.0):.4f}, {d.get('seconds', 0.0):.1f}s, {d.get('tool_calls', 0)} tool calls)")


def _tool_call(e: RunEvent) -> str:
    d = e.data
    # The status before the arguments: a line cut to the screen's width keeps it.
    return f"tool {_who(e)}: {d.get('tool')} -> {d.get('status')} {d.get('arguments', '')}"


def _model_call(e: RunEvent) -> str:
    d = e.data
    return (f"model {_who(e)}: {d.get('model')} {d.get('prompt_tokens', 0)}+{d.get('completion_tokens', 0)} "
            f"tokens, ${d.get('cost_usd', 0.0):.4f}, {d.get('latency_s', 0.0):.1f}s")


def _gate(e: RunEvent) -> str:
    d = e.data
    round_ = f" (round {d['round']})" if d.get("round") else ""
    return f"gate {e.step} [{d.get('gate_kind')}]: {d.get('verdict')}{round_}: {short(d.get('reason', ''), 200)}"


def _dispatch(e: RunEvent) -> str:
    d = e.data
    why = f"fallback, {d['fallback']}" if d.get("fallback") else d.get("reason", "")
    return f"dispatch {_who(e)}: -> {d.get('chosen')} ({short(why, 160)})"


def _acceptance(e: RunEvent) -> str:
    d = e.data
    comment = f": {short(d['comment'], 160)}" if d.get("comment") else ""
    return f"acceptance {e.step}: {d.get('decision')} by {d.get('by') or e.persona}{comment}"


def _reason(label: str) -> Callable[[RunEvent], str]:
    return lambda e: f"{label} {_who(e)}: {short(e.data.get('reason', ''), 200)}"


def generic(e: RunEvent) -> str:
    """Any other kind: its name, who, and its fields as key=value."""
    fields = " ".join(f"{k}={short(v, 60)}" for k, v in e.data.items() if v not in (None, "", [], {}))
    who = f" {_who(e)}" if e.step else ""
    return f"{e.kind.replace('_', ' ')}{who}: {fields}" if fields else f"{e.kind.replace('_', ' ')}{who}"


DESCRIBERS: dict[str, Callable[[RunEvent], str]] = {
    "phase_start": _phase_start,
    "phase_end": _phase_end,
    "tool_call": _tool_call,
    "model_call": _model_call,
    "gate": _gate,
    "dispatch": _dispatch,
    "acceptance": _acceptance,
    "verdict_invalid": _reason("invalid verdict"),
    "moderator_fallback": _reason("moderator fallback"),
    "monitor_halt": _reason("monitor halt"),
    "gate_start": lambda e: f"gate {e.step} [{e.data.get('gate_kind')}]: started",
    "warning": lambda e: f"notice: {e.data.get('message', '')}",
    "flag": lambda e: f"flag {e.step}: {e.data.get('flag', '')}",
    "run_end": lambda e: (f"run {e.data.get('status')} (exit {e.data.get('exit_code')}): "
                          f"{short(e.data.get('message', ''), 300)}"),
}
"""Kinds with their own wording; the rest use `generic`."""


def describe(event: RunEvent) -> str:
    """One readable line for an event."""
    return DESCRIBERS.get(event.kind, generic)(event)


def log_path(state_dir: Path, run_id: str) -> Path:
    """Where a run's plain-text event log lives: its own folder, `.git/orchestrator/runs/<run-id>/events.log`
    (beside its reports; `runs rm` removes the folder)."""
    return state_dir / "runs" / run_id / "events.log"


class PlainLog:
    """Appends one line per event of one run to its text log (every session of the run, in order)."""

    def __init__(self, path: Path, run_id: str):
        self.run_id = run_id
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def __call__(self, event: RunEvent) -> None:
        if event.run_id != self.run_id:
            return  # another run in the same process (an embedding program)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.ts))
        with self._lock:
            self._file.write(f"{stamp} {describe(event)}\n")
            self._file.flush()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()


@contextmanager
def plain_log(state_dir: Path, run_id: str) -> Iterator[Path]:
    """Keep a run's events in its text log while the block runs; yields the log's path."""
    path = log_path(state_dir, run_id)
    log = PlainLog(path, run_id)
    try:
        with listening(log, run_id=run_id):
            yield path
    finally:
        log.close()
