"""Immutable context of one run, shared by every step node (state that changes lives in RunState)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.budgets import BudgetGuard
from orchestrator.models.types import ModelReply
from orchestrator.personas import PersonaSpec, load_persona
from orchestrator.runlog import RunLog
from orchestrator.workflow_spec import WorkflowSpec
from orchestrator.workspace import Workspace

DEFAULT_PACKET_TOKENS = 1500


@dataclass
class RunContext:
    """Everything a step needs that does not change during one session of a run."""

    run_id: str
    task: str
    spec: WorkflowSpec
    workflow_path: Path
    workspace: Workspace
    registry: Any  # orchestrator.models.registry.Registry
    runlog: RunLog
    complete: Any  # orchestrator.models.gateway.complete, injectable
    guard: BudgetGuard
    approve: str = "auto"
    ask: Any = None  # callable(payload) -> decision dict, for --approve ask
    _personas: dict[str, PersonaSpec] = field(default_factory=dict)

    def persona(self, name: str) -> PersonaSpec:
        """Load a persona once per run (repo overrides included)."""
        if name not in self._personas:
            self._personas[name] = load_persona(name, self.workspace.repo)
        return self._personas[name]

    def model_for(self, persona: str, state: dict[str, Any] | None = None) -> str | None:
        """The model a persona's next call goes to: its binding, climbed as many rungs as it was escalated.

        None when the ladder has no rung that high.
        """
        resolved = self.registry.resolve(persona)
        rung = (state or {}).get("rungs", {}).get(persona, 0)
        if rung == 0:
            return resolved.models[0]
        profile = resolved.profile or self._profile_holding(resolved.models[0])
        for _ in range(rung):
            profile = self.registry.next_rung(profile) if profile else None
            if profile is None:
                return None
        return self.registry.models_for_profile(profile)[0]

    def _profile_holding(self, model: str) -> str | None:
        """The lowest ladder profile listing a model (for a persona bound to a model id)."""
        return next((p for p in self.registry.ladder if model in self.registry.models_for_profile(p)), None)

    def packet_tokens(self, persona: str) -> int:
        """Context packet budget of a persona."""
        return self.spec.settings.packet_tokens.get(persona, DEFAULT_PACKET_TOKENS)

    def event(self, kind: str, step: str = "", persona: str = "", **data: Any) -> None:
        """Append an event to this run's log."""
        self.runlog.event(self.run_id, kind, step, persona, **data)

    def caller(self, step: str) -> Any:
        """A `complete`-compatible function for one step: budget check first, then the call, then the log."""

        def call(model: str, messages: list[dict[str, Any]], **kwargs: Any) -> ModelReply:
            self.guard.check(step, model, messages, kwargs.get("tools"), kwargs.get("max_tokens"))
            reply = self.complete(model, messages, **kwargs)
            self.guard.record(step, reply.total_tokens, reply.cost_usd)
            self.runlog.call(self.run_id, step, kwargs.get("persona", ""), reply)
            return reply

        return call
