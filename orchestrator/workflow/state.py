"""The mutable state of a run, checkpointed after every step, and its reducers.

The state holds what the next steps need to route and to build their packets, so every checkpoint
stays about the same size however long the run: history (one row per step, every handoff) goes to the
run log instead, as events added per step (orchestrator.run.step_log).
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Protocol, TypedDict

HANDOFFS_KEPT = 3
"""Handoffs of earlier phases a packet shows (besides the survey's); the state keeps no more."""


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: later keys win, earlier keys stay."""
    return {**(left or {}), **(right or {})}


def recent_handoffs(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: merge like merge_dicts, then keep every survey handoff and the last HANDOFFS_KEPT others."""
    merged = merge_dicts(left, right)
    others = [key for key, handoff in merged.items() if handoff.get("persona") != "surveyor"]
    dropped = set(others[:-HANDOFFS_KEPT])
    return {key: handoff for key, handoff in merged.items() if key not in dropped}


class RunState(TypedDict, total=False):
    """Mutable state of a run, checkpointed after every step. What a session shares lives in RunContext."""

    task: str
    handoffs: Annotated[dict[str, Any], recent_handoffs]
    rounds: Annotated[dict[str, int], merge_dicts]
    rungs: Annotated[dict[str, int], merge_dicts]
    climbs: Annotated[dict[str, str], merge_dicts]
    misses: Annotated[dict[str, int], merge_dicts]
    visits: Annotated[dict[str, int], merge_dicts]
    deliverables: Annotated[dict[str, str], merge_dicts]
    verdicts: Annotated[dict[str, str], merge_dicts]
    gate_report: str
    gate_results: Annotated[dict[str, Any], merge_dicts]
    base_tests: dict[str, Any]
    red_tests: list[str]
    review_report: str
    last_verdict: str
    next_step: str
    pbis: list[dict[str, Any]]
    pbis_done: Annotated[list[str], operator.add]
    pbi_wave: list[str]
    pbi_next: str
    status: str
    stop_reason: str


class PbiPayload(RunState, total=False):
    """What a for_each step's router sends each per-PBI node (a LangGraph Send): state keys and one PBI."""

    pbi: dict[str, Any]


class StepNode(Protocol):
    """A step's node as LangGraph calls it: the state (or a Send's payload) in, a state update out."""

    def __call__(self, state: RunState) -> dict[str, Any]: ...
