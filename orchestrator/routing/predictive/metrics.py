"""Routing quality metrics as in RouteLLM: PGR curve, APGR, CPT and routing accuracy."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


def _arrays(scores: ArrayLike, weak: ArrayLike, strong: ArrayLike) -> tuple[np.ndarray, ...]:
    """Validate lengths and return the three inputs as float arrays."""
    s, w, g = (np.asarray(x, dtype=float) for x in (scores, weak, strong))
    if not (len(s) == len(w) == len(g)) or len(s) == 0:
        raise ValueError(f"scores, weak and strong need the same non-zero length, got {len(s)}, {len(w)}, {len(g)}")
    return s, w, g


def pgr_curve(scores: ArrayLike, weak: ArrayLike, strong: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Share of strong calls and PGR at every distinct threshold, highest scores routed first.

    Tied scores move together, so linear interpolation between points is the expected PGR under
    random tie-breaking. PGR is NaN everywhere when both models score the same.
    """
    s, w, g = _arrays(scores, weak, strong)
    order = np.argsort(-s, kind="stable")
    gain = np.cumsum((g - w)[order])
    # Keep only the last position of each tie group: thresholds sit between distinct scores.
    ends = np.flatnonzero(np.r_[np.diff(s[order]) != 0, True])
    share = np.r_[0.0, (ends + 1) / len(s)]
    total = g.sum() - w.sum()
    pgr = np.r_[0.0, gain[ends]] / total if total != 0 else np.full(len(share), math.nan)
    return share, pgr


def apgr(scores: ArrayLike, weak: ArrayLike, strong: ArrayLike) -> float:
    """Area under the PGR curve as the share of strong calls goes from 0 to 1 (random = 0.5)."""
    share, pgr = pgr_curve(scores, weak, strong)
    return float(np.sum((share[1:] - share[:-1]) * (pgr[1:] + pgr[:-1]) / 2))


def cpt(scores: ArrayLike, weak: ArrayLike, strong: ArrayLike, target: float) -> float:
    """Smallest share of strong calls whose (interpolated) PGR reaches `target`, e.g. 0.5 for CPT(50%)."""
    share, pgr = pgr_curve(scores, weak, strong)
    return share_for_pgr(share, pgr, target)


def share_for_pgr(share: np.ndarray, pgr: np.ndarray, target: float) -> float:
    """First crossing of `target` on a piecewise-linear PGR curve; NaN when the curve is undefined."""
    hits = np.flatnonzero(pgr >= target)
    if len(hits) == 0:
        return math.nan
    i = int(hits[0])
    if i == 0:
        return 0.0
    frac = (target - pgr[i - 1]) / (pgr[i] - pgr[i - 1])
    return float(share[i - 1] + frac * (share[i] - share[i - 1]))


def oracle_labels(weak: ArrayLike, strong: ArrayLike) -> np.ndarray:
    """The oracle's choice: the strong model exactly when it is right and the weak one is wrong."""
    w, g = np.asarray(weak), np.asarray(strong)
    return (w == 0) & (g == 1)


def routing_accuracy(needs_strong: ArrayLike, weak: ArrayLike, strong: ArrayLike) -> float:
    """How often the router's choice matches the oracle's."""
    choice = np.asarray(needs_strong, dtype=bool)
    return float(np.mean(choice == oracle_labels(weak, strong)))


def random_routing_accuracy(share: float, weak: ArrayLike, strong: ArrayLike) -> float:
    """Expected routing accuracy of a router that sends a random `share` of calls to the strong model."""
    positive = float(np.mean(oracle_labels(weak, strong)))
    return share * positive + (1 - share) * (1 - positive)


def oracle_apgr(weak: ArrayLike, strong: ArrayLike) -> float:
    """APGR of the oracle ranking (strong-only wins first, weak-only wins last); can exceed 1."""
    w, g = np.asarray(weak, dtype=float), np.asarray(strong, dtype=float)
    return apgr(g - w, w, g)


def quality(needs_strong: ArrayLike, weak: ArrayLike, strong: ArrayLike) -> float:
    """Share of correct answers when each call goes to the model the router chose."""
    choice = np.asarray(needs_strong, dtype=bool)
    return float(np.mean(np.where(choice, np.asarray(strong), np.asarray(weak))))
