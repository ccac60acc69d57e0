"""Escalation steps: move a persona one rung up the ladder; at the top, hand over to a human."""

from __future__ import annotations

from typing import Any

from orchestrator.run.context import RunContext
from orchestrator.run.records import PhaseRecord
from orchestrator.workflow.spec import EscalateStepSpec, GateStepSpec
from orchestrator.workflow.state import RunState


def run_escalate_step(ctx: RunContext, step: EscalateStepSpec, state: RunState) -> dict[str, Any]:
    """Move a persona to the next rung of the ladder; with no stronger model left, hand over to a human."""
    rung = state.get("rungs", {}).get(step.persona, 0) + 1
    current = ctx.model_for(step.persona, state)
    stronger = ctx.model_for(step.persona, {"rungs": {step.persona: rung}})
    record = PhaseRecord(step=step.id, persona=step.persona, model=current).row()
    if stronger is None or stronger == current:
        reason = (f"escalated to a human: {step.persona} is at the top of the escalation ladder "
                  f"({current}); bind a stronger model to go further")
        ctx.event("escalation", step.id, step.persona, from_model=current, to_model=None, reason=reason)
        return {"status": "stopped", "stop_reason": reason,
                "phases": [{**record, "verdict": "to human", "reason": reason}]}
    ctx.event("escalation", step.id, step.persona, from_model=current, to_model=stronger, rung=rung)
    # The stronger model gets fresh fix rounds at every gate, and a cascade's count of failures starts again on it.
    gates = {s.id: 0 for s in ctx.spec.steps if isinstance(s, GateStepSpec)}
    return {"rungs": {step.persona: rung}, "rounds": gates, "misses": {step.persona: 0},
            "phases": [{**record, "model": stronger, "verdict": f"{current} -> {stronger}"}]}
