"""Autonomy levels: insert human approval steps (L2, L3) or halting monitors (L4) into a workflow."""

from __future__ import annotations

from typing import Any

from orchestrator.workflow.gate_spec import make_gate
from orchestrator.workflow.spec import (
    END,
    STOP,
    AgentStepSpec,
    AnyStep,
    DispatchStepSpec,
    EscalateStepSpec,
    GateStepSpec,
    WorkflowSpec,
)

ACCEPTANCE_GATE = "__acceptance__"
SIGN_OFF_STEP = "sign_off"
MAX_REJECTIONS = 3


def apply_autonomy(spec: WorkflowSpec) -> WorkflowSpec:
    """A copy of the workflow with the approval steps its autonomy level asks for (callers apply it once).

    L3 (default): one sign-off before the end, unless the workflow has its own acceptance gate.
    L2: an approval after every agent step that commits, whatever gates the workflow declares, plus the
    sign-off (again unless the workflow has its own acceptance gate). L4: nothing added.
    """
    level = spec.settings.autonomy
    own_acceptance = any(g.kind == "acceptance" for name, g in spec.gates.items() if name != ACCEPTANCE_GATE)
    if level == "L4" or (level == "L3" and own_acceptance) or ACCEPTANCE_GATE in spec.gates:
        return spec  # nothing to add, or already applied
    spec = spec.model_copy(deep=True)
    gates = {**spec.gates, ACCEPTANCE_GATE: make_gate({"kind": "acceptance"})}
    steps: list[Any] = []
    for step in spec.steps:
        steps.append(step)
        if level == "L2" and isinstance(step, AgentStepSpec) and step.commit:
            approval = GateStepSpec(id=f"{step.id}_approval", type="gate", gate=ACCEPTANCE_GATE,
                                    on_pass=step.next, on_fail=step.id, max_rounds=MAX_REJECTIONS,
                                    description=f"A human approves the diff of {step.id}.")
            step.next = approval.id
            steps.append(approval)
    if not own_acceptance:
        rework = rework_step(spec)
        for step in steps:
            _retarget_end(step)
        steps.append(GateStepSpec(id=SIGN_OFF_STEP, type="gate", gate=ACCEPTANCE_GATE, on_pass=END,
                                  on_fail=rework, max_rounds=MAX_REJECTIONS,
                                  description="A human signs off the run; a rejection becomes builder work."))
    return spec.model_copy(update={"steps": steps, "gates": gates})


def rework_step(spec: WorkflowSpec) -> str:
    """Where a rejected sign-off sends the work: the builder's step, else the last agent step, else a stop."""
    agents = [s for s in spec.steps if isinstance(s, AgentStepSpec)]
    builders = [s for s in agents if s.persona == "builder"]
    if not agents:  # gates and dispatches only: nobody to rework, so a rejection stops the run
        return STOP
    return (builders or agents)[0 if builders else -1].id


def _retarget_end(step: AnyStep) -> None:
    if isinstance(step, (AgentStepSpec, EscalateStepSpec)) and step.next == END:
        step.next = SIGN_OFF_STEP
    elif isinstance(step, GateStepSpec) and step.on_pass == END:
        step.on_pass = SIGN_OFF_STEP
    elif isinstance(step, DispatchStepSpec):
        step.default = SIGN_OFF_STEP if step.default == END else step.default
        step.choices = [SIGN_OFF_STEP if c == END else c for c in step.choices]
