"""Acceptance gate: a human approves or rejects via a LangGraph interrupt; `--approve auto` is recorded as auto."""

from __future__ import annotations

from typing import Any

from orchestrator.gates.result import GateResult
from orchestrator.run.context import RunContext
from orchestrator.workflow.spec import GateStepSpec
from orchestrator.workflow.state import RunState

DECISIONS = ("approve", "reject")


def run_acceptance_gate(ctx: RunContext, step: GateStepSpec, state: RunState) -> tuple[GateResult, str]:
    """The decision as a gate result, and who took it: `human` or `auto` (never shown as a human)."""
    from langgraph.types import interrupt

    if ctx.approve == "auto":
        decision: dict[str, Any] = {"decision": "approve", "by": "auto"}
    else:
        payload = {"step": step.id, "run_id": ctx.run_id, "branch": ctx.workspace.branch,
                   "diff_stat": ctx.workspace.diff_stat(), "verdicts": state.get("verdicts", {}),
                   "question": "approve or reject (with a comment) the work so far"}
        decision = normalise_decision(interrupt(payload))
    by = decision.get("by", "human")
    ctx.event("acceptance", step.id, by, **decision)
    if decision["decision"] == "approve":
        reason = "approved automatically (--approve auto)" if by == "auto" else "approved by a human"
        return GateResult(gate=step.id, kind="acceptance", verdict="pass", reasons=[reason], document=decision), by
    comment = decision.get("comment") or "(no comment)"
    return GateResult(gate=step.id, kind="acceptance", verdict="fail", document=decision,
                      reasons=[f"rejected by a human: {comment}"],
                      report=f"A human reviewer rejected the work: {comment}"), by


def normalise_decision(raw: Any) -> dict[str, Any]:
    """Accept 'approve', 'reject', or a dict with decision/comment/models; anything else rejects safely."""
    if isinstance(raw, str):
        raw = {"decision": raw}
    if not isinstance(raw, dict) or raw.get("decision") not in DECISIONS:
        return {"decision": "reject", "comment": f"unreadable decision {raw!r}", "by": "human"}
    return {**raw, "by": "human"}
