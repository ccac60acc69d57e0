"""Per-model rpm/tpm limits from models.yaml, counted per wall-clock minute in this process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

Limits = tuple[int | None, int | None]
Clock = Callable[[], float]


@dataclass
class _Minute:
    """What one model used in one wall-clock minute."""

    minute: int
    requests: int = 0
    tokens: int = 0


class RateLimiter:
    """Refuses a model over its rpm or tpm before it is called, so overflow can fail over before any 429.

    A request counts when it is let through; its tokens count when its reply arrives. A model may take
    exactly `rpm` calls a minute; a call is refused when the tokens used this minute plus its estimated
    prompt would pass `tpm`. Counters belong to one run's model scope.
    """

    def __init__(self, clock: Clock = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._limits: dict[str, Limits] = {}
        self._used: dict[str, _Minute] = {}

    @property
    def clock(self) -> Clock:
        """The wall clock this limiter counts minutes with."""
        return self._clock

    def set_limits(self, model: str, rpm: int | None, tpm: int | None) -> None:
        """Give a model its limits (None: unlimited)."""
        with self._lock:
            self._limits[model] = (rpm, tpm)

    def has_limits(self, model: str) -> bool:
        """Whether limits were set for this model (unlimited counts as set)."""
        with self._lock:
            return model in self._limits

    def acquire(self, model: str, prompt_tokens: int) -> str | None:
        """Count one request for the model and return None, or return why it is over its limit (not counted)."""
        with self._lock:
            rpm, tpm = self._limits.get(model, (None, None))
            used = self._minute(model)
            if rpm is not None and used.requests >= rpm:
                return f"over its rpm limit of {rpm} calls this minute"
            if tpm is not None and used.tokens + prompt_tokens > tpm:
                return f"over its tpm limit of {tpm} tokens this minute ({used.tokens} used, ~{prompt_tokens} asked)"
            used.requests += 1
            return None

    def record_tokens(self, model: str, tokens: int) -> None:
        """Add a reply's tokens to the model's minute."""
        with self._lock:
            self._minute(model).tokens += tokens

    def _minute(self, model: str) -> _Minute:
        """The model's counters for the current minute (a new minute starts from zero)."""
        minute = int(self._clock() // 60)
        used = self._used.get(model)
        if used is None or used.minute != minute:
            used = self._used[model] = _Minute(minute)
        return used
