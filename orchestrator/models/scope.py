"""The model layer's state owned by one run: breakers, rate limiter, failover and call listeners, retry policy.

A process has one root scope (library use, tests that configure it); each run enters a scope of its own
(keyed by run id, a child of the root taking its policies), so two runs in one process never share a breaker
or hear each other's failovers. Listeners added to the root hear every run, like a process-wide console.
The current scope follows the context (contextvars): threads started with `run_in_context` and LangGraph's
own workers see the scope of the run that started them.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from orchestrator.models.breaker import BreakerPolicy, BreakerSnapshot, BreakerState, CircuitBreaker, Clock
from orchestrator.models.failures import ModelCallError
from orchestrator.models.listeners import Listeners
from orchestrator.models.ratelimit import RateLimiter


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of the last model left (earlier ones fail over at once): count and exponential backoff."""

    retries: int = 2
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def delay(self, error: ModelCallError, attempt: int) -> float:
        """The provider's Retry-After when it gave one, else base * 2^attempt, capped."""
        if error.retry_after_s is not None:
            return min(error.retry_after_s, self.max_delay_s)
        return min(self.base_delay_s * 2**attempt, self.max_delay_s)


@dataclass
class ModelScope:
    """Everything the model layer remembers between calls, for one run (or the process's root)."""

    breaker_policy: BreakerPolicy = field(default_factory=BreakerPolicy)
    clock: Clock = time.monotonic
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    limiter: RateLimiter = field(default_factory=RateLimiter)
    failover: Listeners = field(default_factory=Listeners)
    calls: Listeners = field(default_factory=Listeners)
    parent: ModelScope | None = None
    _breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def child(self) -> ModelScope:
        """A fresh scope for one run: this scope's policies and clocks, none of its breakers, counts or listeners."""
        return ModelScope(breaker_policy=self.breaker_policy, clock=self.clock, retry=self.retry, sleep=self.sleep,
                          limiter=RateLimiter(self.limiter.clock), parent=self)

    def breaker(self, model: str) -> CircuitBreaker:
        """This scope's breaker for a model id, created closed on first use."""
        with self._lock:
            if model not in self._breakers:
                self._breakers[model] = CircuitBreaker(model, self.breaker_policy, self.clock, self._transition)
            return self._breakers[model]

    def breakers(self) -> list[CircuitBreaker]:
        """Every breaker of this scope."""
        with self._lock:
            return list(self._breakers.values())

    def reset_breakers(self, policy: BreakerPolicy | None = None, clock: Clock | None = None) -> None:
        """Forget every breaker; later ones use this policy and clock (None: the defaults)."""
        with self._lock:
            self._breakers.clear()
            self.breaker_policy, self.clock = policy or BreakerPolicy(), clock or time.monotonic

    def notify_failover(self, model: str, kind: str, following: str | None) -> None:
        """Tell this scope's failover listeners, then its parents' (they hear every run)."""
        scope: ModelScope | None = self
        while scope is not None:
            scope.failover.notify(model, kind, following)
            scope = scope.parent

    def notify_call(self, *args: Any) -> None:
        """Tell this scope's call listeners, then its parents'."""
        scope: ModelScope | None = self
        while scope is not None:
            scope.calls.notify(*args)
            scope = scope.parent

    def _transition(self, model: str, old: BreakerState, new: BreakerState) -> None:
        """Breaker transitions go to the failover listeners too, so one hook feeds the run log."""
        self.notify_failover(model, f"breaker_{new}", None)


KEPT_RUNS = 256
"""Run scopes kept after their session ends (a resume in the same process finds its breakers); oldest go first."""

_ROOT = ModelScope()
_current: contextvars.ContextVar[ModelScope] = contextvars.ContextVar("orchestrator_model_scope", default=_ROOT)
_runs: OrderedDict[str, ModelScope] = OrderedDict()
_runs_lock = threading.Lock()


def current_scope() -> ModelScope:
    """The scope of the run this code runs for (the process's root outside any run)."""
    return _current.get()


def scope_of_run(run_id: str) -> ModelScope:
    """The scope a run owns, created as a child of the root on first use."""
    with _runs_lock:
        scope = _runs.pop(run_id, None) or _ROOT.child()
        _runs[run_id] = scope
        while len(_runs) > KEPT_RUNS:
            _runs.popitem(last=False)
        return scope


@contextmanager
def run_scope(run_id: str) -> Iterator[ModelScope]:
    """Run the block in the run's own scope: its breakers, rate counters, listeners and retry policy."""
    token = _current.set(scope_of_run(run_id))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def breaker_for(model: str) -> CircuitBreaker:
    """The current run's breaker for a model id (the process root's outside a run), created closed on first use."""
    return current_scope().breaker(model)


def breakers(run_id: str | None = None) -> dict[str, BreakerSnapshot]:
    """A snapshot of every breaker of a run (default: the current run, or the process root), by model id."""
    scope = scope_of_run(run_id) if run_id else current_scope()
    return {breaker.model: breaker.snapshot() for breaker in scope.breakers()}


def configure_breakers(policy: BreakerPolicy | None = None, clock: Clock | None = None) -> None:
    """Set the current scope's breaker policy and clock (runs started later inherit them); forgets its breakers."""
    current_scope().reset_breakers(policy, clock)


def reset_breakers() -> None:
    """Forget every breaker and restore the default policy and clock (for tests and new runs)."""
    configure_breakers()


def run_in_context(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` bound to a copy of the caller's context, for a worker thread that must see the run's scope."""
    context = contextvars.copy_context()
    return lambda *args, **kwargs: context.copy().run(fn, *args, **kwargs)
