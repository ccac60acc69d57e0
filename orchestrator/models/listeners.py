"""A thread-safe list of callbacks: the one hook mechanism behind call, failover and breaker listeners."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Listeners:
    """Callbacks added and removed from any thread, called outside the lock so one may remove itself."""

    def __init__(self) -> None:
        self._items: list[Callable[..., Any]] = []
        self._lock = threading.Lock()

    def add(self, fn: Callable[..., Any]) -> None:
        """Register a callback."""
        with self._lock:
            self._items.append(fn)

    def remove(self, fn: Callable[..., Any]) -> None:
        """Unregister a callback; unknown callbacks are ignored."""
        with self._lock:
            if fn in self._items:
                self._items.remove(fn)

    def notify(self, *args: Any) -> None:
        """Call every callback with the same arguments."""
        with self._lock:
            items = list(self._items)
        for fn in items:
            fn(*args)
