"""Routing inside a run: pick each phase's model with the configured strategy and log every decision."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.routing.spec import RoutingSpec


@dataclass
class RunRouter:
    """Chooses models for a run's phases and learns from its gate outcomes."""

    registry: Any
    spec: Any  # WorkflowSpec
    state_dir: Path
    runlog: Any
    run_id: str
    pin: str | None = None
    _strategies: dict[str, Any] = field(default_factory=dict)
    _affinity: Any = None

    @property
    def affinity(self) -> Any:
        """The run's prefix-cache affinity: which model holds each persona's cached prompt prefix."""
        if self._affinity is None:
            from orchestrator.models.affinity import PrefixAffinity

            self._affinity = PrefixAffinity(self.registry)
        return self._affinity

    def record_call(self, persona: str, model: str, prompt_tokens: int) -> None:
        """Remember the model that now holds the persona's cached prefix."""
        self.affinity.record(persona, model, prompt_tokens)

    def routing_for(self, step: Any, persona: str) -> RoutingSpec:
        """Pinned beats everything; then the step's strategy, the persona's, the workflow default."""
        if self.pin:
            return RoutingSpec(strategy="pinned", pin=self.pin)
        return step.routing or self.spec.routing.personas.get(persona) or self.spec.routing.default

    def strategy(self, routing: RoutingSpec) -> Any:
        """The built strategy for a routing spec, once per run (bandit state and caches live in it)."""
        from orchestrator.routing.build import build_strategy

        key = routing.model_dump_json()
        if key not in self._strategies:
            self._strategies[key] = build_strategy(routing, self.registry, self.state_dir, base_dir=None)
        return self._strategies[key]

    def choose(self, step: Any, persona: str, text: str, candidates: list[str], rung: int = 0,
               needs_tools: bool = True) -> tuple[Any, int]:
        """(decision, decision id) for one phase; a cascade starts cheap and climbs `rung` times."""
        decision = self.explain(step, persona, text, candidates, rung, needs_tools)
        return decision, self.runlog.decision(self.run_id, step.id, persona, decision)

    def explain(self, step: Any, persona: str, text: str, candidates: list[str], rung: int = 0,
                needs_tools: bool = True) -> Any:
        """The routing decision for one call, without logging it."""
        from orchestrator.routing.base import RouteRequest

        routing = self.routing_for(step, persona)
        resolved = self.registry.resolve(persona)
        request = RouteRequest(persona=persona, step=step.id, text=text, task_type=step.task_type or step.id,
                               tags=frozenset(step.tags), stakes=step.stakes, interactive=step.interactive,
                               needs_tools=needs_tools, profile=resolved.profile)
        strategy = self.strategy(routing)
        decision = strategy.route(request, candidates)
        if routing.strategy == "cascade":
            for _ in range(rung):
                decision = strategy.escalate(decision, request, "a gate failed") or decision
        elif routing.strategy != "pinned" and rung == 0:
            self._keep_cached_prefix(persona, decision)
        return decision

    def _keep_cached_prefix(self, persona: str, decision: Any) -> None:
        """Stay on the model holding the persona's cached prefix unless the expected gain beats the saving.

        Escalations (cascade, ladder rungs) and pinned runs switch for quality or policy, never for cache.
        """
        holder = self.affinity.holder(persona)
        if holder is None or holder == decision.chosen or holder not in decision.candidates:
            return
        gain = float(decision.features.get("expected_gain_usd", 0.0))
        verdict = self.affinity.decide(persona, decision.chosen, expected_gain_usd=gain)
        decision.reason += f"; affinity: {verdict.reason}"
        if verdict.stay:
            decision.candidates = [holder, *[m for m in decision.candidates if m != holder]]
            decision.chosen = holder

    def learn_latency(self, model: str, seconds: float) -> None:
        """Feed a call's latency into the typical-latency averages that interactive routing reads."""
        from orchestrator.routing.latency import learn_latency

        learn_latency(self.state_dir, model, seconds)

    def cascades(self, step: Any, persona: str) -> bool:
        """True when this persona's calls at this step escalate by cascade on a failed gate."""
        return self.routing_for(step, persona).strategy == "cascade"

    def settle(self, gate: str, outcome: str) -> None:
        """Record a gate outcome on the decisions it judges, and reward the bandit with it."""
        bandits = [s for s in self._strategies.values() if getattr(s, "name", "") == "bandit"]
        for row in self.runlog.settle_decisions(self.run_id, gate, outcome):
            if row["strategy"] == "bandit" and bandits:
                task = json.loads(row["features"] or "{}").get("task_type", "")
                bandits[0].update(task, row["chosen"], outcome == "pass", row["cost_usd"] or 0.0)
