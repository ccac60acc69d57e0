"""Rules routing: task type, tags, keywords, length and stakes pick the profile."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import UnknownNameError
from orchestrator.routing.base import (
    RouteDecision,
    RouteRequest,
)
from orchestrator.routing.capability import FilteredStrategy, climb, profile_of
from orchestrator.routing.latency import LatencyStore, latency_of

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry
    from orchestrator.routing.spec import RuleSpec


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
        if rule is not None and rule.spec.use_model is not None:
            features["ties"] = [rule.spec.use_model]  # a rule naming one model leaves nothing for affinity to pick
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
