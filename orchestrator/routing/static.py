"""Static routing (persona, profile, first healthy model) and pinned routing (one audited model for every role)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from orchestrator.errors import ConfigError
from orchestrator.routing.base import (
    RouteDecision,
    RouteRequest,
)
from orchestrator.routing.capability import FilteredStrategy, check_target

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry


class StaticStrategy(FilteredStrategy):
    """Persona -> profile -> models in failover order: the predictable default."""

    name = "static"

    def route(self, request: RouteRequest, candidates: list[str]) -> RouteDecision:
        """The candidates as given, filtered."""
        started = time.perf_counter()
        source = f"profile {request.profile}" if request.profile else "the persona's binding"
        return self.finish(request, candidates, f"static: {source} in failover order", started)


class PinnedStrategy(FilteredStrategy):
    """One audited model for every role, routing off: for reproducible or compliant runs."""

    name = "pinned"

    def __init__(self, registry: Registry, model: str):
        super().__init__(registry)
        if model in registry.profiles:
            raise ConfigError(
                f"routing.pin: {model!r} is a profile; pin one model id, e.g. {registry.models_for_profile(model)[0]!r}"
            )
        check_target(registry, model, "routing.pin")
        self.model = model

    def route(self, request: RouteRequest, candidates: list[str]) -> RouteDecision:
        """Always the pinned model, with no failover to other models."""
        started = time.perf_counter()
        return self.finish(request, [self.model], f"pinned: routing off, every role uses {self.model}", started)
