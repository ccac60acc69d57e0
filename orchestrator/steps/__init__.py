"""Step nodes of a run: agent phases, spec authoring, PBIs, dispatch and escalation (gates: orchestrator.gates)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from orchestrator.run.context import RunContext
from orchestrator.steps.agent import run_agent_step
from orchestrator.steps.pbis import PbiSpec, plan_pbis
from orchestrator.workflow.spec import AgentStepSpec, AnyStep, EscalateStepSpec, GateStepSpec
from orchestrator.workflow.state import PbiPayload, StepNode


def make_node(ctx: RunContext) -> Callable[..., StepNode]:
    """Factory handed to compile_workflow: the node function for each step spec (and role, for a for_each step)."""

    def factory(step: AnyStep, role: str = "main") -> StepNode:
        if isinstance(step, AgentStepSpec) and step.for_each == "pbi" and role == "main":
            return lambda state: plan_pbis(state)
        if isinstance(step, AgentStepSpec) and role == "pbi":
            # This node runs only on pbi_router's Sends, so its input is a PbiPayload, never the bare state.
            return lambda state: run_agent_step(ctx, step, state, PbiSpec(**cast(PbiPayload, state)["pbi"]))
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
