"""Drift detection on logged gate outcomes and costs, and preference rows built from the run log."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

_PASS = {"pass", "passed", "ok", "true", "approved"}


@dataclass(frozen=True)
class Baseline:
    """A model's calibrated behaviour: pass rate, mean cost per call, and how many outcomes it rests on."""

    pass_rate: float
    mean_cost_usd: float
    n: int = 0


@dataclass
class ModelDrift:
    """One model's baseline against its recent outcomes, and whether that counts as drift."""

    model: str
    baseline_pass: float | None
    recent_pass: float | None
    pass_delta: float | None
    baseline_cost: float | None
    recent_cost: float | None
    cost_change: float | None
    n_recent: int
    p_value: float | None
    flagged: bool = False
    reason: str = ""


@dataclass
class DriftReport:
    """Per-model drift verdicts and the thresholds used."""

    models: list[ModelDrift] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def flagged(self) -> list[ModelDrift]:
        """The models whose quality or cost drifted."""
        return [m for m in self.models if m.flagged]

    def rows(self) -> list[dict[str, Any]]:
        """Plain dicts, one per model, for tables and JSON."""
        return [asdict(m) for m in self.models]


def is_pass(verdict: Any) -> bool:
    """A gate verdict (text or bool) as pass/fail."""
    return verdict is True or str(verdict).strip().lower() in _PASS


def baseline_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, Baseline]:
    """Per-model pass rate and mean cost from outcome rows (model, passed, cost_usd), e.g. a calibration period."""
    passes: dict[str, list[float]] = defaultdict(list)
    costs: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        passes[row["model"]].append(1.0 if is_pass(row["passed"]) else 0.0)
        costs[row["model"]].append(float(row.get("cost_usd") or 0.0))
    return {m: Baseline(_mean(p), _mean(costs[m]), len(p)) for m, p in passes.items()}


def detect_drift(
    recent: Iterable[Mapping[str, Any]],
    baseline: Mapping[str, Baseline | Mapping[str, Any]],
    *,
    max_pass_drop: float = 0.10,
    max_cost_rise: float = 0.25,
    min_samples: int = 20,
    alpha: float = 0.05,
    window: int | None = None,
) -> DriftReport:
    """Flag models whose recent pass rate fell by more than `max_pass_drop` (one-sided z-test at `alpha`)
    or whose mean cost rose by more than `max_cost_rise` (a fraction), given at least `min_samples` outcomes.

    `window` keeps only each model's latest outcomes (by `ts`).
    """
    by_model: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in recent:
        by_model[row["model"]].append(row)
    bases = {m: _as_baseline(b) for m, b in baseline.items()}
    report = DriftReport(
        settings={
            "max_pass_drop": max_pass_drop,
            "max_cost_rise": max_cost_rise,
            "min_samples": min_samples,
            "alpha": alpha,
            "window": window,
        }
    )
    for model in sorted(set(by_model) | set(bases)):
        rows = sorted(by_model.get(model, []), key=lambda r: r.get("ts") or 0)
        rows = rows[-window:] if window else rows
        report.models.append(_judge(model, rows, bases.get(model), max_pass_drop, max_cost_rise, min_samples, alpha))
    return report


def _judge(
    model: str,
    rows: list[Mapping[str, Any]],
    base: Baseline | None,
    max_drop: float,
    max_rise: float,
    min_samples: int,
    alpha: float,
) -> ModelDrift:
    """The drift verdict for one model."""
    n = len(rows)
    out = ModelDrift(model, None, None, None, None, None, None, n, None)
    if base is not None:
        out.baseline_pass, out.baseline_cost = base.pass_rate, base.mean_cost_usd
    if rows:
        out.recent_pass = _mean([1.0 if is_pass(r["passed"]) else 0.0 for r in rows])
        out.recent_cost = _mean([float(r.get("cost_usd") or 0.0) for r in rows])
    if base is None or out.recent_pass is None or out.recent_cost is None:
        out.reason = "no baseline" if base is None else "no recent outcomes"
        return out
    out.pass_delta = out.recent_pass - base.pass_rate
    out.p_value = drop_p_value(base.pass_rate, base.n, out.recent_pass, n)
    out.cost_change = (out.recent_cost / base.mean_cost_usd - 1) if base.mean_cost_usd > 0 else None
    if n < min_samples:
        out.reason = f"too few recent outcomes ({n} < {min_samples})"
        return out
    reasons = _drift_reasons(out, base, max_drop, max_rise, alpha)
    out.flagged = bool(reasons)
    out.reason = "; ".join(reasons) if reasons else "stable"
    return out


def _drift_reasons(out: ModelDrift, base: Baseline, max_drop: float, max_rise: float, alpha: float) -> list[str]:
    """Why a model with enough recent outcomes counts as drifted (empty when it doesn't)."""
    reasons = []
    recent_pass, recent_cost = out.recent_pass or 0.0, out.recent_cost or 0.0
    if -(out.pass_delta or 0.0) > max_drop and (out.p_value or 1.0) < alpha:
        reasons.append(f"pass rate {base.pass_rate:.2f} -> {recent_pass:.2f} (p={out.p_value:.3g})")
    if out.cost_change is not None and out.cost_change > max_rise:
        reasons.append(f"cost per call +{out.cost_change:.0%} (${base.mean_cost_usd:.4g} -> ${recent_cost:.4g})")
    elif base.mean_cost_usd <= 0 < recent_cost:
        reasons.append(f"cost per call rose from $0 to ${recent_cost:.4g}")
    return reasons


def drop_p_value(p0: float, n0: int, p1: float, n1: int) -> float:
    """One-sided p-value that the recent rate p1 (n1 outcomes) is below the baseline p0.

    A two-proportion pooled z-test when the baseline's size n0 is known; otherwise a one-sample test
    against p0 taken as exact.
    """
    if n1 <= 0:
        return 1.0
    if n0 > 0:
        pooled = (p0 * n0 + p1 * n1) / (n0 + n1)
        var = pooled * (1 - pooled) * (1 / n0 + 1 / n1)
    else:
        # Keep the variance positive when the baseline is exactly 0 or 1.
        p = min(max(p0, 0.5 / n1), 1 - 0.5 / n1)
        var = p * (1 - p) / n1
    if var <= 0:
        return 1.0 if p1 >= p0 else 0.0
    z = (p0 - p1) / math.sqrt(var)
    return 0.5 * math.erfc(z / math.sqrt(2))


def preference_rows_from_calls(
    calls: Iterable[Mapping[str, Any]],
    gate_events: Iterable[Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Which model's work passed which gate, at what cost: one row per (gate verdict, step, persona, model).

    `calls` are run-log `calls` rows; `gate_events` are `events` rows of kind 'gate' (data.verdict). Within a
    run, a gate judges the agent calls made since the previous gate; a gate right after another gate judges
    the same work again. Calls made by the gate step itself (critics) are the judging, not the work. Without
    gate events, each call row must carry its own `verdict` or `passed`.
    """
    if gate_events is None:
        return [_own_verdict_row(c) for c in calls if c.get("verdict") is not None or c.get("passed") is not None]
    timeline: dict[str, list[tuple[float, int, Mapping[str, Any]]]] = defaultdict(list)
    for call in calls:
        timeline[call["run_id"]].append((float(call.get("ts") or 0), 0, call))
    for event in gate_events:
        if event.get("kind", "gate") == "gate":
            timeline[event["run_id"]].append((float(event.get("ts") or 0), 1, event))
    rows: list[dict[str, Any]] = []
    for run_id in sorted(timeline):
        rows += _run_rows(run_id, sorted(timeline[run_id], key=lambda item: (item[0], item[1])))
    return rows


def _run_rows(run_id: str, timeline: list[tuple[float, int, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Preference rows of one run, walking its calls and gate events in time order."""
    rows: list[dict[str, Any]] = []
    pending: list[Mapping[str, Any]] = []
    last_work: list[Mapping[str, Any]] = []
    for ts, is_gate, item in timeline:
        if not is_gate:
            pending.append(item)
            continue
        gate_step = item.get("step", "")
        work = [c for c in pending if c.get("step") != gate_step] or last_work
        verdict = _data(item).get("verdict")
        for (step, persona, model), group in _group(work).items():
            rows.append(
                {
                    "run_id": run_id,
                    "step": step,
                    "persona": persona,
                    "model": model,
                    "gate": gate_step,
                    "verdict": verdict,
                    "passed": is_pass(verdict),
                    "calls": len(group),
                    "ts": ts,
                    "cost_usd": sum(float(c.get("cost_usd") or 0.0) for c in group),
                    "prompt_tokens": sum(int(c.get("prompt_tokens") or 0) for c in group),
                    "completion_tokens": sum(int(c.get("completion_tokens") or 0) for c in group),
                }
            )
        last_work, pending = work, []
    return rows


def _group(calls: list[Mapping[str, Any]]) -> dict[tuple[str, str, str], list[Mapping[str, Any]]]:
    """Calls grouped by (step, persona, model), in first-seen order."""
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for call in calls:
        key = (str(call.get("step") or ""), str(call.get("persona") or ""), str(call.get("model") or ""))
        groups.setdefault(key, []).append(call)
    return groups


def _own_verdict_row(call: Mapping[str, Any]) -> dict[str, Any]:
    """A preference row from a call that already carries its verdict."""
    verdict = call.get("verdict", call.get("passed"))
    return {**call, "verdict": verdict, "passed": is_pass(verdict), "cost_usd": float(call.get("cost_usd") or 0.0)}


def _data(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event's data, decoded when the row comes straight from SQLite."""
    data = event.get("data") or {}
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return {}
    return data if isinstance(data, dict) else {}


def _as_baseline(value: Baseline | Mapping[str, Any]) -> Baseline:
    """Accept a Baseline or a dict with pass_rate, mean_cost_usd and optional n."""
    if isinstance(value, Baseline):
        return value
    return Baseline(float(value["pass_rate"]), float(value.get("mean_cost_usd", 0.0)), int(value.get("n", 0)))


def _mean(values: list[float]) -> float:
    """Arithmetic mean of a non-empty list."""
    return sum(values) / len(values)
