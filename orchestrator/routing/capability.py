"""The capability filter (context window, tools, tags), always on, and the base of every strategy that uses it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError, UnknownNameError
from orchestrator.routing.base import (
    RouteDecision,
    RouteRequest,
    dedupe,
    make_decision,
)

if TYPE_CHECKING:
    from orchestrator.models.registry import ModelInfo, Registry


class CapabilityFilter:
    """The hard filters, in one place: context window, tool support, `key:value` tags, price known, budget left."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._info: dict[str, ModelInfo] = {}
        self._counted: dict[tuple[str, str], tuple[int, str]] = {}

    def prompt_tokens(self, request: RouteRequest, model: str) -> tuple[int, str]:
        """(prompt tokens for this model, how counted): with the request's whole prompt text, the model's own
        tokenizer for an embedded model, else a conservative estimate (never below the request's own)."""
        if not request.prompt_text:
            return request.tokens, "estimate"
        key = (model, request.prompt_text)
        if key not in self._counted:
            from orchestrator.models.tokens import count_prompt_tokens

            if len(self._counted) > 64:  # one run routes a handful of prompts at a time; keep it small
                self._counted.clear()
            tokens, how = count_prompt_tokens(model, request.prompt_text)
            self._counted[key] = (tokens if how == "tokenizer" else max(tokens, request.tokens), how)
        return self._counted[key]

    def info(self, model: str) -> ModelInfo:
        """The registry's metadata for a model, cached because the registry never changes during a run."""
        if model not in self._info:
            self._info[model] = self.registry.model_info(model)
        return self._info[model]

    def why_unfit(self, request: RouteRequest, model: str) -> str | None:
        """Why the model can't serve the request, or None when it can."""
        info = self.info(model)
        prompt, how = self.prompt_tokens(request, model)
        need = prompt + request.completion_tokens
        if info.context_window < need:
            return (f"context window {info.context_window} < {need} tokens "
                    f"({prompt} prompt + {request.completion_tokens} completion; prompt by {how})")
        if request.needs_tools and not info.supports_tools:
            return "no tool support and the step needs tools"
        missing = sorted(request.required_tags - set(info.tags))
        if missing:
            return f"lacks required tag{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        if request.usd_left is not None and not info.price_known:
            return "price unknown under a usd budget: set it in models.yaml or use a token budget"
        return None

    def why_unaffordable(self, request: RouteRequest, model: str) -> str | None:
        """Under a usd cap, why one call of the model would not fit what is left (None when it would)."""
        if request.usd_left is None:
            return None
        info = self.info(model)
        usd = request.tokens * info.input_cost_per_token + request.completion_tokens * info.output_cost_per_token
        if usd > request.usd_left:
            return f"one call (~${usd:.4f}) exceeds the ${request.usd_left:.4f} left in the usd budget"
        return None

    def split(self, request: RouteRequest, models: list[str]) -> tuple[list[str], dict[str, str]]:
        """Models that fit (order kept) and {dropped model: why}.

        Models the budget can't afford are dropped only while an affordable one stays: with none left,
        the budget guard stops the run at the call (exit 3, resumable) rather than routing failing.
        """
        kept, dropped = [], {}
        for model in models:
            why = self.why_unfit(request, model)
            if why is None:
                kept.append(model)
            else:
                dropped[model] = why
        dear = {m: why for m in kept if (why := self.why_unaffordable(request, m))}
        if dear and len(dear) < len(kept):
            kept = [m for m in kept if m not in dear]
            dropped.update(dear)
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
    """A routing target must be a profile or a model id checked like a binding: a near-miss of a known id
    (LiteLLM's list, the embedded models) gets "Did you mean"."""
    from orchestrator.models.ids import normalise_model_id
    from orchestrator.models.registry import model_id_problems

    if target in registry.profiles or registry.has_model_entry(target):
        return
    if "/" not in target:
        raise UnknownNameError("profile or model", target, registry.profiles, where=where)
    problems = model_id_problems(normalise_model_id(target), [], registry.profiles, where)
    if problems:
        raise problems[0]


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
