"""The mutable state of a run, checkpointed after every step, and its reducers."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer: later keys win, earlier keys stay."""
    return {**(left or {}), **(right or {})}


class RunState(TypedDict, total=False):
    """Mutable state of a run, checkpointed after every step. Immutable context lives in RunContext."""

    task: str
    handoffs: Annotated[dict[str, Any], merge_dicts]
    rounds: Annotated[dict[str, int], merge_dicts]
    rungs: Annotated[dict[str, int], merge_dicts]
    climbs: Annotated[dict[str, str], merge_dicts]
    visits: Annotated[dict[str, int], merge_dicts]
    verdicts: Annotated[dict[str, str], merge_dicts]
    gate_report: str
    gate_results: Annotated[dict[str, Any], merge_dicts]
    base_tests: dict[str, Any]
    red_tests: list[str]
    review_report: str
    last_verdict: str
    next_step: str
    phases: Annotated[list[dict[str, Any]], operator.add]
    pbis: list[dict[str, Any]]
    pbis_done: Annotated[list[str], operator.add]
    pbi_wave: list[str]
    pbi_next: str
    status: str
    stop_reason: str
