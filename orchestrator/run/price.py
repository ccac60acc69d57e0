"""The price of routing: a run's calls as routed beside the same calls on the top rung of the ladder.

Dollars come from the run log (what each call cost) and the registry's prices (what it would have cost on
the top rung's first model). Compute is tokens x parameters, so a run on local models, where every price is
$0, still shows what routing saved. The top rung gets the same prompt and completion token counts: another
model's tokenizer would count a little differently, so the figure is an estimate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry


@dataclass(frozen=True)
class RoutingPrice:
    """What a run's calls cost, and what the same calls would have cost on the top rung."""

    calls: int
    run_usd: float
    top_profile: str | None = None
    top_model: str | None = None
    top_usd: float | None = None
    """None when there is no ladder or nobody prices the top rung's model."""
    top_parameters: int | None = None
    run_compute: float | None = None
    """Tokens x parameters over the calls whose model has a parameter count (None: no such call)."""
    top_compute: float | None = None
    """The same calls' tokens x the top rung model's parameters (None: unknown parameter count)."""
    unsized_models: tuple[str, ...] = ()
    """Models of this run with no parameter count; their calls are left out of both compute figures."""
    unpriced_models: tuple[str, ...] = ()
    """Models of this run nobody prices: their calls count $0 in run_usd."""

    def lines(self) -> list[str]:
        """The comparison in words, e.g. `This run: $0.84. All on the top rung (high_reasoning: m): $6.10.`

        A run whose both sides cost $0 (local or scripted models, all priced) gets no dollar lines: $0 beside $0
        says nothing.
        """
        free = self.run_usd == 0 and not self.top_usd and not self.unpriced_models
        if self.top_model is None:
            return [] if free else [f"This run: {usd(self.run_usd)}. No escalation ladder, so no top rung to "
                                    "compare with."]
        top = usd(self.top_usd) if self.top_usd is not None else "price unknown"
        out = [] if free else [f"This run: {usd(self.run_usd)}. All on the top rung ({self.top_profile}: "
                               f"{self.top_model}): {top}."]
        if self.unpriced_models:
            out.append(f"No price known for {', '.join(self.unpriced_models)}: those calls count $0.")
        if self.run_compute is not None and self.top_compute is not None:
            out.append(f"Compute (tokens x parameters): this run {si(self.run_compute)}, "
                       f"all on the top rung {si(self.top_compute)}.")
            if self.unsized_models:
                out.append(f"Compute leaves out the calls on {', '.join(self.unsized_models)} (no parameter count).")
        elif self.calls and not free:
            missing = [*self.unsized_models, *([] if self.top_parameters else [self.top_model])]
            out.append(f"Compute (tokens x parameters): unknown; no parameter count for "
                       f"{', '.join(dict.fromkeys(missing))} (set `parameters:` in models.yaml).")
        return out


def routing_price(calls: Iterable[dict[str, Any]], registry: Registry) -> RoutingPrice:
    """Price a run's logged calls (model, prompt_tokens, completion_tokens, cost_usd) as run and on the top rung."""
    calls = list(calls)
    run_usd = sum(float(c["cost_usd"] or 0.0) for c in calls)
    info = {m: registry.model_info(m) for m in dict.fromkeys(c["model"] for c in calls)}
    unsized = tuple(m for m, i in info.items() if i.parameters is None)
    unpriced = tuple(m for m, i in info.items() if not i.price_known)
    parameters = {m: i.parameters for m, i in info.items() if i.parameters is not None}
    sized = [c for c in calls if c["model"] in parameters]
    run_compute = sum(_tokens(c) * parameters[c["model"]] for c in sized) if sized else None
    base = RoutingPrice(calls=len(calls), run_usd=run_usd, run_compute=run_compute, unsized_models=unsized,
                        unpriced_models=unpriced)
    if not registry.ladder:
        return base
    profile = registry.ladder[-1]
    top = registry.model_info(registry.models_for_profile(profile)[0])
    top_usd = sum(_prompt(c) * top.input_cost_per_token + _completion(c) * top.output_cost_per_token
                  for c in calls) if top.price_known else None
    top_compute = sum(_tokens(c) for c in sized) * top.parameters if sized and top.parameters else None
    return RoutingPrice(calls=len(calls), run_usd=run_usd, top_profile=profile, top_model=top.id, top_usd=top_usd,
                        top_parameters=top.parameters, run_compute=run_compute, top_compute=top_compute,
                        unsized_models=unsized, unpriced_models=unpriced)


def _prompt(call: dict[str, Any]) -> int:
    return int(call["prompt_tokens"] or 0)


def _completion(call: dict[str, Any]) -> int:
    return int(call["completion_tokens"] or 0)


def _tokens(call: dict[str, Any]) -> int:
    return _prompt(call) + _completion(call)


def usd(value: float) -> str:
    """Dollars for people: `$0.84`, `$0.0031` below a cent, `$0` for nothing."""
    if value == 0:
        return "$0"
    if abs(value) < 0.0001:
        return "<$0.0001"
    return f"${value:.2f}" if abs(value) >= 0.01 else f"${value:.4f}"


def si(value: float) -> str:
    """A large count with an SI prefix: 4.6e12 -> `4.6 T`."""
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}"
    return f"{value:.3g}"
