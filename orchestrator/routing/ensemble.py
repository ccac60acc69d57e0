"""Parallel best-of-n (a judge or a gate picks) and speculative drafting (cheap drafts, strong verifies)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError, ModelError, RealRequestBlockedError, ScriptExhaustedError
from orchestrator.models.scope import run_in_context
from orchestrator.models.types import ModelReply
from orchestrator.routing.base import RouteDecision, RouteRequest
from orchestrator.routing.capability import FilteredStrategy, check_target, models_for, no_fit_message, profile_of

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry

Messages = list[dict[str, Any]]
Call = Callable[[str, Messages], ModelReply]
Judge = Callable[[Messages, list[ModelReply]], Any]
"""Picks among answers: returns the winning index, or (index, reason)."""
Check = Callable[[ModelReply], Any]
"""Accepts or rejects one answer: returns bool, or (ok, reason/feedback)."""


@dataclass
class EnsembleResult:
    """The answer chosen, every answer produced and why, with the summed cost."""

    reply: ModelReply
    replies: list[ModelReply] = field(default_factory=list)
    reason: str = ""
    accepted: bool = True
    refined: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def cost_usd(self) -> float:
        """Total cost of every call made, not only the chosen one."""
        return sum(r.cost_usd for r in self.replies)


def _verdict(value: Any) -> tuple[bool, str]:
    """Normalise a check's answer: bool, 'pass'/'fail' text, or (ok, reason)."""
    if isinstance(value, tuple):
        return bool(value[0]), str(value[1]) if len(value) > 1 else ""
    if isinstance(value, str):
        return value.strip().lower() in {"pass", "ok", "yes", "true"}, value
    return bool(value), ""


def _ask_all(call: Call, models: list[str], messages: Messages) -> tuple[list[ModelReply], dict[str, str]]:
    """Ask every model at once (calls are I/O bound); returns replies in model order and per-model errors."""
    replies: list[ModelReply] = []
    errors: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=len(models)) as pool:
        futures = [(m, pool.submit(run_in_context(call), m, messages)) for m in models]
        for model, future in futures:
            try:
                replies.append(future.result())
            except (ScriptExhaustedError, RealRequestBlockedError):
                raise  # a test's script or a blocked request is a setup error, not one model being down
            except ModelError as exc:  # one failing model must not sink the ensemble
                errors[model] = f"{type(exc).__name__}: {exc}"
            # Anything else (a budget stop, a bug) ends the ensemble: the run's own handling decides.
    if not replies:
        raise ModelError(f"best-of-n: every model failed: {errors}")
    return replies, errors


def best_of_n(
    call: Call,
    models: list[str],
    messages: Messages,
    *,
    judge: Judge | None = None,
    gate: Check | None = None,
) -> EnsembleResult:
    """Ask n models the same thing; a judge picks the answer, or the first (in model order) that passes the gate."""
    if (judge is None) == (gate is None):
        raise ConfigError("best-of-n needs exactly one of judge= or gate= to choose the answer")
    replies, errors = _ask_all(call, list(dict.fromkeys(models)), messages)
    if judge is not None:
        picked = judge(messages, replies)
        index, why = (picked[0], picked[1]) if isinstance(picked, tuple) else (picked, "")
        if not isinstance(index, int) or not 0 <= index < len(replies):
            raise ConfigError(f"best-of-n judge returned {picked!r}; expected an index below {len(replies)}")
        reason = f"judge picked {replies[index].model}" + (f": {why}" if why else "")
        return EnsembleResult(replies[index], replies, reason, True, errors=errors)
    assert gate is not None
    failures = []
    for reply in replies:
        ok, why = _verdict(gate(reply))
        if ok:
            return EnsembleResult(reply, replies, f"gate passed {reply.model}", True, errors=errors)
        failures.append(f"{reply.model}: {why or 'failed'}")
    return EnsembleResult(
        replies[0], replies, "no answer passed the gate: " + "; ".join(failures), False, errors=errors
    )


def refine_messages(messages: Messages, draft: ModelReply, feedback: str) -> Messages:
    """The strong model's prompt: the original request, the draft, and what the check found wrong."""
    return [
        *messages,
        {"role": "assistant", "content": draft.text},
        {
            "role": "user",
            "content": "A reviewer checked the draft above and found problems:\n"
            f"{feedback or '(no details)'}\nWrite a corrected, complete answer to the original request.",
        },
    ]


def speculate(
    call: Call,
    drafter: str,
    verifier: str,
    messages: Messages,
    verify: Check,
) -> EnsembleResult:
    """The drafter answers; `verify` checks the draft; only on failure does the verifier write a refined answer."""
    draft = call(drafter, messages)
    ok, feedback = _verdict(verify(draft))
    if ok:
        return EnsembleResult(draft, [draft], f"draft by {drafter} verified", True)
    refined = call(verifier, refine_messages(messages, draft, feedback))
    return EnsembleResult(
        refined,
        [draft, refined],
        f"draft by {drafter} failed verification; {verifier} refined it: {feedback}",
        True,
        refined=True,
    )


class ParallelStrategy(FilteredStrategy):
    """Chooses the n models of a best-of-n: the persona's models, topped up from stronger rungs."""

    name = "parallel"

    def __init__(self, registry: Registry, n: int = 2):
        super().__init__(registry)
        self.n = n

    def route(self, request: RouteRequest, candidates: list[str]) -> RouteDecision:
        """The first n fitting models; `features['ensemble']` lists them for `best_of_n`."""
        started = time.perf_counter()
        fitting, dropped = self.filter.split(request, list(dict.fromkeys(candidates)))
        rung = profile_of(self.registry, request, candidates)
        while rung is not None and len(fitting) < self.n:
            rung = self.registry.next_rung(rung)
            extra = [m for m in self.registry.models_for_profile(rung) if m not in fitting] if rung else []
            fitting += self.filter.split(request, extra)[0]
        if not fitting:
            raise ConfigError(no_fit_message(request, dropped))
        ensemble = fitting[: self.n]
        reason = f"parallel: best of {len(ensemble)} ({', '.join(ensemble)})"
        if len(ensemble) < self.n:
            reason += f"; only {len(ensemble)} distinct model(s) fit"
        return self.finish(request, fitting, reason, started, {"ensemble": ensemble})


class SpeculativeStrategy(FilteredStrategy):
    """Names the drafter (cheap) and the verifier (strong) for `speculate`."""

    name = "speculative"

    def __init__(self, registry: Registry, drafter: str | None = None, verifier: str | None = None):
        super().__init__(registry)
        ladder = registry.ladder
        if not ladder and (drafter is None or verifier is None):
            raise ConfigError("speculative routing needs `drafter` and `verifier`, or an escalation ladder")
        self.drafter = drafter or ladder[0]
        self.verifier = verifier or ladder[-1]
        check_target(registry, self.drafter, "routing.speculative.drafter")
        check_target(registry, self.verifier, "routing.speculative.verifier")

    def route(self, request: RouteRequest, candidates: list[str]) -> RouteDecision:
        """Drafter first, verifier after; `features` name both for `speculate`."""
        started = time.perf_counter()
        drafters = self.filter.apply(request, models_for(self.registry, self.drafter))
        verifiers = self.filter.apply(request, models_for(self.registry, self.verifier))
        features = {"drafter": drafters[0], "verifier": verifiers[0]}
        reason = f"speculative: {drafters[0]} drafts ({self.drafter}), {verifiers[0]} verifies ({self.verifier})"
        return self.finish(request, [*drafters, *verifiers], reason, started, features)
