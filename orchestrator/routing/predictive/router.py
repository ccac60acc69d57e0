"""The predictive router: a JSON-serialised two-stage model scoring how much a request needs the strong model."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError
from orchestrator.routing.predictive.features import (
    PromptFeatures,
    extract,
    prior_rates,
    source_group,
    stack_features,
)
from orchestrator.routing.predictive.trees import as_float32, predict_trees

FORMAT = "orchestrator.predictive-router"
VERSION = 1


def _sigmoid(z: float) -> float:
    """Logistic function that never overflows."""
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def _block_logits(counts: Mapping[str, int], vocab: Mapping[str, tuple[float, float, float]]) -> tuple[float, float]:
    """Weak and strong logit contributions of one L2-normalised sublinear tf-idf block."""
    sum_weak = sum_strong = squares = 0.0
    for term, count in counts.items():
        entry = vocab.get(term)
        if entry is not None:
            value = (1 + math.log(count)) * entry[0]
            squares += value * value
            sum_weak += value * entry[1]
            sum_strong += value * entry[2]
    if squares == 0:
        return 0.0, 0.0
    norm = math.sqrt(squares)
    return sum_weak / norm, sum_strong / norm


class PredictiveRouter:
    """Scores a request (higher = needs the strong model more) from a fitted parameter dict."""

    def __init__(self, params: dict[str, Any]):
        self.params = params
        self.threshold = float(params["threshold"])
        linear = params["linear"]
        self._vocab = {
            name: dict(zip(block["terms"], zip(block["idf"], block["weak"], block["strong"], strict=True), strict=True))
            for name, block in linear["blocks"].items()
        }
        self._sources = {name: tuple(pair) for name, pair in linear["sources"].items()}
        self._groups = {name: tuple(pair) for name, pair in linear["groups"].items()}

    @classmethod
    def load(cls, path: str | Path) -> PredictiveRouter:
        """Read a router JSON file written by `save` (or shipped as router_default.json)."""
        path = Path(path)
        try:
            params = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(
                f"{path}: router file not found. Create one with `orchestrator router calibrate`."
            ) from exc
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: not a readable router JSON file ({exc}).") from exc
        if not isinstance(params, dict) or params.get("format") != FORMAT:
            raise ConfigError(f"{path}: not a predictive router file (expected format {FORMAT!r}).")
        if params.get("version") != VERSION:
            raise ConfigError(f"{path}: router format version {params.get('version')!r}; this tool reads {VERSION}.")
        return cls(params)

    def save(self, path: str | Path) -> None:
        """Write the router as JSON (no pickle): vocabulary, weights, trees, threshold and metadata."""
        Path(path).write_text(json.dumps(self.params, separators=(",", ":")), encoding="utf-8")

    @property
    def metadata(self) -> dict[str, Any]:
        """How the router was calibrated: rows, chosen hyperparameters, threshold rule, cross-validated figures."""
        return self.params.get("metadata", {})

    def probabilities(self, features: PromptFeatures) -> tuple[float, float]:
        """First stage: P(weak model correct) and P(strong model correct) from the linear model."""
        linear = self.params["linear"]
        z_weak, z_strong = linear["intercept"]
        for name, vocab in self._vocab.items():
            d_weak, d_strong = _block_logits(getattr(features, name), vocab)
            z_weak, z_strong = z_weak + d_weak, z_strong + d_strong
        d_weak, d_strong = self._dense_logits(features)
        z_weak, z_strong = z_weak + d_weak, z_strong + d_strong
        for table, key in ((self._sources, features.source), (self._groups, source_group(features.source))):
            pair = table.get(key)
            if pair is not None:
                z_weak, z_strong = z_weak + pair[0], z_strong + pair[1]
        return _sigmoid(z_weak), _sigmoid(z_strong)

    def _dense_logits(self, features: PromptFeatures) -> tuple[float, float]:
        """Logit contributions of the standardised dense features (plus their gsm8k-only copy)."""
        dense = self.params["linear"]["dense"]
        z = [(x - m) / s for x, m, s in zip(features.dense, dense["mean"], dense["std"], strict=True)]
        # Weights hold the shared copy then the gsm8k-only copy; other rows stop after the first.
        if source_group(features.source) == "gsm8k":
            z = z + z
        weak = sum(a * b for a, b in zip(z, dense["weak"], strict=False))
        strong = sum(a * b for a, b in zip(z, dense["strong"], strict=False))
        return weak, strong

    def score_features(self, features: PromptFeatures) -> float:
        """Second stage: expected gain of the strong model over the weak one for these features."""
        p_weak, p_strong = self.probabilities(features)
        prior = prior_rates(self.params["priors"], features.source)
        row = stack_features(prior, features.source, features.dense, p_weak, p_strong)
        blend = self.params["first_stage_weight"]
        return (1 - blend) * predict_trees(self.params["trees"], as_float32(row)) + blend * (p_strong - p_weak)

    def score(self, prompt: str, source: str = "") -> float:
        """How much this request needs the strong model (higher = more); about the expected accuracy gain."""
        return self.score_features(extract(prompt, source))

    def needs_strong(self, prompt: str, source: str = "") -> bool:
        """True when the score reaches the calibrated threshold."""
        return self.score(prompt, source) >= self.threshold

    def score_many(self, rows: Iterable[tuple[str, str]]) -> list[float]:
        """Scores of many (prompt, source) pairs, in order."""
        return [self.score(prompt, source) for prompt, source in rows]


def calibrate(
    rows: Sequence[Mapping[str, Any]],
    max_strong_share: float | None = None,
    target_pgr: float | None = None,
    *,
    seed: int = 0,
    where: str = "rows",
) -> PredictiveRouter:
    """Fit a router on preference rows (source, prompt, weak_correct, strong_correct) and pick its threshold.

    Give at most one of `max_strong_share` and `target_pgr`; neither means a maximum strong share of 0.3.
    """
    from orchestrator.routing.predictive.fit import fit_router

    params = fit_router(rows, max_strong_share=max_strong_share, target_pgr=target_pgr, seed=seed, where=where)
    return PredictiveRouter(params)
