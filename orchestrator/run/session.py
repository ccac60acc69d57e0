"""Where a session of a run's graph starts, what it waits on, and when its wall-clock budget ends."""

from __future__ import annotations

import time
from typing import Any

from orchestrator.run.context import RunContext


def first_payload(ctx: RunContext, graph: Any, saver: Any, config: dict[str, Any], initial: dict[str, Any] | None,
                  decision: dict[str, Any] | None) -> Any:
    """What the graph starts from: the initial state, the saved state (None), or a human's decision."""
    from langgraph.types import Command

    if initial is None and saver.get_tuple(config) is None:
        return {"task": ctx.task, "status": "running"}  # killed before the first checkpoint: start over
    if initial is None and decision is not None and pending(graph, config):
        return Command(resume=decision)
    return initial


def deadline(ctx: RunContext) -> float | None:
    """When the run's wall-clock budget ends (time.monotonic()), so a stuck tool or command is cut off then."""
    seconds = ctx.guard.run_caps.seconds
    return None if seconds is None else time.monotonic() + max(0.0, seconds - ctx.guard.elapsed())


def pending(graph: Any, config: dict[str, Any]) -> dict[str, Any] | None:
    """The payload of a pending interrupt (a human decision the run waits for), if any."""
    snapshot = graph.get_state(config)
    for interrupt in getattr(snapshot, "interrupts", ()) or ():
        return interrupt.value
    return None
