"""The predictive strategy: a calibrated score picks the weak or the strong rung."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from orchestrator.errors import UnknownNameError
from orchestrator.routing.base import (
    RouteDecision,
    RouteRequest,
)
from orchestrator.routing.capability import FilteredStrategy

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry


class PredictiveStrategy(FilteredStrategy):
    """A calibrated scorer (`PredictiveRouter`-like: `.score(prompt, source)`, `.threshold`) picks weak or strong."""

    name = "predictive"

    def __init__(
        self,
        registry: Registry,
        router: Any,
        *,
        strong_profile: str = "high_reasoning",
        weak_profile: str = "high_throughput",
        threshold: float | None = None,
    ):
        super().__init__(registry)
        for where, profile in (("strong_profile", strong_profile), ("weak_profile", weak_profile)):
            if profile not in registry.profiles:
                raise UnknownNameError("profile", profile, registry.profiles, where=f"routing.predictive.{where}")
        self.router = router
        self.strong, self.weak = strong_profile, weak_profile
        self.threshold = float(router.threshold if threshold is None else threshold)

    def route(self, request: RouteRequest, candidates: list[str]) -> RouteDecision:
        """Score what the work is (the task and the step's instructions, else the packet), with the task type as
        the source; at or above the threshold, the strong profile."""
        started = time.perf_counter()
        score = float(self.router.score(request.intent_text or request.text, source=request.task_type))
        strong = score >= self.threshold
        profile = self.strong if strong else self.weak
        reason = f"predictive: score {score:.3f} {'>=' if strong else '<'} {self.threshold:.3f} -> {profile}"
        features = {"score": round(score, 4), "threshold": self.threshold, "strong": strong, "rung": profile}
        return self.finish(
            request, [*self.registry.models_for_profile(profile), *candidates], reason, started, features
        )

    def escalate(self, decision: RouteDecision, request: RouteRequest | None = None, why: str = ""
                 ) -> RouteDecision | None:
        """After a failed gate, the rung above the one the score picked (None at the top or off the ladder)."""
        started = time.perf_counter()
        rung = decision.features.get("rung")
        above = self.registry.next_rung(rung) if rung in self.registry.ladder else None
        if above is None:
            return None
        models = self.registry.models_for_profile(above)
        kept = self.filter.apply(request, models) if request is not None else models
        if not kept:
            return None
        reason = f"predictive: escalated {rung} -> {above}" + (f": {why}" if why else "")
        features = {**decision.features, "rung": above, "escalations": decision.features.get("escalations", 0) + 1}
        if request is None:
            return RouteDecision(self.name, kept, kept[0], reason, (time.perf_counter() - started) * 1e6, features,
                                 decision.prompt_hash)
        return self.finish(request, kept, reason, started, features)
