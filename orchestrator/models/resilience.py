"""Failover across a persona's ordered models: circuit breakers, retries on the last model, one report per failure."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ModelError
from orchestrator.models import gateway
from orchestrator.models.breaker import BreakerSnapshot, CircuitBreaker
from orchestrator.models.failures import ModelCallError
from orchestrator.models.ids import normalise_model_id
from orchestrator.models.scope import RetryPolicy, breaker_for, current_scope
from orchestrator.models.types import ModelReply, ToolSpec

if TYPE_CHECKING:
    from orchestrator.models.affinity import PrefixAffinity
    from orchestrator.models.registry import Registry

FailoverListener = Callable[[str, str, str | None], None]
Call = Callable[[str], ModelReply]


class CircuitOpenError(ModelError):
    """A model was skipped because its circuit breaker is open."""

    kind = "CircuitOpen"
    retryable = True

    def __init__(self, snapshot: BreakerSnapshot):
        self.model, self.snapshot = snapshot.model, snapshot
        last = f" (last: {snapshot.last_error})" if snapshot.last_error else ""
        super().__init__(
            f"{snapshot.model}: circuit open after {snapshot.failures} consecutive failures{last}; "
            f"next probe in {snapshot.retry_in_s:.0f}s. Add a failover model to the profile, or wait."
        )


class FailoverError(ModelError):
    """Every model in the list failed; `failures` holds each model's error, in the order tried."""

    def __init__(self, persona: str, failures: dict[str, ModelError]):
        self.persona, self.failures = persona, failures
        self.retryable = any(getattr(error, "retryable", False) for error in failures.values())
        lines = "\n".join(f"  - {error}" for error in failures.values())
        super().__init__(f"persona {persona or '-'}: all {len(failures)} models failed:\n{lines}")


__all__ = ["RetryPolicy", "complete_with_failover", "add_failover_listener", "configure_retries"]


def complete_with_failover(
    models: Sequence[str],
    messages: list[dict[str, Any]],
    *,
    persona: str,
    tools: list[ToolSpec] | None = None,
    require_tool: bool = False,
    temperature: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    metadata: dict[str, Any] | None = None,
    registry: Registry | None = None,
    affinity: PrefixAffinity | None = None,
) -> ModelReply:
    """Try each model in order through its breaker and rpm/tpm limits; the first answer wins (`reply.model`: whose)."""
    candidates = list(dict.fromkeys(normalise_model_id(model) for model in models))
    if not candidates:
        raise ModelError(f"persona {persona or '-'}: no models to call; bind it to a profile or model id.")
    call = functools.partial(gateway.complete, messages=messages, tools=tools, require_tool=require_tool,
                             persona=persona, temperature=temperature, max_tokens=max_tokens, seed=seed,
                             metadata=metadata)
    failures: dict[str, ModelError] = {}
    for index, model in enumerate(candidates):
        following = candidates[index + 1] if index + 1 < len(candidates) else None
        gateway.set_limits(model, *_limits(model, registry))
        try:
            reply = _attempt(model, call, last=following is None)
        except (ModelCallError, CircuitOpenError) as error:
            failures[model] = error
            _report(model, error.kind, following)
            continue
        if affinity is not None:
            affinity.record(persona, model, reply.prompt_tokens)
        return reply
    if len(failures) == 1:  # a single model fails exactly as complete() would
        raise next(iter(failures.values()))
    raise FailoverError(persona, failures)


def _attempt(model: str, call: Call, *, last: bool) -> ModelReply:
    """One model through its breaker; only the last model left is retried, with backoff."""
    breaker = breaker_for(model)
    scope = current_scope()
    retries = scope.retry.retries if last else 0
    attempt = 0
    while True:
        try:
            return _once(model, breaker, call)
        except ModelCallError as error:
            # A failure that opened the breaker ends the retries: the next call would be refused anyway.
            if attempt >= retries or not error.retryable or breaker.state == "open":
                raise
            _report(model, error.kind, model)
            scope.sleep(scope.retry.delay(error, attempt))
            attempt += 1


def _once(model: str, breaker: CircuitBreaker, call: Call) -> ModelReply:
    """One call if the breaker allows it, telling the breaker how it went."""
    if not breaker.allow():
        raise CircuitOpenError(breaker.snapshot())
    try:
        reply = call(model)
    except ModelCallError as error:
        if error.trips_breaker:
            breaker.record_failure(error.kind)
        else:
            breaker.release()
        raise
    except BaseException:  # our own errors (script exhausted, real requests blocked) say nothing about health
        breaker.release()
        raise
    breaker.record_success()
    return reply


def _limits(model: str, registry: Registry | None) -> gateway.Limits:
    """(rpm, tpm) of a model: the given registry's, else the last loaded registry's."""
    if registry is None:
        return gateway.published_limits(model)
    info = registry.model_info(model)
    return info.rpm, info.tpm


def add_failover_listener(fn: FailoverListener) -> None:
    """Call `fn(model, kind, next_model)` on every failover, retry (next = same model) and breaker transition.

    The listener belongs to the current scope: inside a run it hears that run only; outside, every run.
    `next_model` is None when nothing is left to try; breaker transitions arrive as kind
    `breaker_open`, `breaker_half_open` or `breaker_closed` with next_model None.
    """
    current_scope().failover.add(fn)


def remove_failover_listener(fn: FailoverListener) -> None:
    """Stop calling a failover listener of the current scope; unknown listeners are ignored."""
    current_scope().failover.remove(fn)


def configure_retries(policy: RetryPolicy | None = None, sleep: Callable[[float], None] | None = None) -> None:
    """Set the current scope's retry policy and sleep function (tests pass a recorder); None restores the default."""
    scope = current_scope()
    scope.retry, scope.sleep = policy or RetryPolicy(), sleep or time.sleep


def _report(model: str, kind: str, following: str | None) -> None:
    """Tell the current run's failover listeners (and the process-wide ones)."""
    current_scope().notify_failover(model, kind, following)
