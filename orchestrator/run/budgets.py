"""Budget enforcement: every model call is checked against the run and phase caps before it is made."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.errors import RunStopped
from orchestrator.models.tokens import count_prompt_tokens
from orchestrator.workflow.budget import BudgetSpec

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry

DEFAULT_MAX_OUTPUT_TOKENS = 512
"""Output tokens assumed for a call that sets no max_tokens (for the pre-call estimate only)."""


class BudgetExceeded(RunStopped):
    """A model call would cross a cap; the call is not made, state is saved, exit code 3."""


@dataclass
class Spend:
    """What a run (or one phase) has used so far."""

    tokens: int = 0
    usd: float = 0.0


@dataclass
class BudgetGuard:
    """Refuses a model call whose estimated cost would cross the run's or the phase's caps."""

    run_caps: BudgetSpec
    phase_caps: dict[str, BudgetSpec]
    registry: Registry
    run_spend: Spend = field(default_factory=Spend)
    phase_spend: dict[str, Spend] = field(default_factory=dict)
    elapsed_before: float = 0.0
    started: float = field(default_factory=time.monotonic)
    phase_started: dict[str, float] = field(default_factory=dict)

    def elapsed(self) -> float:
        """Wall time used by the run, over all of its sessions (resume included)."""
        return self.elapsed_before + time.monotonic() - self.started

    def check(self, step: str, model: str, messages: list[dict[str, Any]], tools: list[Any] | None,
              max_tokens: int | None) -> None:
        """Raise BudgetExceeded, naming the cap and the figure, if this call could cross a cap."""
        phase = self.phase_spend.get(step, Spend())
        capped = [(scope, caps, spent) for scope, caps, spent in (
            ("run", self.run_caps, self.run_spend), (f"phase {step!r}", self.phase_caps.get(step), phase))
            if caps is not None and (caps.tokens is not None or caps.usd is not None)]
        # Estimating the request costs a JSON dump of every message: only when a token or dollar cap applies.
        prompt, output, usd = self.estimate(model, messages, tools, max_tokens) if capped else (0, 0, 0.0)
        for scope, caps, spent in capped:
            self._check_cap(scope, "tokens", caps.tokens, spent.tokens, prompt + output, model)
            self._check_cap(scope, "usd", caps.usd, spent.usd, usd, model)
        if self.run_caps.seconds is not None and self.elapsed() >= self.run_caps.seconds:
            raise BudgetExceeded(f"run wall-time cap of {self.run_caps.seconds:g}s reached "
                                 f"({self.elapsed():.1f}s used); raise it with `resume --budget seconds=...`")
        phase_elapsed = time.monotonic() - self.phase_started.setdefault(step, time.monotonic())
        phase_seconds = (self.phase_caps.get(step) or BudgetSpec()).seconds
        if phase_seconds is not None and phase_elapsed >= phase_seconds:
            raise BudgetExceeded(f"phase {step!r} wall-time cap of {phase_seconds:g}s reached "
                                 f"({phase_elapsed:.1f}s used)")

    def estimate(self, model: str, messages: list[dict[str, Any]], tools: list[Any] | None,
                 max_tokens: int | None) -> tuple[int, int, float]:
        """(prompt tokens, output tokens, dollars) a call could use at most, from its size and the model's price.

        The prompt is counted as the routing context check counts it (the model's own tokenizer, else the
        conservative bytes/3), so a cap errs on the side of holding."""
        prompt = count_prompt_tokens(model, json.dumps(messages, default=str) + "".join(
            json.dumps(t.parameters) for t in tools or []))[0]
        output = max_tokens or DEFAULT_MAX_OUTPUT_TOKENS
        info = self.registry.model_info(model)
        return prompt, output, prompt * info.input_cost_per_token + output * info.output_cost_per_token

    def usd_left(self, step: str) -> float | None:
        """Dollars left under the tightest usd cap (run or this phase), or None when no usd cap applies."""
        scopes = ((self.run_caps, self.run_spend), (self.phase_caps.get(step), self.phase_spend.get(step, Spend())))
        lefts = [caps.usd - spent.usd for caps, spent in scopes if caps is not None and caps.usd is not None]
        return min(lefts) if lefts else None

    @staticmethod
    def _check_cap(scope: str, unit: str, cap: float | None, spent: float, estimate: float, model: str) -> None:
        if cap is None or spent + estimate <= cap:
            return
        fmt = (lambda v: f"${v:.4f}") if unit == "usd" else (lambda v: f"{int(v)} tokens")
        raise BudgetExceeded(
            f"{scope} {unit} budget of {fmt(cap)} would be exceeded: {fmt(spent)} spent + {fmt(estimate)} "
            f"estimated for the next {model} call; the call was not made. Raise it with "
            f"`orchestrator resume RUN_ID --budget {unit}=...`")

    def record(self, step: str, tokens: int, usd: float) -> None:
        """Add a finished call's real tokens and cost to the run and phase totals."""
        for spend in (self.run_spend, self.phase_spend.setdefault(step, Spend())):
            spend.tokens += tokens
            spend.usd += usd
