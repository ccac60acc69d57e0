"""Typical latency per model, learned from every call: replayed from the run log, or kept in a file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.routing.base import (
    read_json_state,
    write_json_state,
)

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry


LATENCY_FILE = "latency.json"


class LatencyStore:
    """Exponential moving averages of observed call latency per model, kept in a JSON file."""

    def __init__(self, path: Path | None, alpha: float = 0.3):
        self.path = Path(path) if path is not None else None  # None: in memory, rebuilt from the run log
        self.alpha = alpha
        self._values: dict[str, float] = {
            str(k): float(v) for k, v in (read_json_state(self.path) if self.path else {}).items()
            if isinstance(v, (int, float))
        }

    @classmethod
    def from_observations(cls, observations: list[tuple[str, float]], alpha: float = 0.3) -> LatencyStore:
        """Averages replayed from (model, seconds) in the order they were seen (the run log's calls)."""
        store = cls(None, alpha)
        for model, seconds in observations:
            store.learn(model, seconds, persist=False)
        return store

    @classmethod
    def in_dir(cls, state_dir: Path) -> LatencyStore:
        """The store kept in a state directory."""
        return cls(Path(state_dir) / LATENCY_FILE)

    def get(self, model: str) -> float | None:
        """The learned average latency in seconds, or None before the first observation."""
        return self._values.get(model)

    def learn(self, model: str, seconds: float, persist: bool = True) -> float:
        """Fold one observation into the average, persist it (unless told not to), and return the new average."""
        old = self._values.get(model)
        new = seconds if old is None else self.alpha * seconds + (1 - self.alpha) * old
        self._values[model] = new
        if persist:
            self.save()
        return new

    def save(self) -> None:
        """Write the averages to the store's file (none for averages rebuilt from the run log)."""
        if self.path is not None:
            write_json_state(self.path, self._values)


def learn_latency(store_or_dir: LatencyStore | Path | str, model: str, seconds: float) -> float:
    """Record one observed latency for a model (a store or a state directory); returns the new average."""
    store = store_or_dir if isinstance(store_or_dir, LatencyStore) else LatencyStore.in_dir(Path(store_or_dir))
    return store.learn(model, seconds)


def latency_of(registry: Registry, model: str, store: LatencyStore | None = None) -> float:
    """Learned latency when there is one, else the registry's typical latency."""
    learned = store.get(model) if store else None
    return learned if learned is not None else registry.model_info(model).typical_latency_s
