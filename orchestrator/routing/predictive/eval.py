"""Cross-validated evaluation of routers: APGR, CPT, routing accuracy, references, per group and per source."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orchestrator.routing.predictive import metrics
from orchestrator.routing.predictive.features import source_group


@dataclass
class SliceReport:
    """Figures for one slice of the rows (all, one group such as gsm8k, or one source)."""

    n: int
    apgr: float
    cpt50: float
    cpt80: float
    routing_accuracy: float
    strong_share: float
    random_accuracy: float
    oracle_apgr: float
    weak_quality: float
    strong_quality: float
    router_quality: float


@dataclass
class EvalReport:
    """Cross-validated figures of one router; scores are out-of-fold, one per row."""

    name: str
    folds: int
    seed: int
    rule: dict[str, float]
    overall: SliceReport
    groups: dict[str, SliceReport]
    sources: dict[str, SliceReport]
    seconds: float
    scores: list[float] = field(default_factory=list, repr=False)

    def format(self, per_source: bool = False) -> str:
        """A plain-text table: overall, per group, optionally per source, with random and oracle references."""
        rule = ", ".join(f"{k}={v}" for k, v in self.rule.items())
        lines = [
            f"{self.name}: {self.folds}-fold cross-validation (seed {self.seed}), threshold rule {rule}, "
            f"{self.seconds:.0f}s",
            f"{'slice':34} {'n':>5} {'APGR':>6} {'CPT50':>6} {'CPT80':>6} {'acc':>6} {'strong':>6} "
            f"{'rnd_acc':>7} {'orc_APGR':>8}",
        ]
        rows = [("overall", self.overall), *sorted(self.groups.items())]
        if per_source:
            rows += sorted(self.sources.items())
        lines += [_format_row(name, s) for name, s in rows]
        lines.append("references: random router APGR 0.500; oracle routing accuracy 1.000 (oracle APGR per row above)")
        return "\n".join(lines)


def _format_row(name: str, s: SliceReport) -> str:
    """One table row."""
    return (
        f"{name[:34]:34} {s.n:5d} {s.apgr:6.3f} {s.cpt50:6.3f} {s.cpt80:6.3f} {s.routing_accuracy:6.3f} "
        f"{s.strong_share:6.3f} {s.random_accuracy:7.3f} {s.oracle_apgr:8.3f}"
    )


def slice_report(scores: np.ndarray, needs: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> SliceReport:
    """All figures for one slice."""
    share = float(np.mean(needs))
    return SliceReport(
        n=len(scores),
        apgr=metrics.apgr(scores, weak, strong),
        cpt50=metrics.cpt(scores, weak, strong, 0.5),
        cpt80=metrics.cpt(scores, weak, strong, 0.8),
        routing_accuracy=metrics.routing_accuracy(needs, weak, strong),
        strong_share=share,
        random_accuracy=metrics.random_routing_accuracy(share, weak, strong),
        oracle_apgr=metrics.oracle_apgr(weak, strong),
        weak_quality=float(np.mean(weak)),
        strong_quality=float(np.mean(strong)),
        router_quality=metrics.quality(needs, weak, strong),
    )


def build_report(
    name: str,
    sources: Sequence[str],
    scores: np.ndarray,
    needs: np.ndarray,
    labels: tuple[np.ndarray, np.ndarray],
    settings: dict[str, Any],
) -> EvalReport:
    """Group out-of-fold scores and choices into overall, per-group and per-source slices."""
    weak, strong = labels
    sources_a = np.asarray(sources)
    groups_a = np.asarray([source_group(s) for s in sources])

    def slices(keys: np.ndarray) -> dict[str, SliceReport]:
        return {str(k): slice_report(*(a[keys == k] for a in (scores, needs, weak, strong))) for k in np.unique(keys)}

    return EvalReport(
        name=name,
        overall=slice_report(scores, needs, weak, strong),
        groups=slices(groups_a),
        sources=slices(sources_a),
        scores=[float(s) for s in scores],
        **settings,
    )


FoldFitter = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, float]]


def cross_validate(
    name: str,
    sources: Sequence[str],
    labels: tuple[np.ndarray, np.ndarray],
    fit_and_score: FoldFitter,
    settings: dict[str, Any],
) -> EvalReport:
    """Run `fit_and_score(train, test) -> (test scores, threshold)` over outer folds and report."""
    from orchestrator.routing.predictive.fit import make_folds

    started = time.perf_counter()
    scores, needs = np.zeros(len(sources)), np.zeros(len(sources), dtype=bool)
    for train, test in make_folds(sources, np.arange(len(sources)), settings["folds"], settings["seed"]):
        scores[test], threshold = fit_and_score(train, test)
        needs[test] = scores[test] >= threshold
    settings = {**settings, "seconds": time.perf_counter() - started}
    return build_report(name, sources, scores, needs, labels, settings)


def evaluate(
    rows: Sequence[Mapping[str, Any]], folds: int = 5, seed: int = 0, max_strong_share: float = 0.3, where: str = "rows"
) -> EvalReport:
    """Nested cross-validation of the predictive router, scoring test rows through the shipped scorer."""
    from orchestrator.routing.predictive.fit import fit_prepared, prepare, threshold_rule
    from orchestrator.routing.predictive.router import PredictiveRouter

    data = prepare(rows, where)
    rule = threshold_rule(max_strong_share, None)

    def fit_and_score(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, float]:
        router = PredictiveRouter(fit_prepared(data, train, rule, seed))
        return np.asarray([router.score_features(data.features[i]) for i in test]), router.threshold

    settings = {"folds": folds, "seed": seed, "rule": rule}
    return cross_validate("predictive router", data.sources, (data.weak, data.strong), fit_and_score, settings)
