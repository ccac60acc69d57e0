"""Small gradient-boosted trees for the router's second stage: fit with sklearn, score in pure python."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

TREE_PARAMS = {"learning_rate": 0.05, "n_estimators": 150, "max_depth": 2, "min_samples_leaf": 40}


def fit_trees(x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Fit a squared-error boosted model and return it as plain lists (JSON-ready)."""
    from sklearn.ensemble import GradientBoostingRegressor

    model = GradientBoostingRegressor(random_state=seed, **TREE_PARAMS).fit(x, y)
    trees = [_export_tree(estimator.tree_) for estimator in model.estimators_[:, 0]]
    return {"init": float(model.init_.constant_[0][0]), "learning_rate": TREE_PARAMS["learning_rate"], "trees": trees}


def _export_tree(tree: Any) -> list[list[float]]:
    """One fitted sklearn tree as [feature, threshold, left, right, value] lists."""
    return [
        tree.feature.tolist(),
        tree.threshold.tolist(),
        tree.children_left.tolist(),
        tree.children_right.tolist(),
        tree.value[:, 0, 0].tolist(),
    ]


def as_float32(values: list[float]) -> list[float]:
    """Round to float32 as sklearn's trees do, so pure-python and sklearn splits agree exactly."""
    return list(struct.unpack(f"{len(values)}f", struct.pack(f"{len(values)}f", *values)))


def predict_trees(model: dict[str, Any], x: list[float]) -> float:
    """Score one row (already float32-rounded) with an exported model."""
    total = 0.0
    for feature, threshold, left, right, value in model["trees"]:
        node = 0
        while left[node] != -1:
            node = left[node] if x[feature[node]] <= threshold[node] else right[node]
        total += value[node]
    return model["init"] + model["learning_rate"] * total


def predict_trees_many(model: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Score many rows with an exported model (vectorised, for training-time use)."""
    x = x.astype(np.float32).astype(float)
    total = np.zeros(len(x))
    for feature, threshold, left, right, value in model["trees"]:
        node = np.zeros(len(x), dtype=int)
        left_a, right_a = np.asarray(left), np.asarray(right)
        feat_a, thr_a = np.asarray(feature), np.asarray(threshold)
        while True:
            inner = left_a[node] != -1
            if not inner.any():
                break
            go_left = x[np.arange(len(x)), np.maximum(feat_a[node], 0)] <= thr_a[node]
            node = np.where(inner, np.where(go_left, left_a[node], right_a[node]), node)
        total += np.asarray(value)[node]
    return model["init"] + model["learning_rate"] * total
