"""Live progress of a run: a status line (phase, persona, model, tokens, cost, time) on a terminal, with
each tool call, gate verdict and dispatch printed above it as it happens; plain lines in a pipe; or JSON
lines with `--json`.

Imported only by `run` and `resume`, so `--help` and `validate` never load rich's live display.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import IO, Any

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from orchestrator.report.events_text import describe
from orchestrator.store.events import RunEvent, json_line

SILENT = ("session", "model_call", "run_end", "warning", "gate_start")
"""Kinds with no line of their own: spend shows in the status line, notices and the end in the summary."""

_VERDICT_STYLES = {"pass": "green", "fail": "red", "unknown": "yellow"}


@dataclass
class _Phase:
    """What the status line names: the phase (its step key and label), its persona and model, and its start."""

    key: str
    label: str
    persona: str
    model: str
    since: float


class LiveProgress:
    """An events listener that shows a run as it goes; on a terminal, with a live status line."""

    def __init__(self, console: Console):
        self.console = console
        self.started = time.monotonic()
        self.phase = _Phase(key="", label="starting", persona="", model="", since=self.started)
        self.phase_spend = [0, 0.0]  # tokens, dollars of the current phase
        self.run_spend = [0, 0.0]
        self._lock = threading.Lock()
        self._live: Live | None = None

    def __enter__(self) -> LiveProgress:
        if self.console.is_terminal:
            self._live = Live(self, console=self.console, refresh_per_second=4, transient=True)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hide the status line while the user types (the approval prompt)."""
        live = self._live
        if live is not None:
            live.stop()
        try:
            yield
        finally:
            if live is not None:
                live.start()

    def __call__(self, event: RunEvent) -> None:
        with self._lock:
            self._track(event)
        if event.kind in SILENT:
            return
        # One screen line each: cut with an ellipsis, never wrapped.
        self.console.print(Text(describe(event), style=_style(event)), soft_wrap=False, no_wrap=True,
                           overflow="ellipsis")

    def _track(self, event: RunEvent) -> None:
        """Keep the status line's figures: the phase that started last, and what calls spent."""
        if event.kind == "phase_start":
            self._start(event.step, event.step, event.persona, event.data.get("model"))
        elif event.kind == "gate_start":
            self._start(event.step, f"gate {event.step} ({event.data.get('gate_kind')})", "", "")
        elif event.kind == "phase_end":
            self.phase.label = f"{event.step} done"
        elif event.kind == "model_call":
            if event.step != self.phase.key or self.phase.persona != event.persona:
                # A dispatcher or moderator call has no phase_start of its own.
                self._start(event.step, event.step, event.persona, event.data.get("model"))
            tokens = int(event.data.get("prompt_tokens") or 0) + int(event.data.get("completion_tokens") or 0)
            cost = float(event.data.get("cost_usd") or 0.0)
            for spend in (self.phase_spend, self.run_spend):
                spend[0] += tokens
                spend[1] += cost

    def _start(self, key: str, label: str, persona: str, model: Any) -> None:
        self.phase = _Phase(key=key, label=label, persona=persona, model=str(model or ""), since=time.monotonic())
        self.phase_spend = [0, 0.0]

    def __rich__(self) -> Any:
        now = time.monotonic()
        with self._lock:
            p, (tokens, cost), (run_tokens, run_cost) = replace(self.phase), self.phase_spend, self.run_spend
        who = " · ".join(x for x in (p.label, p.persona) if x)
        # The model id comes last: a long one is what the screen's width cuts, never the figures.
        status = Text(f"{who} · {tokens} tokens ${cost:.4f} {now - p.since:.0f}s │ run: {run_tokens} tokens "
                      f"${run_cost:.4f} {now - self.started:.0f}s" + (f" │ {p.model}" if p.model else ""),
                      no_wrap=True, overflow="ellipsis")
        grid = Table.grid(padding=(0, 1))
        grid.add_row(Spinner("dots"), status)
        return grid


def _style(event: RunEvent) -> str:
    if event.kind == "gate":
        return _VERDICT_STYLES.get(str(event.data.get("verdict")), "")
    if event.kind in ("tool_call", "phase_start"):
        return "dim"
    if event.kind in ("verdict_invalid", "monitor_halt", "flag", "failover"):
        return "yellow"
    return ""


class JsonLines:
    """An events listener that writes each event as one line of JSON (`--json`)."""

    def __init__(self, stream: IO[str] | None = None):
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, event: RunEvent) -> None:
        with self._lock:
            self.stream.write(json_line(event) + "\n")
            self.stream.flush()


@contextmanager
def progress(mode: str, console: Console) -> Iterator[Callable[[Callable[[], Any]], Any]]:
    """Show the run's events in `mode` (live, json or quiet) for the block; yields a function that runs a
    prompt with the live line paused."""
    from orchestrator.store.events import listening

    if mode == "quiet":
        yield lambda prompt: prompt()
        return
    if mode == "json":
        with listening(JsonLines()):
            yield lambda prompt: prompt()
        return
    with LiveProgress(console) as live, listening(live):
        def paused(prompt: Callable[[], Any]) -> Any:
            with live.paused():
                return prompt()

        yield paused
