"""A dry run's plan: each step of a workflow with who acts, the route its call would take and where it goes next."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.workflow.spec import (
    AgentStepSpec,
    AnyStep,
    DispatchStepSpec,
    EscalateStepSpec,
    GateStepSpec,
    WorkflowSpec,
    step_targets,
)

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry
    from orchestrator.run.routing import RunRouter


@dataclass
class PlannedCall:
    """One persona's call at one step: the strategy that routes it and the model it would go to now."""

    persona: str
    profile: str | None
    strategy: str
    model: str
    candidates: list[str]
    reason: str


@dataclass
class PlannedStep:
    """A step as the run would take it: its kind, its calls (none for a deterministic gate) and its edges."""

    id: str
    kind: str
    does: str
    calls: list[PlannedCall]
    edges: list[tuple[str, str]]


class UnrecordedLog:
    """A run log for routing that records nothing (a dry run, `router explain`); with a repo, what the repo's runs
    learned (latencies, bandit outcomes) is read from its store."""

    def __init__(self, repo: Path | None = None):
        self.repo = repo

    def decision(self, *args: object) -> int:
        return 0

    def recent_latencies(self) -> list[tuple[str, float]]:
        return self._read("recent_latencies")

    def bandit_outcomes(self) -> list[dict]:
        return self._read("bandit_outcomes")

    def _read(self, name: str) -> list:
        if self.repo is None:
            return []
        from orchestrator.store.location import resolve_store

        log = resolve_store().open_runlog(self.repo)
        try:
            return getattr(log, name)()
        finally:
            log.close()


def plan_steps(spec: WorkflowSpec, registry: Registry, task: str, pin: str | None = None) -> list[PlannedStep]:
    """Every step of the workflow, each call routed as the run's first visit would route it (no model called)."""
    from orchestrator.run.routing import RunRouter

    with tempfile.TemporaryDirectory(prefix="orchestrator-plan-") as scratch:
        router = RunRouter(registry=registry, spec=spec, state_dir=Path(scratch), runlog=UnrecordedLog(), run_id="plan",
                           pin=pin, task=task)
        return [PlannedStep(step.id, _kind(spec, step), _does(spec, step).replace("{task}", task.strip()[:60]),
                            [_call(router, registry, step, p) for p in _personas(spec, step)], step_targets(step))
                for step in spec.steps]


def _kind(spec: WorkflowSpec, step: AnyStep) -> str:
    if isinstance(step, GateStepSpec):
        return f"gate ({spec.gates[step.gate].kind})"
    return step.type


def _does(spec: WorkflowSpec, step: AnyStep) -> str:
    """One line on what the step does: the instructions, the gate's commands, the choices."""
    if isinstance(step, AgentStepSpec):
        text = (step.instructions or step.description or "").replace("\n", " ")
        return f"deliverable {step.deliverable}: {text[:80]}"
    if isinstance(step, DispatchStepSpec):
        how = f" by the rule {step.rule}" if step.rule else ""
        return f"chooses among {', '.join(step.choices)}{how} (default {step.default})"
    if isinstance(step, EscalateStepSpec):
        return f"moves {step.persona} one rung up the escalation ladder"
    return str(spec.gates[step.gate].summary(spec.settings.test_command))


def _personas(spec: WorkflowSpec, step: AnyStep) -> list[str]:
    """The personas whose calls a step makes (an escalate step calls no model)."""
    if isinstance(step, AgentStepSpec) or (isinstance(step, DispatchStepSpec) and not step.rule):
        return [step.persona]
    if isinstance(step, GateStepSpec):
        return [persona for _, persona in spec.gates[step.gate].persona_refs()]
    return []


def _call(router: RunRouter, registry: Registry, step: AnyStep, persona: str) -> PlannedCall:
    resolved = registry.resolve(persona)
    text = router.intent_text(step)
    # No est_tokens: the request then sizes its text with the shared estimate (orchestrator.models.tokens).
    decision = router.explain(step, persona, text, list(resolved.models))
    return PlannedCall(persona, resolved.profile, decision.strategy, decision.chosen, list(decision.candidates),
                       decision.reason)
