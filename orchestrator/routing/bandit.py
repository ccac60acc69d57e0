"""Bandit routing: Thompson sampling over a profile's models per task type, learned from gate outcomes and cost.

Design: each (task type, model) arm keeps a Beta(α, β) posterior of its gate pass rate (prior Beta(1, 1))
and the running mean of its cost per call. To route, sample p from each arm's posterior and pick the
arm maximising `p − λ · cost / max_cost`, where max_cost is the highest mean cost among the arms being
compared. Normalising by the dearest arm makes λ unit-free: λ = 0.2 means "the dearest arm must pass
20 points more often than a free one to win". Arms with no observed cost use the registry's price.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.routing.base import RouteDecision, RouteRequest, read_json_state, write_json_state
from orchestrator.routing.capability import FilteredStrategy

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry

_ANY_TASK = "*"
_STATE_VERSION = 1
# A prior price guess for arms never seen: a typical agent call's size.
_PRIOR_PROMPT_TOKENS, _PRIOR_COMPLETION_TOKENS = 2000, 500


@dataclass
class Arm:
    """One model's posterior for one task type: Beta(alpha, beta) over its pass rate, and its cost so far."""

    alpha: float = 1.0
    beta: float = 1.0
    pulls: int = 0
    cost_sum: float = 0.0

    @property
    def mean_pass(self) -> float:
        """Posterior mean pass rate."""
        return self.alpha / (self.alpha + self.beta)

    def mean_cost(self) -> float | None:
        """Observed mean cost per call in USD, or None before the first observation."""
        return self.cost_sum / self.pulls if self.pulls else None


class BanditStrategy(FilteredStrategy):
    """Thompson sampling over the persona's candidate models, one posterior per task type."""

    name = "bandit"

    def __init__(
        self,
        registry: Registry,
        state_path: Path | None,
        *,
        cost_weight: float = 0.2,
        seed: int | None = None,
    ):
        super().__init__(registry)
        self.path = Path(state_path) if state_path is not None else None  # None: the run log is the state
        self.cost_weight = cost_weight
        self.rng = random.Random(seed)
        self._lock = threading.Lock()
        self.arms: dict[str, dict[str, Arm]] = _load(self.path) if self.path else {}

    def route(self, request: RouteRequest, candidates: list[str]) -> RouteDecision:
        """Sample each fitting candidate's pass rate and order them by sampled score minus cost penalty."""
        started = time.perf_counter()
        fitting = self.filter.apply(request, list(dict.fromkeys(candidates)))
        task = request.task_type or _ANY_TASK
        costs = {m: self._cost(task, m, request) for m in fitting}
        top_cost = max(costs.values(), default=0.0)
        scores = {}
        with self._lock:
            for model in fitting:
                arm = self.arm(task, model)
                penalty = self.cost_weight * costs[model] / top_cost if top_cost > 0 else 0.0
                scores[model] = self.rng.betavariate(arm.alpha, arm.beta) - penalty
        ordered = sorted(fitting, key=lambda m: -scores[m])
        best = self.arm(task, ordered[0])
        reason = (
            f"bandit: task {task}, {ordered[0]} scored {scores[ordered[0]]:.2f} "
            f"(posterior mean {best.mean_pass:.2f} over {best.pulls} outcomes, λ={self.cost_weight:g})"
        )
        features = {"task": task, "scores": {m: round(s, 4) for m, s in scores.items()}}
        return self.finish(request, ordered, reason, started, features)

    def arm(self, task_type: str, model: str) -> Arm:
        """The arm for a (task type, model), created with the uniform prior when new."""
        return self.arms.setdefault(task_type or _ANY_TASK, {}).setdefault(model, Arm())

    def update(self, task_type: str, model: str, passed: bool, cost_usd: float = 0.0, *, save: bool = True) -> Arm:
        """Fold in one gate outcome (pass = 1, fail = 0) and its cost; persist unless told not to."""
        with self._lock:
            arm = self.arm(task_type, model)
            arm.alpha += 1.0 if passed else 0.0
            arm.beta += 0.0 if passed else 1.0
            arm.pulls += 1
            arm.cost_sum += max(0.0, float(cost_usd))
        if save:
            self.save()
        return arm

    def learn(self, rows: list[dict[str, Any]]) -> int:
        """Replay logged outcomes (rows with model, passed, cost_usd and optionally task_type); returns how many."""
        count = 0
        for row in rows:
            if row.get("model") and row.get("passed") is not None:
                self.update(
                    str(row.get("task_type") or ""),
                    row["model"],
                    bool(row["passed"]),
                    float(row.get("cost_usd") or 0.0),
                    save=False,
                )
                count += 1
        self.save()
        return count

    def save(self) -> None:
        """Persist every posterior atomically (nothing to do when the posteriors come from the run log)."""
        if self.path is None:
            return
        with self._lock:
            data = {
                "version": _STATE_VERSION,
                "arms": {t: {m: vars(a).copy() for m, a in arms.items()} for t, arms in self.arms.items()},
            }
        write_json_state(self.path, data)

    def _cost(self, task: str, model: str, request: RouteRequest) -> float:
        """Observed mean cost for the arm, else the registry's price for a typical call of this size."""
        observed = self.arms.get(task, {}).get(model)
        if observed is not None and observed.mean_cost() is not None:
            return observed.mean_cost() or 0.0
        info = self.filter.info(model)
        prompt = max(request.tokens, _PRIOR_PROMPT_TOKENS)
        return info.input_cost_per_token * prompt + info.output_cost_per_token * _PRIOR_COMPLETION_TOKENS


def _load(path: Path) -> dict[str, dict[str, Arm]]:
    """Posteriors from a state file; a missing, foreign or corrupt file starts fresh."""
    data = read_json_state(path)
    if data.get("version") != _STATE_VERSION or not isinstance(data.get("arms"), dict):
        return {}
    arms: dict[str, dict[str, Arm]] = {}
    for task, models in data["arms"].items():
        if not isinstance(models, dict):
            continue
        for model, values in models.items():
            try:
                arms.setdefault(task, {})[model] = Arm(**values)
            except TypeError:
                continue
    return arms
