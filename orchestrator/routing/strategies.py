"""Deterministic strategies: the capability filter, static, pinned and rules (with learned latency)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError, UnknownNameError
from orchestrator.routing.base import (
    RouteDecision,
    RouteRequest,
    dedupe,
    make_decision,
    read_json_state,
    write_json_state,
)

if TYPE_CHECKING:
    from orchestrator.models.registry import ModelInfo, Registry
    from orchestrator.routing.config import RuleSpec

LATENCY_FILE = "latency.json"


class CapabilityFilter:
    """Drops models that can't serve a request: context window, tool support, required `key:value` tags."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._info: dict[str, ModelInfo] = {}

    def info(self, model: str) -> ModelInfo:
        """The registry's metadata for a model, cached because the registry never changes during a run."""
        if model not in self._info:
            self._info[model] = self.registry.model_info(model)
        return self._info[model]

    def why_unfit(self, request: RouteRequest, model: str) -> str | None:
        """Why the model can't serve the request, or None when it can."""
        info = self.info(model)
        if info.context_window < request.tokens:
            return f"context window {info.context_window} < {request.tokens} tokens"
        if request.needs_tools and not info.supports_tools:
            return "no tool support and the step needs tools"
        missing = sorted(request.required_tags - set(info.tags))
        if missing:
            return f"lacks required tag{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        return None

    def split(self, request: RouteRequest, models: list[str]) -> tuple[list[str], dict[str, str]]:
        """Models that fit (order kept) and {dropped model: why}."""
        kept, dropped = [], {}
        for model in models:
            why = self.why_unfit(request, model)
            if why is None:
                kept.append(model)
            else:
                dropped[model] = why
        return kept, dropped

    def apply(self, request: RouteRequest, models: list[str]) -> list[str]:
        """The models that fit; raise ConfigError naming the request and every drop when none does."""
        kept, dropped = self.split(request, models)
        if not kept:
            raise ConfigError(no_fit_message(request, dropped))
        return kept


def no_fit_message(request: RouteRequest, dropped: dict[str, str]) -> str:
    """The error text when the capability filter leaves nothing."""
    reasons = "; ".join(f"{model}: {why}" for model, why in dropped.items()) or "no candidates given"
    return (
        f"routing persona {request.persona!r} at step {request.step!r}: no candidate model fits the request "
        f"({reasons}). Bind a model that fits in models.yaml (context window, supports_tools, tags) "
        "or shrink the request."
    )


def check_target(registry: Registry, target: str, where: str) -> None:
    """A routing target must be a profile or look like a model id (provider/name, or known to the registry)."""
    if target not in registry.profiles and "/" not in target and not registry.has_model_entry(target):
        raise UnknownNameError("profile or model", target, registry.profiles, where=where)


def models_for(registry: Registry, target: str) -> list[str]:
    """A profile's models in failover order, or the single model a non-profile name denotes."""
    return registry.models_for_profile(target) if target in registry.profiles else [target]


class FilteredStrategy:
    """Base of every strategy: holds the registry and the filter, and finishes decisions through the filter."""

    name = "base"

    def __init__(self, registry: Registry):
        self.registry = registry
        self.filter = CapabilityFilter(registry)

    def finish(
        self,
        request: RouteRequest,
        ordered: list[str],
        reason: str,
        started: float,
        features: dict[str, Any] | None = None,
    ) -> RouteDecision:
        """Filter the ordered models (always), note any drops in the reason, and time the decision."""
        kept, dropped = self.filter.split(request, dedupe(ordered))
        if not kept:
            raise ConfigError(no_fit_message(request, dropped))
        features = dict(features or {})
        if dropped:
            features["dropped"] = dropped
            reason += "; filtered out " + ", ".join(f"{m} ({why})" for m, why in dropped.items())
        return make_decision(self.name, request, kept, reason, started, features)


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


class LatencyStore:
    """Exponential moving averages of observed call latency per model, kept in a JSON file."""

    def __init__(self, path: Path, alpha: float = 0.3):
        self.path = Path(path)
        self.alpha = alpha
        self._values: dict[str, float] = {
            str(k): float(v) for k, v in read_json_state(self.path).items() if isinstance(v, (int, float))
        }

    @classmethod
    def in_dir(cls, state_dir: Path) -> LatencyStore:
        """The store kept in a state directory."""
        return cls(Path(state_dir) / LATENCY_FILE)

    def get(self, model: str) -> float | None:
        """The learned average latency in seconds, or None before the first observation."""
        return self._values.get(model)

    def learn(self, model: str, seconds: float) -> float:
        """Fold one observation into the average, persist it, and return the new average."""
        old = self._values.get(model)
        new = seconds if old is None else self.alpha * seconds + (1 - self.alpha) * old
        self._values[model] = new
        write_json_state(self.path, self._values)
        return new


def learn_latency(store_or_dir: LatencyStore | Path | str, model: str, seconds: float) -> float:
    """Record one observed latency for a model (a store or a state directory); returns the new average."""
    store = store_or_dir if isinstance(store_or_dir, LatencyStore) else LatencyStore.in_dir(Path(store_or_dir))
    return store.learn(model, seconds)


def latency_of(registry: Registry, model: str, store: LatencyStore | None = None) -> float:
    """Learned latency when there is one, else the registry's typical latency."""
    learned = store.get(model) if store else None
    return learned if learned is not None else registry.model_info(model).typical_latency_s


def climb(registry: Registry, profile: str, rungs: int) -> tuple[str, int]:
    """Climb up to `rungs` rungs from a profile; returns the profile reached and how many rungs it climbed."""
    climbed = 0
    while climbed < rungs:
        nxt = registry.next_rung(profile)
        if nxt is None:
            break
        profile, climbed = nxt, climbed + 1
    return profile, climbed


def profile_of(registry: Registry, request: RouteRequest, candidates: list[str]) -> str | None:
    """The persona's profile, or for a direct model binding the lowest ladder rung serving its model."""
    if request.profile:
        return request.profile
    for rung in registry.ladder:
        if candidates and candidates[0] in registry.models_for_profile(rung):
            return rung
    return None


@dataclass(frozen=True)
class _Rule:
    """A rule compiled for fast matching (keyword regexes built once)."""

    label: str
    spec: RuleSpec
    any_words: re.Pattern[str] | None
    all_words: tuple[re.Pattern[str], ...]

    def matches(self, request: RouteRequest) -> bool:
        """Every condition that is set holds for the request."""
        w = self.spec.when
        checks = (
            not w.task_type or request.task_type in w.task_type,
            not w.persona or request.persona in w.persona,
            not w.stakes or request.stakes in w.stakes,
            w.interactive is None or request.interactive == w.interactive,
            not w.tags_any or bool(request.tags & set(w.tags_any)),
            set(w.tags_all) <= request.tags,
            _within(len(request.text), w.min_chars, w.max_chars),
            _within(request.tokens, w.min_tokens, w.max_tokens),
        )
        if not all(checks):
            return False
        if self.any_words is not None and not self.any_words.search(request.text):
            return False
        return all(p.search(request.text) for p in self.all_words)


def _within(value: int, low: int | None, high: int | None) -> bool:
    """True when value lies within the optional inclusive bounds."""
    return (low is None or value >= low) and (high is None or value <= high)


def _word(words: list[str]) -> re.Pattern[str]:
    """One case-insensitive pattern matching any of the words as whole words."""
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


def compile_rules(registry: Registry, rules: list[RuleSpec]) -> list[_Rule]:
    """Compile rules, refusing unknown profiles now rather than mid-run."""
    compiled = []
    for index, rule in enumerate(rules):
        label = rule.name or f"rule[{index}]"
        if rule.use_profile is not None and rule.use_profile not in registry.profiles:
            raise UnknownNameError("profile", rule.use_profile, registry.profiles, where=f"routing.rules[{index}]")
        any_words = _word(rule.when.keywords_any) if rule.when.keywords_any else None
        compiled.append(_Rule(label, rule, any_words, tuple(_word([w]) for w in rule.when.keywords_all)))
    return compiled


class RulesStrategy(FilteredStrategy):
    """First matching rule wins; high stakes climb the ladder by default; interactive steps prefer fast models."""

    name = "rules"

    def __init__(
        self,
        registry: Registry,
        rules: list[RuleSpec] | None = None,
        *,
        high_stakes_climb: int = 1,
        interactive_latency: bool = True,
        latency: LatencyStore | None = None,
    ):
        super().__init__(registry)
        self.rules = compile_rules(registry, list(rules or []))
        self.high_stakes_climb = high_stakes_climb
        self.interactive_latency = interactive_latency
        self.latency = latency

    def route(self, request: RouteRequest, candidates: list[str]) -> RouteDecision:
        """Apply the first matching rule (or the high-stakes default), then the latency preference."""
        started = time.perf_counter()
        rule = next((r for r in self.rules if r.matches(request)), None)
        if rule is not None:
            primary, reason = self._act(rule.spec, request, candidates)
            reason = f"rules: {rule.label} matched, {reason}"
        elif request.stakes == "high" and self.high_stakes_climb:
            primary, reason = self._climb(request, candidates, self.high_stakes_climb)
            reason = f"rules: high stakes, {reason}"
        else:
            primary, reason = list(candidates), "rules: no rule matched, persona's models"
        features: dict[str, Any] = {"rule": rule.label if rule else None}
        if request.interactive and self.interactive_latency and len(primary) > 1:
            primary = sorted(primary, key=lambda m: latency_of(self.registry, m, self.latency))
            reason += "; interactive: lowest latency first"
        # The persona's own models stay behind the chosen group as failovers.
        return self.finish(request, [*primary, *candidates], reason, started, features)

    def _act(self, rule: RuleSpec, request: RouteRequest, candidates: list[str]) -> tuple[list[str], str]:
        """The models a matched rule's action selects, and how to describe it."""
        if rule.use_profile is not None:
            return self.registry.models_for_profile(rule.use_profile), f"profile {rule.use_profile}"
        if rule.use_model is not None:
            return [rule.use_model], f"model {rule.use_model}"
        return self._climb(request, candidates, rule.climb or 0)

    def _climb(self, request: RouteRequest, candidates: list[str], rungs: int) -> tuple[list[str], str]:
        """Models of the profile `rungs` above the persona's, or the candidates when it can't climb."""
        start = profile_of(self.registry, request, candidates)
        if start is None:
            return list(candidates), "no ladder rung to climb from (the persona is bound to a model)"
        reached, climbed = climb(self.registry, start, rungs)
        if climbed == 0:
            return list(candidates), f"{start} is at the top of the ladder (or off it); no climb"
        return self.registry.models_for_profile(reached), f"climbed {climbed} rung(s) {start} -> {reached}"


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
