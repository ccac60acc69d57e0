"""The run's path through its graph, read back from the run log: one visit per step, in order, with its time.

The log has no "step started" record for every kind of step, so a visit is the run of consecutive events
naming the same step. It starts where the previous visit ended and ends at its last event: the steps of a
run execute one after another, so the timeline has no overlaps. A session's first visit starts at the
session's start (the run's, or the resume's), or at its phase_start event when it is an agent phase.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.report.graph import END, START, STOP


@dataclass
class Visit:
    """One visit of one step: who ran it, on which models, how it ended, and what it cost."""

    node: str
    number: int
    """1 for the step's first visit, 2 for the second, ..."""
    start: float
    end: float
    events: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Wall time of the visit."""
        return max(0.0, self.end - self.start)

    @property
    def tokens(self) -> int:
        """Tokens of the visit's model calls, prompt and completion."""
        return sum(int(c["prompt_tokens"] or 0) + int(c["completion_tokens"] or 0) for c in self.calls)

    @property
    def cost_usd(self) -> float:
        """Dollars of the visit's model calls."""
        return sum(float(c["cost_usd"] or 0.0) for c in self.calls)

    @property
    def personas(self) -> list[str]:
        """Who acted, in order (a review gate's critics, an agent step's persona)."""
        return list(dict.fromkeys(e["persona"] for e in self.events if e["persona"] not in ("", "-")))

    @property
    def models(self) -> list[str]:
        """Models the visit's calls went to (or the models its events name, for a visit without calls)."""
        named = [c["model"] for c in self.calls] or [e["data"]["model"] for e in self.events if e["data"].get("model")]
        return list(dict.fromkeys(named))

    @property
    def gate(self) -> dict[str, Any] | None:
        """The gate verdict event of a gate visit."""
        return next((e for e in reversed(self.events) if e["kind"] == "gate"), None)

    @property
    def outcome(self) -> tuple[str, str]:
        """(verdict, reason): a gate's verdict, a dispatcher's choice, an escalation, or how an agent ended."""
        for event in reversed(self.events):
            data = event["data"]
            if event["kind"] == "gate":
                return data.get("verdict", ""), data.get("reason", "")
            if event["kind"] == "dispatch":
                return f"-> {data.get('chosen', '?')}", data.get("reason", "")
            if event["kind"] == "escalation":
                return f"-> {data.get('to_model') or 'a human'}", data.get("reason", "")
            if event["kind"] == "phase_reused":
                return "reused", f"commit {data.get('commit', '')[:10]}"
        ends = [e for e in self.events if e["kind"] == "phase_end"]
        return (ends[-1]["data"].get("verdict", ""), ends[-1]["data"].get("reason", "")) if ends else ("", "")


def node_of(step: str, nodes: set[str]) -> str | None:
    """The graph node a logged step key belongs to: `build`, or `build.P1` (a PBI of a for_each step)."""
    if step in nodes:
        return step
    head = step.split(".", 1)[0]
    return head if head in nodes else None


def path_visits(events: list[dict[str, Any]], calls: list[dict[str, Any]], nodes: set[str],
                started: float) -> list[Visit]:
    """The visits of a run's log, oldest first, each with its events and the model calls made during it."""
    visits: list[Visit] = []
    resumed: float | None = None
    for event in events:
        if event["kind"] == "resume":
            resumed = event["ts"]
            continue
        node = node_of(event["step"] or "", nodes)
        if node is None:
            continue
        if not visits or visits[-1].node != node:
            begin = resumed if resumed is not None else (visits[-1].end if visits else started)
            if event["kind"] == "phase_start" and (resumed is not None or not visits):
                begin = event["ts"]  # a session's first phase: not the set-up (worktree, graph) before it
            number = sum(v.node == node for v in visits) + 1
            visits.append(Visit(node=node, number=number, start=begin, end=event["ts"]))
            resumed = None
        visits[-1].end = event["ts"]
        visits[-1].events.append(event)
    _attach_calls(visits, calls, nodes)
    return visits


def _attach_calls(visits: list[Visit], calls: list[dict[str, Any]], nodes: set[str]) -> None:
    """Each call goes to the visit of its step that was under way when it was made."""
    for call in calls:
        node = node_of(call["step"] or "", nodes)
        mine = [v for v in visits if v.node == node and v.start <= call["ts"]]
        if mine:
            mine[-1].calls.append(call)


def run_path(visits: list[Visit], status: str, through_stop: bool = False) -> list[str]:
    """Node ids from start through every visit; then `end` when the run is done, or `stop` then `end` when
    the graph routed it to its stop node (a stop raised inside a step, e.g. a budget, ends at that step)."""
    tail = [END] if status == "done" else ([STOP, END] if through_stop else [])
    return [START, *(v.node for v in visits), *tail]


def path_edges(path: list[str]) -> dict[tuple[str, str], int]:
    """Each edge the path takes, with how many times it took it."""
    counts: dict[tuple[str, str], int] = {}
    for pair in zip(path, path[1:], strict=False):
        counts[pair] = counts.get(pair, 0) + 1
    return counts
