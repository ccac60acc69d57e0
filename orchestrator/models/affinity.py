"""Prefix-cache affinity: in a run, a persona stays on the model holding its cached prefix unless leaving pays."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.models import catalog
from orchestrator.models.ids import normalise_model_id
from orchestrator.models.scope import breaker_for

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry


@dataclass(frozen=True)
class AffinityDecision:
    """Which model to call, whether that means staying on the cache holder, and why (with the numbers)."""

    model: str
    stay: bool
    reason: str
    cache_saving_usd: float = 0.0
    expected_gain_usd: float = 0.0


@dataclass(frozen=True)
class _Held:
    model: str
    prompt_tokens: int


class PrefixAffinity:
    """One run's memory of persona -> model holding its cached prefix, and the stay-or-switch rule."""

    def __init__(self, registry: Registry | None = None):
        self.registry = registry
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()

    def holder(self, persona: str) -> str | None:
        """The model that answered the persona last, so holds its prompt prefix in cache (None at first)."""
        with self._lock:
            held = self._held.get(persona)
        return held.model if held else None

    def record(self, persona: str, model: str, prompt_tokens: int = 0) -> None:
        """Remember the model that just answered the persona, and how long the prompt was."""
        with self._lock:
            self._held[persona] = _Held(normalise_model_id(model), prompt_tokens)

    def decide(
        self, persona: str, proposed: str, *, expected_gain_usd: float, prompt_tokens: int | None = None
    ) -> AffinityDecision:
        """Stay on the holder unless the router's expected gain beats the saving of the holder's cached prefix.

        The gain is in dollars: price a quality gain first (e.g. pass-rate gain x cost of a failed phase).
        `prompt_tokens` is the prefix that would hit the cache; by default the last prompt's length.
        """
        proposed = normalise_model_id(proposed)
        with self._lock:
            held = self._held.get(persona)
        if held is None:
            return AffinityDecision(proposed, False, f"no cached prefix for {persona!r} yet")
        if held.model == proposed:
            return AffinityDecision(proposed, True, f"{proposed} already holds the cached prefix")
        if breaker_for(held.model).state == "open":
            return AffinityDecision(proposed, False, f"{held.model} holds the prefix but its circuit is open")
        tokens = held.prompt_tokens if prompt_tokens is None else prompt_tokens
        saving = self.cache_saving_usd(held.model, tokens)
        numbers = f"expected gain ${expected_gain_usd:.6f} vs cache saving ${saving:.6f} on {tokens} tokens"
        if saving <= 0 or expected_gain_usd > saving:  # no real saving: switching always wins
            return AffinityDecision(proposed, False, f"switch to {proposed}: {numbers}", saving, expected_gain_usd)
        return AffinityDecision(held.model, True, f"stay on {held.model}: {numbers}", saving, expected_gain_usd)

    def tie_break(self, persona: str, chosen: str, ties: list[str]) -> AffinityDecision:
        """Between models the strategy ranks equal, stay on the prefix holder only when that is cheaper.

        The saving is the chosen model's full input price minus the holder's cache-read price, times the
        cached prefix; with no cache-read price known there is no saving and the strategy's choice stands.
        """
        with self._lock:
            held = self._held.get(persona)
        if held is None or held.model == normalise_model_id(chosen):
            return AffinityDecision(chosen, False, "no other model holds a cached prefix")
        if held.model not in ties:
            return AffinityDecision(chosen, False, f"{held.model} holds the prefix but the strategy prefers "
                                                   f"{chosen} (not a tie)")
        if breaker_for(held.model).state == "open":
            return AffinityDecision(chosen, False, f"{held.model} holds the prefix but its circuit is open")
        cached = self._prices(held.model)[1]
        if cached is None:
            return AffinityDecision(chosen, False, f"{held.model} holds the prefix but has no cache-read price")
        saving = (self._prices(chosen)[0] - cached) * held.prompt_tokens
        numbers = f"saving ${saving:.6f} on a {held.prompt_tokens}-token cached prefix"
        if saving <= 0:
            return AffinityDecision(chosen, False, f"keep {chosen}: {numbers}", saving)
        return AffinityDecision(held.model, True, f"tie: stay on {held.model}, {numbers}", saving)

    def cache_saving_usd(self, model: str, prompt_tokens: int) -> float:
        """What the cached prefix saves on the next call: (input price - cache-read price) x prompt tokens."""
        price, cached = self._prices(model)
        if cached is None:  # no cache-read price known: assume no discount rather than invent one
            return 0.0
        return max(0.0, price - cached) * prompt_tokens

    def _prices(self, model: str) -> tuple[float, float | None]:
        """(input price, cache-read price) per token: registry first, then LiteLLM's cost map."""
        litellm = catalog.litellm_entry(model) or {}
        published = catalog.published_entry(model)
        if self.registry is not None:
            info = self.registry.model_info(model)
            price, cached = info.input_cost_per_token, info.cache_read_input_token_cost
        else:
            price = float(published.get("input_cost_per_token", litellm.get("input_cost_per_token", 0.0)) or 0.0)
            cached = published.get("cache_read_input_token_cost", litellm.get("cache_read_input_token_cost"))
        return price, float(cached) if cached is not None else None
