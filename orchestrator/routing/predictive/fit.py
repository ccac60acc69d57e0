"""Fitting the predictive router: inner CV picks C, stacked trees combine, out-of-fold scores set the threshold."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestrator.errors import ConfigError
from orchestrator.routing.predictive import metrics
from orchestrator.routing.predictive.corpus import (
    BLOCKS,
    DENSE_SCALE,
    SOURCE_SCALE,
    Corpus,
    Vocabulary,
    build_corpus,
    design_matrix,
    fit_vocabulary,
)
from orchestrator.routing.predictive.data import preference_arrays
from orchestrator.routing.predictive.features import (
    DENSE_NAMES,
    PromptFeatures,
    extract,
    prior_rates,
    source_group,
    stack_features,
)
from orchestrator.routing.predictive.trees import fit_trees, predict_trees_many

C_GRID = (0.1, 0.3, 1.0)
INNER_FOLDS = 3
PRIOR_STRENGTH = 20.0  # pseudo-rows pulling a small source's rates toward its group's
DEFAULT_MAX_STRONG_SHARE = 0.3
FIRST_STAGE_WEIGHT = 0.3  # share of the first-stage gain kept beside the trees; it helps gsm8k ranking


@dataclass
class Prepared:
    """Extracted features and labels of every row, computed once and shared by all folds."""

    features: list[PromptFeatures]
    corpus: Corpus
    weak: np.ndarray
    strong: np.ndarray

    @property
    def sources(self) -> list[str]:
        """The source of each row."""
        return self.corpus.sources


def prepare(rows: Sequence[Mapping[str, Any]], where: str = "rows") -> Prepared:
    """Validate preference rows and extract their features."""
    prompts, sources, weak, strong = preference_arrays(rows, where)
    features = [extract(p, s) for p, s in zip(prompts, sources, strict=True)]
    return Prepared(features, build_corpus(features), np.asarray(weak), np.asarray(strong))


def make_folds(sources: Sequence[str], rows: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """K folds of `rows` (as positions into the full data), stratified by source when every source allows it."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if len(rows) < k:
        raise ConfigError(f"need at least {k} rows for {k}-fold cross-validation, got {len(rows)}.")
    labels = np.asarray([sources[i] for i in rows])
    _, counts = np.unique(labels, return_counts=True)
    splitter = (
        StratifiedKFold(k, shuffle=True, random_state=seed)
        if counts.min() >= k
        else KFold(k, shuffle=True, random_state=seed)
    )
    return [(rows[a], rows[b]) for a, b in splitter.split(rows, labels)]


def _fit_logistic(x: Any, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """L2 logistic regression weights and intercept; a constant label gives a constant model."""
    rate = float(np.mean(y))
    if rate in (0.0, 1.0):
        return np.zeros(x.shape[1]), math.log((rate + 1e-3) / (1 - rate + 1e-3))
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, solver="liblinear", dual=True, max_iter=2000).fit(x, y)
    return model.coef_[0], float(model.intercept_[0])


def _predict(x: Any, weights: np.ndarray, intercept: float) -> np.ndarray:
    """Probabilities of a fitted logistic model."""
    return 1 / (1 + np.exp(-(x @ weights + intercept)))


def _inner_probabilities(data: Prepared, folds: list, c_grid: Sequence[float]) -> dict[float, np.ndarray]:
    """Out-of-fold (P weak ok, P strong ok) for every C; vocabulary refitted inside each fold."""
    n = len(data.sources)
    out = {c: np.zeros((n, 2)) for c in c_grid}
    for train, test in folds:
        vocab = fit_vocabulary(data.corpus, train)
        x_train, x_test = design_matrix(data.corpus, train, vocab), design_matrix(data.corpus, test, vocab)
        for c in c_grid:
            for column, labels in enumerate((data.weak, data.strong)):
                out[c][test, column] = _predict(x_test, *_fit_logistic(x_train, labels[train], c))
    return out


def fit_priors(sources: Sequence[str], weak: np.ndarray, strong: np.ndarray) -> dict[str, Any]:
    """Smoothed (weak ok, strong ok) rates per source, per group and overall."""
    overall = [float(weak.mean()), float(strong.mean())]
    group_of = [source_group(s) for s in sources]
    groups = {g: _smoothed(group_of, weak, strong, g, overall) for g in sorted(set(group_of))}
    by_source = {s: _smoothed(sources, weak, strong, s, groups[source_group(s)]) for s in sorted(set(sources))}
    return {"global": overall, "groups": groups, "sources": by_source}


def _smoothed(keys: Sequence[str], weak: np.ndarray, strong: np.ndarray, name: str, base: list[float]) -> list[float]:
    """Rates of the rows whose key is `name`, shrunk toward `base` by PRIOR_STRENGTH pseudo-rows."""
    mask = np.asarray([k == name for k in keys])
    count = mask.sum() + PRIOR_STRENGTH
    return [
        float((labels[mask].sum() + PRIOR_STRENGTH * b) / count) for labels, b in ((weak, base[0]), (strong, base[1]))
    ]


def _stack_matrix(data: Prepared, rows: np.ndarray, priors: dict[str, Any], probs: np.ndarray) -> np.ndarray:
    """Second-stage inputs for `rows`, given priors and first-stage probabilities (one row of probs each)."""
    out = []
    for i, (p_weak, p_strong) in zip(rows, probs, strict=True):
        source = data.sources[i]
        out.append(stack_features(prior_rates(priors, source), source, data.features[i].dense, p_weak, p_strong))
    return np.asarray(out, dtype=float)


def _inner_stack(
    data: Prepared, rows: np.ndarray, folds: list, probs: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stack inputs with out-of-fold priors for every training row, and out-of-fold second-stage scores."""
    position = {int(i): k for k, i in enumerate(rows)}
    x = np.zeros((len(rows), len(stack_features((0.0, 0.0), "", [0.0] * len(DENSE_NAMES), 0.0, 0.0))))
    for train, test in folds:
        priors = fit_priors([data.sources[i] for i in train], data.weak[train], data.strong[train])
        x[[position[int(i)] for i in test]] = _stack_matrix(data, test, priors, probs[test])
    gain = (data.strong - data.weak)[rows]
    scores = np.zeros(len(rows))
    for train, test in folds:
        train_pos, test_pos = [position[int(i)] for i in train], [position[int(i)] for i in test]
        scores[test_pos] = predict_trees_many(fit_trees(x[train_pos], gain[train_pos], seed), x[test_pos])
    first_stage = probs[:, 1] - probs[:, 0]
    return x, (1 - FIRST_STAGE_WEIGHT) * scores + FIRST_STAGE_WEIGHT * first_stage[rows]


def _export_linear(corpus: Corpus, vocab: Vocabulary, fitted: list[tuple[np.ndarray, float]]) -> dict[str, Any]:
    """The first stage as JSON-ready lists: per-block terms/idf/weights, dense, source and group weights."""
    (w_weak, b_weak), (w_strong, b_strong) = fitted
    blocks, start = {}, 0
    for name in BLOCKS:
        kept = vocab.kept[name]
        end = start + len(kept)
        blocks[name] = {
            "terms": [corpus.blocks[name].terms[i] for i in kept],
            "idf": _round(vocab.idf[name]),
            "weak": _round(w_weak[start:end]),
            "strong": _round(w_strong[start:end]),
        }
        start = end
    n_dense = 2 * len(DENSE_NAMES)
    dense = {
        "names": list(DENSE_NAMES),
        "mean": _round(vocab.dense_mean),
        "std": _round(vocab.dense_std),
        "weak": _round(DENSE_SCALE * w_weak[start : start + n_dense]),
        "strong": _round(DENSE_SCALE * w_strong[start : start + n_dense]),
    }
    start += n_dense
    tables = {}
    for key, names in (("sources", vocab.sources), ("groups", vocab.groups)):
        pairs = zip(w_weak[start : start + len(names)], w_strong[start : start + len(names)], strict=True)
        tables[key] = {n: _round(SOURCE_SCALE * np.asarray(p)) for n, p in zip(names, pairs, strict=True)}
        start += len(names)
    return {"blocks": blocks, "dense": dense, **tables, "intercept": [b_weak, b_strong]}


def _round(values: Any) -> list[float]:
    """Floats rounded to 6 significant digits, to keep the JSON small."""
    return [float(f"{v:.6g}") for v in np.asarray(values, dtype=float).ravel()]


def threshold_for_count(scores: np.ndarray, count: int, at_least: bool) -> float:
    """A threshold sending at most (or, with at_least, at least) `count` rows to the strong model (score >= t)."""
    values = np.unique(scores)[::-1]
    routed = np.asarray([(scores >= v).sum() for v in values])
    ok = np.flatnonzero(routed >= count) if at_least else np.flatnonzero(routed <= count)
    if len(ok) == 0:
        return float(values[-1]) if at_least else math.nextafter(float(values[0]), math.inf)
    j = int(ok[0]) if at_least else int(ok[-1])
    # Midway to the next lower score generalises better than the score itself.
    return float((values[j] + values[j + 1]) / 2) if j + 1 < len(values) else float(values[j])


def pick_threshold(scores: np.ndarray, weak: np.ndarray, strong: np.ndarray, rule: dict[str, float]) -> float:
    """Threshold for a maximum strong share, or for a target PGR reached on out-of-fold scores."""
    n = len(scores)
    if "target_pgr" in rule:
        share = metrics.cpt(scores, weak, strong, rule["target_pgr"])
        if math.isnan(share):
            raise ConfigError(f"target PGR {rule['target_pgr']} is not reachable on this data (PGR is undefined).")
        return threshold_for_count(scores, math.ceil(share * n - 1e-9), at_least=True)
    return threshold_for_count(scores, math.floor(rule["max_strong_share"] * n + 1e-9), at_least=False)


def threshold_rule(max_strong_share: float | None, target_pgr: float | None) -> dict[str, float]:
    """Validate the threshold options; neither means a maximum strong share of 0.3."""
    if max_strong_share is not None and target_pgr is not None:
        raise ConfigError("give either --max-strong-share or --target-pgr, not both.")
    if target_pgr is not None:
        if not 0 < target_pgr <= 1:
            raise ConfigError(f"--target-pgr must be in (0, 1], got {target_pgr}.")
        return {"target_pgr": float(target_pgr)}
    share = DEFAULT_MAX_STRONG_SHARE if max_strong_share is None else max_strong_share
    if not 0 <= share <= 1:
        raise ConfigError(f"--max-strong-share must be in [0, 1], got {share}.")
    return {"max_strong_share": float(share)}


def fit_prepared(data: Prepared, rows: np.ndarray, rule: dict[str, float], seed: int = 0) -> dict[str, Any]:
    """Fit every stage on `rows` only and return the router's JSON-ready parameters."""
    folds = make_folds(data.sources, rows, INNER_FOLDS, seed)
    probs = _inner_probabilities(data, folds, C_GRID)
    gain_apgr = {c: _apgr(p[rows], data.weak[rows], data.strong[rows]) for c, p in probs.items()}
    best_c = max(C_GRID, key=lambda c: (gain_apgr[c], -c))
    stack_x, oof_scores = _inner_stack(data, rows, folds, probs[best_c], seed)
    vocab = fit_vocabulary(data.corpus, rows)
    x = design_matrix(data.corpus, rows, vocab)
    fitted = [_fit_logistic(x, labels[rows], best_c) for labels in (data.weak, data.strong)]
    weak, strong = data.weak[rows], data.strong[rows]
    threshold = pick_threshold(oof_scores, weak, strong, rule)
    return {
        "format": "orchestrator.predictive-router",
        "version": 1,
        "threshold": threshold,
        "linear": _export_linear(data.corpus, vocab, fitted),
        "priors": fit_priors([data.sources[i] for i in rows], weak, strong),
        "trees": fit_trees(stack_x, (strong - weak).astype(float), seed),
        "first_stage_weight": FIRST_STAGE_WEIGHT,
        "metadata": _metadata(data, rows, rule, best_c, gain_apgr, oof_scores >= threshold, oof_scores),
    }


def _apgr(probs: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> float:
    """APGR of the first stage's gain estimate; NaN-safe for tiny data."""
    value = metrics.apgr(probs[:, 1] - probs[:, 0], weak, strong)
    return -math.inf if math.isnan(value) else value


def _metadata(
    data: Prepared, rows: np.ndarray, rule: dict, c: float, gain_apgr: dict, needs: np.ndarray, oof: np.ndarray
) -> dict:
    """How the router was fitted, with its inner out-of-fold figures."""
    weak, strong = data.weak[rows], data.strong[rows]
    return {
        "rows": int(len(rows)),
        "sources": len({data.sources[i] for i in rows}),
        "threshold_rule": rule,
        "C": c,
        "inner_folds": INNER_FOLDS,
        "inner_first_stage_apgr": {str(k): round(v, 4) for k, v in gain_apgr.items()},
        "inner_oof_apgr": round(metrics.apgr(oof, weak, strong), 4),
        "inner_oof_strong_share": round(float(np.mean(needs)), 4),
        "weak_accuracy": round(float(weak.mean()), 4),
        "strong_accuracy": round(float(strong.mean()), 4),
    }


def fit_router(
    rows: Sequence[Mapping[str, Any]],
    max_strong_share: float | None = None,
    target_pgr: float | None = None,
    seed: int = 0,
    where: str = "rows",
) -> dict[str, Any]:
    """Validate rows and threshold options, then fit on all rows."""
    rule = threshold_rule(max_strong_share, target_pgr)
    data = prepare(rows, where)
    return fit_prepared(data, np.arange(len(data.sources)), rule, seed)
