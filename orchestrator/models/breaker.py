"""Per-model circuit breakers: closed -> open after N failures -> half-open after a cooldown -> closed or open."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]
Clock = Callable[[], float]
TransitionListener = Callable[[str, BreakerState, BreakerState], None]


@dataclass(frozen=True)
class BreakerPolicy:
    """When a model's breaker opens and how long it stays open."""

    failure_threshold: int = 3
    cooldown_s: float = 30.0


@dataclass(frozen=True)
class BreakerSnapshot:
    """A breaker's state for the run log and `breakers()`."""

    model: str
    state: BreakerState
    failures: int
    last_error: str
    retry_in_s: float


class CircuitBreaker:
    """One model's breaker; thread-safe, with an injectable clock, independent of cost and quality routing."""

    def __init__(
        self,
        model: str,
        policy: BreakerPolicy | None = None,
        clock: Clock = time.monotonic,
        on_transition: TransitionListener | None = None,
    ):
        self.model = model
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._on_transition = on_transition
        self._lock = threading.Lock()
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._last_error = ""

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose cooldown has passed reads as half-open."""
        with self._lock:
            return self._current()

    def allow(self) -> bool:
        """May a call go to this model now? Half-open lets exactly one probe through at a time."""
        with self._lock:
            before = self._current()
            allowed = before == "closed" or (before == "half_open" and not self._probing)
            if allowed and before == "half_open":
                self._probing = True
            moved = self._move(before)
        self._report(moved)
        return allowed

    def record_success(self) -> None:
        """The model answered: close the breaker and forget past failures."""
        with self._lock:
            self._failures, self._probing, self._last_error = 0, False, ""
            moved = self._move("closed")
        self._report(moved)

    def record_failure(self, error: str = "") -> None:
        """The model failed in a way that says it is unhealthy; a failed probe reopens at once."""
        with self._lock:
            self._failures += 1
            self._last_error = error
            state = self._current()
            if state == "half_open" or self._failures >= self.policy.failure_threshold:
                self._opened_at, self._probing = self._clock(), False
                state = "open"
            moved = self._move(state)
        self._report(moved)

    def release(self) -> None:
        """The call ended without saying anything about the model's health (e.g. prompt too long): free the probe."""
        with self._lock:
            self._probing = False

    def snapshot(self) -> BreakerSnapshot:
        """State, consecutive failures, last error and seconds until the next probe."""
        with self._lock:
            state = self._current()
            wait = self._opened_at + self.policy.cooldown_s - self._clock() if state == "open" else 0.0
            return BreakerSnapshot(self.model, state, self._failures, self._last_error, max(0.0, wait))

    def _current(self) -> BreakerState:
        """The state with the cooldown applied (call with the lock held)."""
        if self._state == "open" and self._clock() - self._opened_at >= self.policy.cooldown_s:
            return "half_open"
        return self._state

    def _move(self, state: BreakerState) -> tuple[BreakerState, BreakerState] | None:
        """Store a new state; returns (old, new) when it changed (call with the lock held)."""
        old, self._state = self._state, state
        return (old, state) if old != state else None

    def _report(self, moved: tuple[BreakerState, BreakerState] | None) -> None:
        """Tell the listener about a transition, outside the lock so it may call back in."""
        if moved and self._on_transition:
            self._on_transition(self.model, *moved)
