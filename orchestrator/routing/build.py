"""Build a routing strategy from its spec: the built-in strategies' builders, and the lookup of any registered one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.routing.spec import RoutingSpec, SemanticSpec

if TYPE_CHECKING:  # strategies import lazily: the workflow validator needs only the specs
    from orchestrator.models.registry import Registry
    from orchestrator.routing.base import RoutingStrategy


def build_strategy(
    spec: RoutingSpec, registry: Registry, state_dir: Path, base_dir: Path | None = None
) -> RoutingStrategy:
    """Instantiate the strategy a spec names; heavy modules (torch, numpy) load only for the strategy that needs them.

    `state_dir` holds learned state (bandit posteriors, latency averages); `base_dir` resolves relative files.
    """
    from orchestrator.routing.registry import strategy_entry

    return strategy_entry(spec.strategy).build(spec, registry, Path(state_dir), base_dir)


def _resolve(path: str, base_dir: Path | None) -> Path:
    """A spec's relative file path, taken from the workflow's directory when known."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() or base_dir is None else base_dir / candidate


def build_static(spec: RoutingSpec, registry: Registry, state_dir: Path, base_dir: Path | None
                 ) -> RoutingStrategy:
    from orchestrator.routing.static import StaticStrategy

    return StaticStrategy(registry)


def build_pinned(spec: RoutingSpec, registry: Registry, state_dir: Path, base_dir: Path | None
                 ) -> RoutingStrategy:
    from orchestrator.routing.static import PinnedStrategy

    return PinnedStrategy(registry, spec.pin or "")


def build_rules(spec: RoutingSpec, registry: Registry, state_dir: Path, base_dir: Path | None
                 ) -> RoutingStrategy:
    from orchestrator.routing.latency import LatencyStore
    from orchestrator.routing.rules import RulesStrategy

    return RulesStrategy(
        registry,
        spec.rules,
        high_stakes_climb=spec.high_stakes_climb,
        interactive_latency=spec.interactive_latency,
        latency=LatencyStore.in_dir(state_dir),
    )


def build_cascade(spec: RoutingSpec, registry: Registry, state_dir: Path, base_dir: Path | None
                 ) -> RoutingStrategy:
    from orchestrator.routing.cascade import Cascade

    return Cascade(registry, spec.cascade.start, confidence_threshold=spec.cascade.confidence_threshold)


def build_semantic(spec: RoutingSpec, registry: Registry, state_dir: Path, base_dir: Path | None
                 ) -> RoutingStrategy:
    from orchestrator.routing.semantic import SemanticStrategy, load_intents

    options = spec.semantic or SemanticSpec(intents={})
    intents = dict(load_intents(_resolve(options.intents_file, base_dir))) if options.intents_file else {}
    intents.update(options.intents)
    return SemanticStrategy(registry, intents, threshold=options.threshold, fallback=options.fallback)


def build_bandit(spec: RoutingSpec, registry: Registry, state_dir: Path, base_dir: Path | None
                 ) -> RoutingStrategy:
    from orchestrator.routing.bandit import BanditStrategy

    path = state_dir / f"{spec.bandit.state}.json"
    return BanditStrategy(registry, path, cost_weight=spec.bandit.cost_weight, seed=spec.bandit.seed)


def build_parallel(spec: RoutingSpec, registry: Registry, state_dir: Path, base_dir: Path | None
                 ) -> RoutingStrategy:
    from orchestrator.routing.ensemble import ParallelStrategy

    return ParallelStrategy(registry, spec.parallel.n)


def build_speculative(spec: RoutingSpec, registry: Registry, state_dir: Path, base_dir: Path | None
                 ) -> RoutingStrategy:
    from orchestrator.routing.ensemble import SpeculativeStrategy

    return SpeculativeStrategy(registry, spec.speculative.drafter, spec.speculative.verifier)


def build_predictive(spec: RoutingSpec, registry: Registry, state_dir: Path, base_dir: Path | None
                 ) -> RoutingStrategy:
    from orchestrator.routing.predictive.router import PredictiveRouter
    from orchestrator.routing.predictive.strategy import PredictiveStrategy

    options = spec.predictive
    shipped = Path(__file__).parent / "predictive" / "router_default.json"
    path = _resolve(options.router, base_dir) if options.router else shipped
    return PredictiveStrategy(
        registry,
        PredictiveRouter.load(path),
        strong_profile=options.strong_profile,
        weak_profile=options.weak_profile,
        threshold=options.threshold,
    )
