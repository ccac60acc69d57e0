"""Gate kinds: the class a gate kind is (its name, its spec model, how it judges), and the registry of them.

A gate kind registers through the `register_gate_kinds(register)` hook, built-ins and plugins alike; the
workflow's `gates:` section validates each gate into its kind's spec model (orchestrator.workflow.gate_spec).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from orchestrator.errors import ConfigError, PluginError, did_you_mean
from orchestrator.gates.result import GateResult
from orchestrator.workflow.gate_spec import GateSpec, gate_spec_models
from orchestrator.workflow.state import RunState

if TYPE_CHECKING:
    from orchestrator.run.context import RunContext
    from orchestrator.workflow.spec import GateStepSpec

SpecT = TypeVar("SpecT", bound=GateSpec)


@dataclass
class Judgement:
    """A gate kind's answer: the result, plus what the run keeps from it and who judged."""

    result: GateResult
    keep: dict[str, Any] = field(default_factory=dict)
    """Run state to keep (e.g. the red test ids the quality gate later requires)."""
    by: str = "-"
    """Who judged, for the phase record: a persona, `human`, `auto`, or `-` for a deterministic check."""
    phases: list[dict[str, Any]] = field(default_factory=list)
    """Phase rows of the agents the gate ran (critics, a moderator)."""


class GateKind(ABC):
    """One kind of gate: `name` is the `kind:` a workflow writes, `spec` the model its gate mapping validates
    into, and `judge` the verdict on the run's worktree. Fail closed: return `unknown` when unable to judge."""

    name: ClassVar[str]
    spec: ClassVar[type[GateSpec]]

    @abstractmethod
    def judge(self, ctx: RunContext, step: GateStepSpec, gate: GateSpec, state: RunState) -> Judgement:
        """The gate's verdict on the worktree as it is now; `gate` is an instance of `spec`."""


@functools.cache
def gate_kinds() -> dict[str, type[GateKind]]:
    """{name: gate kind class} of every registered kind, in registration order (built-ins first)."""
    from orchestrator.plugins import call_hook

    found: dict[str, type[GateKind]] = {}

    def register(kind: Any) -> None:
        if not (isinstance(kind, type) and issubclass(kind, GateKind)):
            raise PluginError(f"register_gate_kinds: {kind!r} is not a GateKind subclass")
        found[kind.name] = kind

    call_hook("register_gate_kinds", register)
    gate_spec_models()  # the same registrations, checked once for their spec models too
    return found


def gate_kind(name: str) -> GateKind:
    """The registered gate kind called `name`, ready to judge; an unknown name says which ones exist."""
    kinds = gate_kinds()
    if name not in kinds:
        raise ConfigError(f"unknown gate kind {name!r}.{did_you_mean(name, kinds)} Known: {', '.join(kinds)}")
    return kinds[name]()


def gate_spec(ctx: RunContext, step: GateStepSpec, model: type[SpecT]) -> SpecT:
    """The step's gate as its kind's spec model (the workflow's validation put it there)."""
    gate = ctx.spec.gates[step.gate]
    if not isinstance(gate, model):
        raise ConfigError(f"gate {step.gate!r} is a {gate.kind} gate, not a {model.__name__}")
    return gate
