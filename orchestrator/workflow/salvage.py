"""The valid part of a schema-invalid workflow, so one `validate` pass also runs the semantic checks.

Each schema error cuts the smallest piece that holds it: an unknown key or a bad value goes (its default
applies), and a step or gate missing a required field goes whole. What was cut is remembered, so the
semantic checks neither report its absence (a target naming a cut step is fine) nor judge a graph with
holes in it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from orchestrator.located_yaml import Location
from orchestrator.workflow.spec import WorkflowSpec

MAX_ROUNDS = 10
"""A cut may reveal a new error (a removed required value is then missing); each round cuts again."""


@dataclass
class Salvage:
    """What was cut to make the workflow valid, and where its steps were in the file."""

    lost_steps: set[str] = field(default_factory=set)
    lost_gates: set[str] = field(default_factory=set)
    step_index: list[int] = field(default_factory=list)
    """Original index (in the file) of each kept step."""
    graph_cut: bool = False
    """True when a cut touched the steps or the entry, so reachability and cycles can't be judged."""


def salvage(data: dict[str, Any], errors: list[ErrorDetails], data_loc: Callable[[tuple[Any, ...], Any], Location]
            ) -> tuple[WorkflowSpec | None, Salvage]:
    """(the workflow without its invalid parts, what was cut); None when nothing usable is left.

    `data_loc(loc, data)` maps a pydantic error location to a path in the YAML data."""
    data = copy.deepcopy(data)
    data.setdefault("name", "(unnamed)")  # its absence is reported; the checks need none
    cut = Salvage(step_index=list(range(len(data.get("steps") or []))) if isinstance(data.get("steps"), list) else [])
    for _ in range(MAX_ROUNDS):
        points = {_cut_point(data_loc(e["loc"], data), e["type"]) for e in errors}
        cuts = {point for point in points if point is not None}
        if len(cuts) < len(points):
            return None, cut
        for loc in sorted(cuts, key=_deepest_last_index_first):
            _remove(data, loc, cut)
        try:
            return WorkflowSpec.model_validate(data), cut
        except ValidationError as exc:
            errors = exc.errors()
    return None, cut


def _cut_point(loc: Location, kind: str) -> Location | None:
    """What to remove for one error; None when the error leaves nothing to salvage (no steps list)."""
    if kind == "missing":
        loc = loc[:-1]
    if loc in ((), ("steps",)):
        return None
    return loc


def _deepest_last_index_first(loc: Location) -> tuple[int, tuple[Any, ...]]:
    """Remove deep paths before their parents, and later list items before earlier ones (indexes hold)."""
    return (-len(loc), tuple((0, -p) if isinstance(p, int) else (1, str(p)) for p in loc))


def _remove(data: Any, loc: Location, cut: Salvage) -> None:
    parent = data
    for part in loc[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return  # already gone with an enclosing cut
    last = loc[-1]
    if loc[0] in ("steps", "entry"):
        cut.graph_cut = True
    if loc[:1] == ("steps",) and len(loc) == 2 and isinstance(parent, list) and isinstance(last, int):
        if last < len(parent):
            step = parent.pop(last)
            step_id = step.get("id") if isinstance(step, dict) else None
            if isinstance(step_id, str):
                cut.lost_steps.add(step_id)
            cut.step_index.pop(last)
        return
    if loc[:1] == ("gates",) and len(loc) == 2:
        cut.lost_gates.add(str(last))
    if isinstance(parent, dict):
        parent.pop(last, None)
    elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
        parent.pop(last)
