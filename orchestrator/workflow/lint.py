"""Warnings about a valid workflow: what would run, but probably not as its author meant (exit 0)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.workflow.gate_kinds import ReviewGateSpec
from orchestrator.workflow.spec import AgentStepSpec, DispatchStepSpec, EscalateStepSpec, WorkflowSpec

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry

_PLACEHOLDER = re.compile(r"\{(\w*)\}")
KNOWN_PLACEHOLDERS = ("task",)


def is_builder(persona: str) -> bool:
    """The personas the role policy treats as builders: `builder` and any `*builder`."""
    return persona.endswith("builder")


def workflow_roles(spec: WorkflowSpec) -> tuple[list[str], list[str], list[str]]:
    """(critics and moderators of its review gates, builder personas, every persona it uses) of a workflow."""
    reviews = [g for g in spec.gates.values() if isinstance(g, ReviewGateSpec)]
    critics = [c for g in reviews for c in g.critics] + [g.moderator for g in reviews if g.moderator]
    agents = [s.persona for s in spec.steps if isinstance(s, AgentStepSpec | DispatchStepSpec | EscalateStepSpec)
              and not getattr(s, "rule", None)]  # a rule dispatch calls no model
    builders = ["builder", *[p for p in agents if is_builder(p)]]
    return critics or ["critic"], builders, [*agents, *critics]


def workflow_warnings(spec: WorkflowSpec, repo: Path | None = None) -> list[str]:
    """Every warning of one workflow, in file order of concern: placeholders, critics, then models."""
    return [*_placeholder_warnings(spec), *_opening_warnings(spec, repo), *_critic_warnings(spec, repo),
            *_model_warnings(spec, repo)]


def _placeholder_warnings(spec: WorkflowSpec) -> list[str]:
    warnings = []
    for step in spec.steps:
        for name in _PLACEHOLDER.findall(getattr(step, "instructions", "") or ""):
            if name not in KNOWN_PLACEHOLDERS:
                warnings.append(f"steps.{step.id}.instructions: unknown placeholder {{{name}}}; only "
                                f"{', '.join('{' + p + '}' for p in KNOWN_PLACEHOLDERS)} is filled in, the rest "
                                "reaches the model as written")
    return warnings


def _opening_warnings(spec: WorkflowSpec, repo: Path | None) -> list[str]:
    """A step's `opening` names only tools its persona has (others are never offered on the first turn)."""
    from orchestrator.agents.personas import FINISHING_TOOLS, load_persona
    from orchestrator.errors import ConfigError

    warnings = []
    for step in spec.steps:
        if not isinstance(step, AgentStepSpec) or not step.opening:
            continue
        try:
            tools = load_persona(step.persona, repo).tools
        except ConfigError:
            continue  # validate reports unknown personas as errors
        stray = [name for name in step.opening if name not in tools and name not in FINISHING_TOOLS]
        if stray:
            warnings.append(f"steps.{step.id}.opening: {', '.join(map(repr, stray))} not among {step.persona!r}'s "
                            f"tools ({', '.join(tools)}), so never offered on the first turn")
    return warnings


def _critic_warnings(spec: WorkflowSpec, repo: Path | None) -> list[str]:
    from orchestrator.agents.personas import load_persona
    from orchestrator.agents.tool_registry import tool_names
    from orchestrator.errors import ConfigError

    warnings = []
    for name, gate in spec.gates.items():
        if not isinstance(gate, ReviewGateSpec):
            continue
        twice = sorted({c for c in gate.critics if gate.critics.count(c) > 1})
        warnings += [f"gates.{name}.critics: {c!r} is listed more than once" for c in twice]
        for critic in dict.fromkeys([*gate.critics, *([gate.moderator] if gate.moderator else [])]):
            try:
                tools = load_persona(critic, repo).tools
            except ConfigError:
                continue  # validate reports unknown personas as errors
            writes = [t for t in tools if t not in tool_names("read")]  # what the review gate withholds
            if writes:
                warnings.append(f"gates.{name}: {critic!r} has {', '.join(writes)}, but a review runs read-only: "
                                "those tools are withheld")
    return warnings


def _model_warnings(spec: WorkflowSpec, repo: Path | None) -> list[str]:
    """Role policy (every critic vs every builder) and model ids that no layer or LiteLLM knows."""
    from orchestrator.errors import ConfigError
    from orchestrator.models.registry import load_registry

    try:
        registry = load_registry(repo, workflow_models=spec.models)
    except ConfigError as exc:
        return [f"models: {str(exc).splitlines()[0]}"]
    critics, builders, used = workflow_roles(spec)
    warnings = registry.check_roles(strict=False, critics=critics, builders=builders, used=used)
    return [*_unknown_ids(spec, registry), *warnings]


def _unknown_ids(spec: WorkflowSpec, registry: Registry) -> list[str]:
    """Remote model ids in `models:` that neither LiteLLM's map nor any models.yaml knows (a typo, often)."""
    from orchestrator.errors import did_you_mean
    from orchestrator.models import catalog
    from orchestrator.models.ids import is_offline, provider_of

    warnings = []
    for persona, value in spec.models.items():
        if value in registry.profiles or is_offline(value) or "/" not in value:
            continue
        if registry.has_model_entry(value) or catalog.litellm_entry(value) is not None:
            continue
        hint = did_you_mean(value, catalog.known_litellm_ids(provider_of(value)))
        warnings.append(f"models.{persona}: {value!r} is unknown to LiteLLM's model map and to models.yaml.{hint}")
    return warnings
