"""The built-in gate kinds: quality, red, review, acceptance and spec, each judging through its own module.

The modules that judge load on the first judgement, so validating a workflow never imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.gates.kind import GateKind, Judgement
from orchestrator.workflow.gate_kinds import (
    AcceptanceGateSpec,
    QualityGateSpec,
    RedGateSpec,
    ReviewGateSpec,
    SpecGateSpec,
)
from orchestrator.workflow.gate_spec import GateSpec
from orchestrator.workflow.state import RunState

if TYPE_CHECKING:
    from orchestrator.run.context import RunContext
    from orchestrator.workflow.spec import GateStepSpec


class QualityGate(GateKind):
    """Deterministic commands (tests, lint, types, build) parsed into findings; tests judged id by id."""

    name = "quality"
    spec = QualityGateSpec

    def judge(self, ctx: RunContext, step: GateStepSpec, gate: GateSpec, state: RunState) -> Judgement:
        from orchestrator.gates.quality import run_quality_gate

        result, keep = run_quality_gate(ctx, step, state)
        return Judgement(result, keep)


class RedGate(GateKind):
    """The tester's new tests exist and fail on the code before the build, for a reason the build can fix."""

    name = "red"
    spec = RedGateSpec

    def judge(self, ctx: RunContext, step: GateStepSpec, gate: GateSpec, state: RunState) -> Judgement:
        from orchestrator.gates.red import run_red_gate

        result, keep = run_red_gate(ctx, step, state)
        return Judgement(result, keep)


class ReviewGate(GateKind):
    """Critics on fresh context (spec and diff only) return structured verdicts, checked against the evidence."""

    name = "review"
    spec = ReviewGateSpec

    def judge(self, ctx: RunContext, step: GateStepSpec, gate: GateSpec, state: RunState) -> Judgement:
        from orchestrator.gates.changes import behaviour_change_without_spec, run_changes, spec_text
        from orchestrator.gates.review import run_review_gate
        from orchestrator.gates.signatures import signature_changes
        from orchestrator.gates.tampering import tampering_flag

        # Critics read only, so the run's changes are the same before and after the review: list them once.
        changes = run_changes(ctx.workspace)
        flags = [f for f in (behaviour_change_without_spec(ctx.workspace, changes),
                             signature_changes(ctx.workspace, changes), tampering_flag(ctx.workspace.path, changes))
                 if f]
        for flag in flags:
            ctx.event("flag", step.id, "", flag=flag)
        result, phases = run_review_gate(ctx, step, state, spec_text(ctx.workspace, changes), "\n".join(flags) or None,
                                         changes)
        return Judgement(result, {"review_report": result.report}, phases=phases)


class AcceptanceGate(GateKind):
    """A human approves or rejects through a LangGraph interrupt; the run pauses and resumes."""

    name = "acceptance"
    spec = AcceptanceGateSpec

    def judge(self, ctx: RunContext, step: GateStepSpec, gate: GateSpec, state: RunState) -> Judgement:
        from orchestrator.gates.acceptance import run_acceptance_gate

        result, by = run_acceptance_gate(ctx, step, state)
        return Judgement(result, by=by)


class SpecGate(GateKind):
    """No spec, no build: the run's spec has its sections, scenarios that parse, and real content."""

    name = "spec"
    spec = SpecGateSpec

    def judge(self, ctx: RunContext, step: GateStepSpec, gate: GateSpec, state: RunState) -> Judgement:
        from orchestrator.gates.spec import run_spec_gate

        return Judgement(run_spec_gate(ctx, step, state))
