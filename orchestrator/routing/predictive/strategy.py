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
        """Score the request (task type as the source); at or above the threshold, the strong profile."""
        started = time.perf_counter()
        score = float(self.router.score(request.text, source=request.task_type))
        strong = score >= self.threshold
        profile = self.strong if strong else self.weak
        reason = f"predictive: score {score:.3f} {'>=' if strong else '<'} {self.threshold:.3f} -> {profile}"
        features = {"score": round(score, 4), "threshold": self.threshold, "strong": strong}
        return self.finish(
            request, [*self.registry.models_for_profile(profile), *candidates], reason, started, features
        )
