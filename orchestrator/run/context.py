"""The context of one run session, shared by every step node, never checkpointed (changing state: RunState)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.agents.packets import estimate_tokens
from orchestrator.agents.personas import PersonaSpec, load_persona
from orchestrator.agents.sandbox import DEFAULT_ALLOWLIST
from orchestrator.models.types import ModelReply
from orchestrator.run.budgets import DEFAULT_MAX_OUTPUT_TOKENS, BudgetGuard
from orchestrator.run.workspace import Workspace
from orchestrator.store.log import RunLog
from orchestrator.workflow.spec import AnyStep, WorkflowSpec
from orchestrator.workflow.state import RunState

if TYPE_CHECKING:  # annotations only: the context receives these objects ready-made and never builds one
    from orchestrator.models.registry import Registry
    from orchestrator.run.routing import RunRouter
    from orchestrator.store.ledger import SharedCaps
    from orchestrator.store.location import Store

DEFAULT_PACKET_TOKENS = 1500


@dataclass
class RunContext:
    """What every step of one session shares: the workflow, workspace, registry, router, log and budget guard.

    Set up once per session; its helpers (the budget guard, the router, caches) change as calls are made, so
    it is not immutable: what must survive a restart lives in RunState or the run log."""

    run_id: str
    task: str
    spec: WorkflowSpec
    workflow_path: Path
    workspace: Workspace
    registry: Registry
    runlog: RunLog
    complete: Callable[..., ModelReply] | None  # None: the resilient gateway; tests may inject a single-model one
    guard: BudgetGuard
    router: RunRouter | None = None
    approve: str = "auto"
    ask: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # payload -> decision, for --approve ask
    allowed_commands: frozenset[str] = DEFAULT_ALLOWLIST
    """Programs agents and gates may start (orchestrator.workflow.trust.allowed_commands: never the repo's own say)."""
    unsafe_no_sandbox: bool = False
    store: Store | None = None  # where checkpoints and the run log live
    caps: SharedCaps | None = None  # spend caps reserved in the store, or None
    _personas: dict[str, PersonaSpec] = field(default_factory=dict)
    _fixed: dict[str, _FixedParts] = field(default_factory=dict)
    _once: dict[str, Any] = field(default_factory=dict)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        """`make()`'s value, made on first use: for what every step needs and nothing in a session changes."""
        if key not in self._once:
            self._once[key] = make()
        return self._once[key]

    def persona(self, name: str) -> PersonaSpec:
        """Load a persona once per run (repo overrides included)."""
        if name not in self._personas:
            self._personas[name] = load_persona(name, self.workspace.repo)
        return self._personas[name]

    def candidates(self, persona: str, state: RunState | None = None) -> list[str]:
        """A persona's models in failover order: its binding, climbed as many rungs as it was escalated.

        Empty when the ladder has no rung that high.
        """
        resolved = self.registry.resolve(persona)
        rung = (state or {}).get("rungs", {}).get(persona, 0)
        if rung == 0:
            return list(resolved.models)
        profile = resolved.profile or self._profile_holding(resolved.models[0])
        for _ in range(rung):
            profile = self.registry.next_rung(profile) if profile else None
        return list(self.registry.models_for_profile(profile)) if profile else []

    def model_for(self, persona: str, state: RunState | None = None) -> str | None:
        """The first model of a persona's candidates (None past the top of the ladder)."""
        models = self.candidates(persona, state)
        return models[0] if models else None

    def route(self, step: AnyStep, persona: str, state: RunState, text: str, needs_tools: bool = True,
              tools: list[Any] | None = None) -> tuple[list[str], int | None, dict[str, Any]]:
        """(ordered models, decision id, features) for a phase through the run's routing strategy.

        The first model is the choice, the rest its failovers; features carry an ensemble's models or a
        drafter and verifier. The context check counts the whole first request: the persona's system
        prompt, the packet, the tool schemas (`tools`, else the persona's own) and the reply budget.
        Decisions are logged."""
        candidates = self.candidates(persona, state)
        if self.router is None:
            return candidates, None, {}
        rung = state.get("rungs", {}).get(persona, 0)
        # A cascade climbs from its own start rung; other strategies get the already-climbed candidates.
        if self.router.cascades(step, persona):
            candidates = list(self.registry.resolve(persona).models)
        decision, decision_id = self.router.choose(
            step, persona, text, candidates, rung=rung, needs_tools=needs_tools,
            why=state.get("climbs", {}).get(persona, ""), est_tokens=self.prompt_tokens(persona, text, tools),
            prompt_text=self.prompt_text(persona, text, tools), completion_tokens=DEFAULT_MAX_OUTPUT_TOKENS,
            usd_left=self.guard.usd_left(step.id))
        return list(decision.candidates), decision_id, dict(decision.features)

    def prompt_tokens(self, persona: str, text: str, tools: list[Any] | None = None) -> int:
        """Estimated tokens of a persona's first request: system prompt, packet and tool schemas."""
        return self._fixed_parts(persona, tools).tokens + estimate_tokens(text)

    def prompt_text(self, persona: str, text: str, tools: list[Any] | None = None) -> str:
        """A persona's first request as one text (system prompt, packet, tool schemas), for per-model counts."""
        fixed = self._fixed_parts(persona, tools)
        return "\n".join((fixed.system, text, fixed.schemas))

    def _fixed_parts(self, persona: str, tools: list[Any] | None) -> _FixedParts:
        from orchestrator.agents.loop import FINISH_TOOL
        from orchestrator.agents.tool_registry import tool_specs

        spec = self.persona(persona)
        if tools is not None:
            return _FixedParts.of(spec, tools)
        if persona not in self._fixed:  # the persona's system prompt and tools don't change in a run
            specs = tool_specs()
            default = [*(specs[t] for t in spec.tools if t in specs), FINISH_TOOL]
            self._fixed[persona] = _FixedParts.of(spec, default)
        return self._fixed[persona]

    def _profile_holding(self, model: str) -> str | None:
        """The lowest ladder profile listing a model (for a persona bound to a model id)."""
        return next((p for p in self.registry.ladder if model in self.registry.models_for_profile(p)), None)

    def packet_tokens(self, persona: str) -> int:
        """Context packet budget of a persona."""
        return self.spec.settings.packet_tokens.get(persona, DEFAULT_PACKET_TOKENS)

    def event(self, kind: str, step: str = "", persona: str = "", **data: Any) -> None:
        """Append an event to this run's log."""
        self.runlog.event(self.run_id, kind, step, persona, **data)

    def announce(self, kind: str, step: str = "", persona: str = "", **data: Any) -> None:
        """Tell event listeners (the live view) without writing the run log, e.g. that a gate started."""
        from orchestrator.store.events import RunEvent, emit

        emit(RunEvent(self.run_id, kind, step, persona, data))

    def tool_logger(self, step: str, persona: str) -> Any:
        """An AgentLoop `on_tool_call` hook: each tool call goes to the run log as it happens.

        Arguments and output are cut short (a write's content would fill the log). Status: ok, refused, or
        final for the finishing call."""
        from orchestrator.agents.redact import redact
        from orchestrator.store.events import short

        def log(call: Any, output: str | None) -> None:
            status = "final" if output is None else ("refused" if output.startswith("refused") else "ok")
            self.event("tool_call", step, persona, tool=call.name, arguments=redact(short(call.arguments, 160)),
                       status=status, output=short(output or "", 160))

        return log

    def caller(self, step: str, decision_id: int | None = None, failovers: list[str] | None = None
               ) -> Callable[..., ModelReply]:
        """A `complete`-compatible function for one step: budget check first, then the call (failing over
        along `failovers` when the chosen model is down), then the log."""

        def call(model: str, messages: list[dict[str, Any]], **kwargs: Any) -> ModelReply:
            self.guard.check(step, model, messages, kwargs.get("tools"), kwargs.get("max_tokens"))
            caps = self.caps  # reserved before the call, atomically in the store: no other worker can overshoot
            held = None if caps is None else caps.reserve(
                self.guard.estimate(model, messages, kwargs.get("tools"), kwargs.get("max_tokens"))[2])
            try:
                reply = self._complete(step, model, messages, failovers, kwargs)
            except BaseException:
                if caps is not None and held is not None:
                    caps.settle(held, 0.0)
                raise
            if caps is not None and held is not None:
                caps.settle(held, reply.cost_usd)
            self.guard.record(step, reply.total_tokens, reply.cost_usd)
            self.runlog.call(self.run_id, step, kwargs.get("persona", ""), reply)
            if decision_id is not None:
                self.runlog.decision_spend(decision_id, reply.total_tokens, reply.cost_usd)
            if self.router is not None:
                self.router.learn_latency(reply.model, reply.latency_s)
                self.router.record_call(kwargs.get("persona", ""), reply.model, reply.prompt_tokens)
            return reply

        return call

    def _complete(self, step: str, model: str, messages: list[dict[str, Any]], failovers: list[str] | None,
                  kwargs: dict[str, Any]) -> ModelReply:
        """One call through the resilient gateway (or the injected `complete`)."""
        if self.complete is not None:  # it bypasses the gateway, whose redaction the messages need just as much
            from orchestrator.models.secrets import redact_data

            return self.complete(model, redact_data(messages), **kwargs)
        from orchestrator.models.resilience import complete_with_failover

        # run and step travel with the call, so traces (OTel spans, LiteLLM callbacks) can group by them
        return complete_with_failover([model, *(failovers or [])], messages, registry=self.registry,
                                      **{"metadata": {"run_id": self.run_id, "step": step}, **kwargs})


@dataclass(frozen=True)
class _FixedParts:
    """The parts of a persona's first request that don't change in a run: system prompt and tool schemas."""

    system: str
    schemas: str
    tokens: int  # estimated tokens of both

    @staticmethod
    def of(spec: PersonaSpec, tools: list[Any]) -> _FixedParts:
        system = spec.system_prompt()
        schemas = json.dumps([[t.name, t.description, t.parameters] for t in tools], default=str)
        return _FixedParts(system, schemas, estimate_tokens(system) + estimate_tokens(schemas))
