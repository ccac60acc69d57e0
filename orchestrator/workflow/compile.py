"""Compile a WorkflowSpec into a LangGraph StateGraph: step nodes, verdict edges and loop caps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph

from orchestrator.workflow.spec import END as END_TARGET
from orchestrator.workflow.spec import STOP as STOP_TARGET
from orchestrator.workflow.spec import (
    AgentStepSpec,
    AnyStep,
    DispatchStepSpec,
    EscalateStepSpec,
    GateStepSpec,
    WorkflowSpec,
)
from orchestrator.workflow.state import RunState, StepNode

STOP_NODE = "__stop__"


NodeFactory = Callable[..., StepNode]
"""make_node(step, role="main"); role is "pbi" or "single" for the extra nodes of a for_each step."""


def compile_workflow(spec: WorkflowSpec, make_node: NodeFactory | None = None, checkpointer: Any = None) -> Any:
    """Build and compile the graph of the steps as given; `make_node(step)` supplies each step's function.

    Autonomy's approval steps are not added here: the caller applies `apply_autonomy` once, first.
    """
    make_node = make_node or (lambda step, role="main": _noop)
    graph = StateGraph(RunState)
    for step in spec.steps:
        graph.add_node(step.id, make_node(step))
        if isinstance(step, AgentStepSpec) and step.for_each == "pbi":
            graph.add_node(f"{step.id}__pbi", make_node(step, "pbi"))
            graph.add_node(f"{step.id}__single", make_node(step, "single"))
    graph.add_node(STOP_NODE, _stop)
    graph.add_edge(START, spec.entry_step)
    graph.add_edge(STOP_NODE, END)
    for step in spec.steps:
        _add_edges(graph, step)
    return graph.compile(checkpointer=checkpointer)


def _node_name(target: str) -> str:
    return {END_TARGET: END, STOP_TARGET: STOP_NODE}.get(target, target)


def _add_edges(graph: StateGraph, step: AnyStep) -> None:
    if isinstance(step, AgentStepSpec) and step.for_each == "pbi":
        worker, single, after = f"{step.id}__pbi", f"{step.id}__single", _node_name(step.next)
        graph.add_conditional_edges(step.id, pbi_router(step), sorted({worker, single, after}))
        graph.add_edge(worker, step.id)
        graph.add_edge(single, after)
    elif isinstance(step, AgentStepSpec):
        graph.add_edge(step.id, _node_name(step.next))
    elif isinstance(step, EscalateStepSpec):
        graph.add_conditional_edges(step.id, escalate_router(step), sorted({_node_name(step.next), STOP_NODE}))
    elif isinstance(step, GateStepSpec):
        targets = {_node_name(t) for t in (step.on_pass, step.on_fail, step.on_exhausted)} | {STOP_NODE}
        graph.add_conditional_edges(step.id, gate_router(step), sorted(targets))
    else:
        targets = {_node_name(t) for t in (*step.choices, step.default)} | {STOP_NODE}
        graph.add_conditional_edges(step.id, dispatch_router(step), sorted(targets))


def gate_router(step: GateStepSpec) -> Callable[[RunState], str]:
    """Edge function of a gate: pass -> on_pass; fail -> on_fail while under the cap, else stop."""

    def route(state: RunState) -> str:
        if state.get("status") == "stopped":
            return STOP_NODE
        if state.get("last_verdict") == "pass":
            return _node_name(step.on_pass)
        failures = state.get("rounds", {}).get(step.id, 0)
        if step.max_rounds is not None and failures > step.max_rounds:
            return _node_name(step.on_exhausted)
        return _node_name(step.on_fail)

    return route


def pbi_router(step: AgentStepSpec) -> Callable[[RunState], Any]:
    """Edge function of a for_each step: one Send (a PbiPayload) per PBI of the planned wave, else one pass or
    move on."""
    from langgraph.types import Send

    def route(state: RunState) -> Any:
        decision = state.get("pbi_next")
        if decision == "wave":
            by_id = {p["id"]: p for p in state.get("pbis", [])}
            carried = {k: state.get(k) for k in ("handoffs", "visits", "verdicts", "gate_report", "last_verdict",
                                                 "gate_results")}
            return [Send(f"{step.id}__pbi", {**carried, "pbi": by_id[i]}) for i in state.get("pbi_wave", [])]
        return f"{step.id}__single" if decision == "single" else _node_name(step.next)

    return route


def escalate_router(step: EscalateStepSpec) -> Callable[[RunState], str]:
    """Edge function of an escalation: on to `next` on the stronger model, or stop for a human at the top."""

    def route(state: RunState) -> str:
        return STOP_NODE if state.get("status") == "stopped" else _node_name(step.next)

    return route


def dispatch_router(step: DispatchStepSpec) -> Callable[[RunState], str]:
    """Edge function of a dispatch step: the node has already validated `next_step`."""

    def route(state: RunState) -> str:
        if state.get("status") == "stopped":
            return STOP_NODE
        visits = state.get("visits", {}).get(step.id, 0)
        if step.max_rounds is not None and visits > step.max_rounds:
            return STOP_NODE
        return _node_name(state.get("next_step") or step.default)

    return route


def _noop(state: RunState) -> dict[str, Any]:
    return {}


def _stop(state: RunState) -> dict[str, Any]:
    if state.get("status") == "stopped":
        return {}
    return {"status": "stopped", "stop_reason": state.get("stop_reason") or "a gate failed past its max_rounds cap"}


def mermaid(spec: WorkflowSpec) -> str:
    """Mermaid flowchart of the compiled workflow, each conditional edge labelled with when it is taken."""
    import re

    from orchestrator.workflow.autonomy import apply_autonomy

    spec = apply_autonomy(spec)  # the steps autonomy adds (sign-off, approvals) are drawn and labelled too
    drawn = compile_workflow(spec).get_graph().draw_mermaid()
    labels = edge_labels(spec)

    def label(match: re.Match[str]) -> str:
        source, target = match.group(2), match.group(3)
        text = labels.get((source, target))
        return f"{match.group(1)}{source} -. {text} .-> {target};" if text else match.group(0)

    return re.sub(r"^(\s*)(\S+) -\.-> (\S+);$", label, drawn, flags=re.M)


def edge_labels(spec: WorkflowSpec) -> dict[tuple[str, str], str]:
    """(step, node) -> when the step's conditional edge to that node is taken, e.g. 'pass' or 'fail'."""
    labels: dict[tuple[str, str], list[str]] = {}

    def add(step: str, target: str, text: str) -> None:
        labels.setdefault((step, _node_name(target) if target != STOP_NODE else target), []).append(text)

    for step in spec.steps:
        if isinstance(step, GateStepSpec):
            add(step.id, step.on_pass, "pass")
            add(step.id, step.on_fail, "fail")
            if step.max_rounds:
                add(step.id, step.on_exhausted, "fail past max_rounds")
            add(step.id, STOP_NODE, "stopped")
        elif isinstance(step, DispatchStepSpec):
            for choice in step.choices:
                add(step.id, choice, "chosen")
            add(step.id, step.default, "default")
            add(step.id, STOP_NODE, "past max_rounds")
        elif isinstance(step, EscalateStepSpec):
            add(step.id, step.next, "one rung up")
            add(step.id, STOP_NODE, "top of the ladder")
    return {key: " / ".join(dict.fromkeys(texts)) for key, texts in labels.items()}
