"""Routing inside a run: pick each phase's model with the configured strategy and log every decision."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.routing.spec import RoutingSpec

CLIMBING = ("cascade", "predictive")
"""Strategies that pick their own start rung and climb from it when the workflow escalates the persona."""


@dataclass
class RunRouter:
    """Chooses models for a run's phases and learns from its gate outcomes."""

    registry: Any
    spec: Any  # WorkflowSpec
    state_dir: Path
    runlog: Any
    run_id: str
    pin: str | None = None
    task: str = ""
    _strategies: dict[str, Any] = field(default_factory=dict)
    _keys: dict[int, tuple[RoutingSpec, str]] = field(default_factory=dict)
    _pinned: RoutingSpec | None = None
    _affinity: Any = None
    _latency: Any = None

    @property
    def affinity(self) -> Any:
        """The run's prefix-cache affinity: which model holds each persona's cached prompt prefix."""
        if self._affinity is None:
            from orchestrator.models.affinity import PrefixAffinity

            self._affinity = PrefixAffinity(self.registry)
        return self._affinity

    def use_registry(self, registry: Any) -> None:
        """Route with a new registry (roles rebound mid-run): strategies are built again from it."""
        self.registry = registry
        self._strategies.clear()
        self._affinity = None

    def record_call(self, persona: str, model: str, prompt_tokens: int) -> None:
        """Remember the model that now holds the persona's cached prefix."""
        self.affinity.record(persona, model, prompt_tokens)

    def routing_for(self, step: Any, persona: str) -> RoutingSpec:
        """Pinned beats everything; then the step's strategy, the persona's, the workflow default."""
        if self.pin:
            if self._pinned is None or self._pinned.pin != self.pin:
                self._pinned = RoutingSpec(strategy="pinned", pin=self.pin)
            return self._pinned
        return step.routing or self.spec.routing.personas.get(persona) or self.spec.routing.default

    def strategy(self, routing: RoutingSpec) -> Any:
        """The built strategy for a routing spec, once per run (bandit state and caches live in it)."""
        from orchestrator.routing.build import build_strategy

        # The key is the spec's JSON, made once per spec object (the run's specs live as long as the router).
        known = self._keys.get(id(routing))
        key = known[1] if known is not None and known[0] is routing else routing.model_dump_json()
        self._keys[id(routing)] = (routing, key)
        if key not in self._strategies:
            self._strategies[key] = self._from_log(build_strategy(routing, self.registry, self.state_dir,
                                                                  base_dir=None))
        return self._strategies[key]

    def _from_log(self, strategy: Any) -> Any:
        """Learned state comes from the run log's rows, which concurrent runs only append to, never a state file
        rewritten whole: a bandit replays every settled bandit decision on top of its state file, now read-only
        (a prior someone set), and a rules strategy reads the latencies."""
        if getattr(strategy, "name", "") == "bandit":
            strategy.path = None
            strategy.learn(self.runlog.bandit_outcomes())
        if hasattr(strategy, "latency"):
            strategy.latency = self.latency
        return strategy

    def choose(self, step: Any, persona: str, text: str, candidates: list[str], rung: int = 0,
               needs_tools: bool = True, why: str = "", **request: Any) -> tuple[Any, int]:
        """(decision, decision id) for one phase; a cascade starts cheap and climbs `rung` times."""
        decision = self.explain(step, persona, text, candidates, rung, needs_tools, why, **request)
        return decision, self.runlog.decision(self.run_id, step.id, persona, decision)

    def explain(self, step: Any, persona: str, text: str, candidates: list[str], rung: int = 0,
                needs_tools: bool = True, why: str = "", **request: Any) -> Any:
        """The routing decision for one call, without logging it; `request` adds RouteRequest fields
        (est_tokens for the whole prompt, completion_tokens, usd_left)."""
        from orchestrator.routing.base import RouteRequest
        from orchestrator.routing.order import decide

        routing = self.routing_for(step, persona)
        resolved = self.registry.resolve(persona)
        # A model id bound by the user (not a profile, not the shipped defaults) is where a cascade starts.
        bound = resolved.model if resolved.profile is None and resolved.source not in ("shipped", "default") else None
        route_request = RouteRequest(persona=persona, step=step.id, text=text, task_type=step.task_type or step.id,
                                     tags=frozenset(step.tags), stakes=step.stakes, interactive=step.interactive,
                                     needs_tools=needs_tools, profile=resolved.profile, bound_model=bound,
                                     intent_text=self.intent_text(step), **request)
        escalations = rung if routing.strategy in CLIMBING else 0
        return decide(self.strategy(routing), route_request, candidates, escalations=escalations, why=why,
                      affinity=self.affinity, latency=self.latency)

    @property
    def latency(self) -> Any:
        """The learned latencies, replayed from the run log's latest calls once per session."""
        if self._latency is None:
            from orchestrator.routing.latency import LatencyStore

            self._latency = LatencyStore.from_observations(self.runlog.recent_latencies())
        return self._latency

    def intent_text(self, step: Any) -> str:
        """What the step's work is: the run's task and the step's own text (never the packet, which grows)."""
        own = getattr(step, "instructions", "") or step.description or step.id
        return f"{self.task.strip()}\n{own.replace('{task}', '').strip()}".strip()

    def learn_latency(self, model: str, seconds: float) -> None:
        """Feed a call's latency into this session's averages (the call's row in the run log keeps it for later)."""
        self.latency.learn(model, seconds, persist=False)

    def cascades(self, step: Any, persona: str) -> bool:
        """True when this persona's strategy climbs from its own pick on a failed gate (cascade, predictive)."""
        return self.routing_for(step, persona).strategy in CLIMBING

    def settle(self, gate: str, outcome: str) -> list[dict[str, Any]]:
        """Record a gate outcome on the decisions it judges, reward the bandit with it, and return them."""
        bandits = [s for s in self._strategies.values() if getattr(s, "name", "") == "bandit"]
        rows = self.runlog.settle_decisions(self.run_id, gate, outcome)
        for row in rows:
            if row["strategy"] == "bandit" and bandits:
                task = json.loads(row["features"] or "{}").get("task_type", "")
                bandits[0].update(task, row["chosen"], outcome == "pass", row["cost_usd"] or 0.0)
        return rows


def check_routing_targets(registry: Any, spec: Any) -> None:
    """Every profile and model id a workflow's routing names is checked before the run's first call."""
    from orchestrator.routing.capability import check_target

    for where, target in routing_targets(spec):
        check_target(registry, target, where)


def routing_targets(spec: Any) -> list[tuple[str, str]]:
    """(field path, target) of each profile or model a workflow's `routing:` names (rules, semantic's inline
    intents and fallback, speculative's drafter and verifier, a pin)."""
    specs = [("routing.default", spec.routing.default),
             *((f"routing.personas.{name}", r) for name, r in spec.routing.personas.items()),
             *((f"steps[{i}].routing", s.routing) for i, s in enumerate(spec.steps) if s.routing)]
    found: list[tuple[str, str]] = []
    for where, routing in specs:
        for i, rule in enumerate(routing.rules):
            found += [(f"{where}.rules[{i}].{key}", value) for key in ("use_model", "use_profile")
                      if (value := getattr(rule, key))]
        semantic = routing.semantic
        if semantic is not None:
            found += [(f"{where}.semantic.intents.{n}.target", i.target) for n, i in semantic.intents.items()]
            found += [(f"{where}.semantic.fallback", semantic.fallback)] if semantic.fallback else []
        found += [(f"{where}.speculative.{key}", value) for key in ("drafter", "verifier")
                  if (value := getattr(routing.speculative, key))]
        found += [(f"{where}.pin", routing.pin)] if routing.pin else []
    return found

