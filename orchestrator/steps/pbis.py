"""PBIs: units of work that point at a spec, each with a directive, file scope, checklist and dependencies."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from orchestrator.workflow.state import RunState


class PbiSpec(BaseModel):
    """One product backlog item, as the spec writer splits the spec."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$", description="Short id, unique within the spec.")
    directive: str = Field(min_length=1, description="What to build, in one or two sentences.")
    scope: list[str] = Field(min_length=1, description="Glob patterns of the files this PBI may write.")
    checklist: list[str] = Field(default_factory=list, description="How to verify the PBI is done.")
    depends_on: list[str] = Field(default_factory=list, description="Ids of PBIs that must land first.")

    def render(self) -> str:
        """The PBI as a packet section."""
        lines = [f"PBI {self.id}: {self.directive}", f"File scope (you may write only these): {', '.join(self.scope)}"]
        lines += [f"- [ ] {item}" for item in self.checklist]
        return "\n".join(lines)


def _literal_prefix(pattern: str) -> str:
    return re.split(r"[*?\[]", pattern, maxsplit=1)[0]


def scopes_overlap(a: list[str], b: list[str]) -> bool:
    """Conservative overlap test of two scopes: when unsure, say they overlap (and run them one after another)."""
    for pa in a:
        for pb in b:
            prefix_a, prefix_b = _literal_prefix(pa), _literal_prefix(pb)
            if prefix_a.startswith(prefix_b) or prefix_b.startswith(prefix_a):
                return True
    return False


def next_wave(pbis: list[PbiSpec], done: set[str]) -> list[PbiSpec]:
    """PBIs to run now, in parallel: dependencies met and scopes pairwise disjoint (list order breaks ties)."""
    wave: list[PbiSpec] = []
    for pbi in pbis:
        if pbi.id in done or not set(pbi.depends_on) <= done:
            continue
        if all(not scopes_overlap(pbi.scope, other.scope) for other in wave):
            wave.append(pbi)
    return wave


def check_pbis(pbis: list[PbiSpec]) -> list[str]:
    """Problems of a PBI list: duplicate ids, unknown dependencies, dependency cycles."""
    ids = [p.id for p in pbis]
    problems = [f"duplicate PBI id {i!r}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    problems += [f"PBI {p.id!r} depends on unknown {d!r}" for p in pbis for d in p.depends_on if d not in ids]
    done: set[str] = set()
    while not problems and len(done) < len(pbis):
        wave = next_wave(pbis, done)
        if not wave:
            problems.append(f"PBI dependency cycle among {sorted(set(ids) - done)}")
        done |= {p.id for p in wave}
    return problems


def plan_pbis(state: RunState) -> dict[str, Any]:
    """Planner of a for_each step: the next wave of PBIs, a single pass (no PBIs left, e.g. a fix round), or on."""
    pbis = [PbiSpec(**p) for p in state.get("pbis", [])]
    done, last = set(state.get("pbis_done", [])), state.get("pbi_wave") or []
    wave = next_wave(pbis, done)
    if wave:
        return {"pbi_wave": [p.id for p in wave], "pbi_next": "wave"}
    # Back from the last wave: move on. Arriving with nothing planned (no PBIs, or a fix round): one pass.
    return {"pbi_wave": [], "pbi_next": "next" if last else "single"}
