"""The reference router the predictive one must beat: TF-IDF + logistic regression on "is the strong model needed"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from orchestrator.routing.predictive import metrics
from orchestrator.routing.predictive.data import preference_arrays
from orchestrator.routing.predictive.eval import EvalReport, cross_validate

BASELINE_C_GRID = (0.3, 1.0, 3.0)
BASELINE_INNER_FOLDS = 3


def baseline_text(prompt: str, source: str) -> str:
    """The baseline sees the same inputs as the router: the source as a leading token, then the prompt."""
    return f"{source.replace('/', '_')} {prompt}"


def fit_baseline(texts: Sequence[str], needed: np.ndarray, c: float) -> Any:
    """A fitted sklearn pipeline: word 1-2 gram sublinear TF-IDF, then L2 logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        LogisticRegression(C=c, solver="liblinear", dual=True, max_iter=2000),
    )
    return pipeline.fit(list(texts), needed)


def _inner_scores(texts: list[str], needed: np.ndarray, sources: list[str], rows: np.ndarray, seed: int) -> dict:
    """Out-of-fold P(needed) on `rows` for every C of the grid."""
    from orchestrator.routing.predictive.fit import make_folds

    position = {int(i): k for k, i in enumerate(rows)}
    out = {c: np.zeros(len(rows)) for c in BASELINE_C_GRID}
    for train, test in make_folds(sources, rows, BASELINE_INNER_FOLDS, seed):
        test_pos = [position[int(i)] for i in test]
        for c in BASELINE_C_GRID:
            model = fit_baseline([texts[i] for i in train], needed[train], c)
            out[c][test_pos] = model.predict_proba([texts[i] for i in test])[:, 1]
    return out


def evaluate_baseline(
    rows: Sequence[Mapping[str, Any]], folds: int = 5, seed: int = 0, max_strong_share: float = 0.3
) -> EvalReport:
    """Nested cross-validation of the baseline: C and threshold chosen on inner folds of each training part."""
    from orchestrator.routing.predictive.fit import pick_threshold

    prompts, sources, weak_l, strong_l = preference_arrays(rows)
    weak, strong = np.asarray(weak_l), np.asarray(strong_l)
    needed = metrics.oracle_labels(weak, strong).astype(int)
    texts = [baseline_text(p, s) for p, s in zip(prompts, sources, strict=True)]
    rule = {"max_strong_share": float(max_strong_share)}

    def fit_and_score(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, float]:
        inner = _inner_scores(texts, needed, sources, train, seed)
        best = max(BASELINE_C_GRID, key=lambda c: metrics.apgr(inner[c], weak[train], strong[train]))
        threshold = pick_threshold(inner[best], weak[train], strong[train], rule)
        model = fit_baseline([texts[i] for i in train], needed[train], best)
        return model.predict_proba([texts[i] for i in test])[:, 1], threshold

    settings = {"folds": folds, "seed": seed, "rule": rule}
    return cross_validate("TF-IDF + LR baseline", sources, (weak, strong), fit_and_score, settings)
