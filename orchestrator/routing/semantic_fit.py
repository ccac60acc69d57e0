"""Fit semantic routing's per-intent thresholds from labelled examples, as semantic-router's `fit` does.

Each labelled text names the intent it should reach, or none (it should fall back). Similarities are
computed once; then coordinate ascent moves each intent's threshold, when that routes more texts right,
to the middle of the thresholds that do best (midpoints between observed similarities), a few passes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.errors import ConfigError, UnknownNameError

if TYPE_CHECKING:
    from orchestrator.routing.semantic import SemanticStrategy
    from orchestrator.routing.spec import IntentSpec

Labelled = list[tuple[str, str | None]]
"""(text, intent it should reach, or None for "falls back")."""


@dataclass(frozen=True)
class FitReport:
    """Thresholds fitted per intent and the share of labelled texts routed right before and after."""

    thresholds: dict[str, float]
    accuracy_before: float
    accuracy_after: float
    examples: int


def read_labelled(path: Path, intents: dict[str, IntentSpec]) -> Labelled:
    """A CSV with columns `text,intent` (an empty intent: the text should fall back); labels are checked."""
    try:
        with Path(path).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read labelled examples: {exc.strerror}") from exc
    if not rows or not {"text", "intent"} <= set(rows[0]):
        raise ConfigError(f"{path}: expected a CSV with columns text,intent (an empty intent means: falls back)")
    labelled: Labelled = []
    for line, row in enumerate(rows, 2):
        label = (row["intent"] or "").strip() or None
        if label is not None and label not in intents:
            raise UnknownNameError("intent", label, intents, where=f"{path}:{line}")
        labelled.append((row["text"] or "", label))
    return labelled


def fit_thresholds(strategy: SemanticStrategy, labelled: Labelled, passes: int = 3) -> FitReport:
    """Per-intent thresholds that route the most labelled texts right (start: the strategy's current ones)."""
    if not labelled:
        raise ConfigError("fitting intents needs at least one labelled example")
    sims = [strategy.similarities(text) for text, _ in labelled]
    labels = [label for _, label in labelled]
    thresholds = {name: strategy.threshold_of(name) for name in strategy.intents}
    before = _accuracy(sims, labels, thresholds)
    for _ in range(passes):
        for name in thresholds:
            scored = [(t, _accuracy(sims, labels, {**thresholds, name: t})) for t in _candidates(sims, name)]
            top = max(score for _, score in scored)
            if top > _accuracy(sims, labels, thresholds):
                # The middle of the best thresholds leaves the widest margin on both sides (max margin).
                best = [t for t, score in scored if score == top]
                thresholds[name] = best[len(best) // 2]
    return FitReport({k: round(v, 4) for k, v in thresholds.items()}, before,
                     _accuracy(sims, labels, thresholds), len(labelled))


def _candidates(sims: list[dict[str, float]], name: str) -> list[float]:
    """Midpoints between the intent's sorted observed similarities, and just past both ends."""
    values = sorted({s[name] for s in sims})
    mids = [(a + b) / 2 for a, b in zip(values, values[1:], strict=False)]
    return [values[0] - 1e-3, *mids, values[-1] + 1e-3]


def _accuracy(sims: list[dict[str, float]], labels: list[str | None], thresholds: dict[str, float]) -> float:
    """Share of texts routed to their label: the top intent when it clears its threshold, else none."""
    right = 0
    for scores, label in zip(sims, labels, strict=True):
        top = max(scores, key=scores.__getitem__)
        right += (top if scores[top] >= thresholds[top] else None) == label
    return right / len(labels)


def write_intents(path: Path, intents: dict[str, IntentSpec], thresholds: dict[str, float]) -> None:
    """Write an intents file (`intents: {name: {target, examples, threshold}}`) with fitted thresholds."""
    import yaml

    data = {"intents": {name: {**intent.model_dump(exclude_none=True), "threshold": thresholds[name]}
                        for name, intent in intents.items()}}
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
