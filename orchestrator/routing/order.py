"""The order of concerns for one call, in one place: hard filters, the strategy's choice, the step's
declarations, prompt-cache affinity as a tie-break, then failover; each stage's effect is logged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.routing.base import RouteDecision, RouteRequest, dedupe
from orchestrator.routing.capability import climb
from orchestrator.routing.registry import step_blind_strategies

if TYPE_CHECKING:
    from orchestrator.models.affinity import PrefixAffinity
    from orchestrator.routing.latency import LatencyStore

OWN_STAKES = ("rules", "cascade")
"""Strategies that read `stakes: high` themselves (rules climb configurably, a cascade starts a rung up)."""

OWN_INTERACTIVE = ("rules",)
"""Strategies that read `interactive` themselves; the others get the shared fastest-of-equals rule."""

PICKS_A_MODEL = ("bandit", "pinned", "parallel", "speculative")
"""Strategies whose choice is one model, not a profile: nothing ties with it, so affinity never moves it."""


def decide(strategy: Any, request: RouteRequest, candidates: list[str], *, escalations: int = 0, why: str = "",
           affinity: PrefixAffinity | None = None, latency: LatencyStore | None = None) -> RouteDecision:
    """Route one call through every stage in order; `features['stages']` says what each one did.

    The hard filters are `CapabilityFilter.why_unfit`, which every strategy applies to every model it
    proposes, so no stage can pick a model that fails one. Escalations (cascade rungs) and pinned runs
    switch for quality or policy, never for cache.
    """
    decision = strategy.route(request, candidates)
    stages: dict[str, Any] = {"filters": dict(decision.features.get("dropped", {})) or "every model fits",
                              "strategy": f"{decision.chosen}: {decision.reason}"}
    for _ in range(escalations):
        climbed = strategy.escalate(decision, request, why or "a gate failed")
        if climbed is None:
            stages["escalation"] = f"{decision.chosen}: no rung to climb to ({why or 'a gate failed'}), stays"
            break
        decision = climbed
        stages["escalation"] = f"{decision.chosen}: {decision.reason}"
    stages["declarations"] = honour_declarations(strategy, request, decision, latency)
    if escalations == 0 and strategy.name != "pinned" and affinity is not None:
        stages["affinity"] = _tie_break(strategy, request, decision, affinity)
    stages["failover"] = list(decision.candidates[1:])
    decision.features["stages"] = stages
    return decision


def honour_declarations(strategy: Any, request: RouteRequest, decision: RouteDecision,
                        latency: LatencyStore | None) -> str:
    """The shared stakes and interactivity rules for strategies that don't apply their own; what was done."""
    notes = []
    for declared, own, apply in (
        (request.stakes == "high", OWN_STAKES, lambda: _climb_for_stakes(strategy, request, decision)),
        (request.interactive, OWN_INTERACTIVE, lambda: _fastest_first(strategy, decision, latency)),
    ):
        if not declared:
            continue
        what = "stakes high" if own is OWN_STAKES else "interactive"
        if strategy.name in own:
            notes.append(f"{what}: applied by {strategy.name} itself")
        elif strategy.name in step_blind_strategies():  # `validate` refuses these pairs; only `--pin` gets here
            notes.append(f"{what}: not honoured, {strategy.name} routing can't")
        else:
            note = apply()
            decision.reason += f"; {note}"
            notes.append(note)
    return "; ".join(notes) or "none declared"


def _climb_for_stakes(strategy: Any, request: RouteRequest, decision: RouteDecision) -> str:
    """High stakes: the chosen model's rung climbs one; the strategy's models stay behind as failovers."""
    registry = strategy.registry
    start = next((p for p in registry.ladder if decision.chosen in registry.models_for_profile(p)), None)
    if start is None:
        return f"stakes high: {decision.chosen} is on no ladder rung, no climb"
    reached, climbed = climb(registry, start, 1)
    if not climbed:
        return f"stakes high: {start} is the top rung already"
    kept = strategy.filter.split(request, registry.models_for_profile(reached))[0]
    if not kept:
        return f"stakes high: nothing fits above {start}, no climb"
    _reorder(decision, [*kept, *decision.candidates])
    return f"stakes high: climbed {start} -> {reached}"


def _fastest_first(strategy: Any, decision: RouteDecision, latency: LatencyStore | None) -> str:
    """Interactive: among the chosen model's ties, the lowest typical latency first."""
    from orchestrator.routing.latency import latency_of

    ties = ties_of(strategy, decision)
    if len(ties) < 2:
        return "interactive: no equal model to prefer a faster one"
    fastest = min(ties, key=lambda m: latency_of(strategy.registry, m, latency))
    _reorder(decision, [fastest, *decision.candidates])
    return f"interactive: {fastest} is the fastest of {', '.join(ties)}"


def ties_of(strategy: Any, decision: RouteDecision) -> list[str]:
    """Candidates the strategy ranks equal to its choice: models sharing a profile with it, for profile pickers."""
    explicit = decision.features.get("ties")
    if explicit is not None:
        return [m for m in decision.candidates if m in explicit]
    if strategy.name in PICKS_A_MODEL:
        return [decision.chosen]
    registry = strategy.registry
    peers = {m for p in registry.profiles if decision.chosen in (ms := registry.models_for_profile(p)) for m in ms}
    return [m for m in decision.candidates if m in peers]


def _tie_break(strategy: Any, request: RouteRequest, decision: RouteDecision, affinity: PrefixAffinity) -> str:
    """Stay on the cached-prefix holder only if it ties with the choice and its cache really saves money."""
    verdict = affinity.tie_break(request.persona, decision.chosen, ties_of(strategy, decision))
    if verdict.stay:
        _reorder(decision, [verdict.model, *decision.candidates])
    if verdict.reason != "no other model holds a cached prefix":
        decision.reason += f"; affinity: {verdict.reason}"
    return verdict.reason


def _reorder(decision: RouteDecision, ordered: list[str]) -> None:
    """Put a new order on the decision, first entry chosen."""
    decision.candidates = dedupe(ordered)
    decision.chosen = decision.candidates[0]
