"""Step nodes of a run: agent phases, spec authoring, PBIs, dispatch and escalation (gates: orchestrator.gates)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.run.context import RunContext
from orchestrator.steps.agent import run_agent_step
from orchestrator.steps.pbis import PbiSpec, plan_pbis
from orchestrator.workflow.spec import AgentStepSpec, EscalateStepSpec, GateStepSpec
from orchestrator.workflow.state import RunState

Node = Callable[[RunState], dict[str, Any]]


def make_node(ctx: RunContext) -> Callable[[Any], Node]:
    """Factory handed to compile_workflow: the node function for each step spec."""

    def factory(step: Any, role: str = "main") -> Node:
        if isinstance(step, AgentStepSpec) and step.for_each == "pbi" and role == "main":
            return lambda state: plan_pbis(state)
        if role == "pbi":
            return lambda payload: run_agent_step(ctx, step, payload, PbiSpec(**payload["pbi"]))
        if isinstance(step, AgentStepSpec):
            return lambda state: run_agent_step(ctx, step, state)
        if isinstance(step, GateStepSpec):
            from orchestrator.gates import run_gate_step

            return lambda state: run_gate_step(ctx, step, state)
        from orchestrator.steps.dispatch import run_dispatch_step
        from orchestrator.steps.escalate import run_escalate_step

        if isinstance(step, EscalateStepSpec):
            return lambda state: run_escalate_step(ctx, step, state)
        return lambda state: run_dispatch_step(ctx, step, state)

    return factory
