"""Acceptance gate (a human via LangGraph interrupt) and spec gate (no spec, no build)."""

from __future__ import annotations

from typing import Any

from orchestrator.context import RunContext
from orchestrator.spec_lint import lint_spec_file
from orchestrator.workflow_spec import GateSpec, GateStepSpec

DECISIONS = ("approve", "reject")


def run_extra_gate(ctx: RunContext, step: GateStepSpec, gate: GateSpec, state: dict[str, Any]) -> dict[str, Any]:
    """Dispatch the gate kinds that are not quality or review."""
    if gate.kind == "acceptance":
        return run_acceptance_gate(ctx, step, state)
    return run_spec_gate(ctx, step, state)


def run_acceptance_gate(ctx: RunContext, step: GateStepSpec, state: dict[str, Any]) -> dict[str, Any]:
    """A human approves or rejects; `--approve auto` approves and says so in the log."""
    from langgraph.types import interrupt

    if ctx.approve == "auto":
        decision: dict[str, Any] = {"decision": "approve", "by": "auto"}
    else:
        payload = {"step": step.id, "run_id": ctx.run_id, "branch": ctx.workspace.branch,
                   "diff_stat": ctx.workspace.diff_stat(), "verdicts": state.get("verdicts", {}),
                   "question": "approve or reject (with a comment) the work so far"}
        decision = normalise_decision(interrupt(payload))
    ctx.event("acceptance", step.id, "human", **decision)
    record = {"step": step.id, "persona": "human", "model": decision.get("by", "human"), "tokens": 0,
              "cost_usd": 0.0, "seconds": 0.0, "verdict": decision["decision"], "commit": None}
    if decision["decision"] == "approve":
        return {"last_verdict": "pass", "phases": [record]}
    comment = decision.get("comment") or "(no comment)"
    return {"last_verdict": "fail", "gate_report": f"A human reviewer rejected the work: {comment}",
            "phases": [record]}


def normalise_decision(raw: Any) -> dict[str, Any]:
    """Accept 'approve', 'reject', or a dict with decision/comment/models; anything else rejects safely."""
    if isinstance(raw, str):
        raw = {"decision": raw}
    if not isinstance(raw, dict) or raw.get("decision") not in DECISIONS:
        return {"decision": "reject", "comment": f"unreadable decision {raw!r}", "by": "human"}
    return {"by": "human", **raw}


def run_spec_gate(ctx: RunContext, step: GateStepSpec, state: dict[str, Any]) -> dict[str, Any]:
    """Lint the specs this run wrote or changed; with none, the gate fails: no spec, no build."""
    worktree = ctx.workspace.path
    changed = [p for p in ctx.workspace.changed_files() if p.startswith("specs/") and p.endswith("spec.md")]
    paths = [worktree / p for p in changed if (worktree / p).is_file()]
    if not paths:
        report = "no spec: write specs/<domain>/spec.md with a Blueprint and a Contract before building"
        problems = [report]
    else:
        problems = [p for path in paths for p in lint_spec_file(path, worktree).problems]
        report = "\n".join(problems) if problems else f"spec ok: {', '.join(changed)}"
    verdict = "fail" if problems else "pass"
    record = {"step": step.id, "persona": "-", "model": "-", "tokens": 0, "cost_usd": 0.0, "seconds": 0.0,
              "verdict": verdict, "commit": None}
    return {"last_verdict": verdict, "gate_report": report, "phases": [record]}
