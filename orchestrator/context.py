"""Immutable context of one run, shared by every step node (state that changes lives in RunState)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.personas import PersonaSpec, load_persona
from orchestrator.runlog import RunLog
from orchestrator.workflow_spec import WorkflowSpec
from orchestrator.workspace import Workspace


@dataclass
class RunContext:
    """Everything a step needs that does not change during the run."""

    run_id: str
    task: str
    spec: WorkflowSpec
    workflow_path: Path
    workspace: Workspace
    registry: Any  # orchestrator.models.registry.Registry
    runlog: RunLog
    complete: Any  # orchestrator.models.gateway.complete, injectable
    approve: str = "auto"
    packet_tokens: int = 1500
    _personas: dict[str, PersonaSpec] = field(default_factory=dict)

    def persona(self, name: str) -> PersonaSpec:
        """Load a persona once per run (repo overrides included)."""
        if name not in self._personas:
            self._personas[name] = load_persona(name, self.workspace.repo)
        return self._personas[name]

    def model_for(self, persona: str) -> str:
        """The concrete model id a persona's next call goes to (first healthy model of its binding)."""
        return self.registry.resolve(persona).models[0]

    def event(self, kind: str, step: str = "", persona: str = "", **data: Any) -> None:
        """Append an event to this run's log."""
        self.runlog.event(self.run_id, kind, step, persona, **data)
