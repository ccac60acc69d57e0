"""Calibration from a repo's own runs: preference data from the run log, a baseline, and drift against it."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError

PREFERENCE_COLUMNS = ["run_id", "step", "persona", "model", "gate", "passed", "cost_usd", "tokens", "ts"]


def preference_rows(runlog: Any) -> list[dict[str, Any]]:
    """Which model's work passed which gate, at what cost, over every run in the log."""
    from orchestrator.routing.drift import preference_rows_from_calls

    return preference_rows_from_calls(runlog.all_calls(), runlog.gate_events())


def pairwise_rows(runlog: Any, weak: set[str], strong: set[str]) -> list[dict[str, Any]]:
    """Predictive-router rows (source, prompt, weak_correct, strong_correct), one per piece of work that both a
    weak and a strong model did: whether each one's first attempt passed its first gate, in the earliest run
    that tried it. The prompt is the work's intent (task and step instructions) as the decision logged it."""
    intents = {(d["run_id"], d["step"]): d["features"] for d in reversed(runlog.decisions())}
    tasks = {run["id"]: run["task"] or "" for run in runlog.runs()}
    firsts: dict[str, dict[str, Any]] = {}
    for row in preference_rows(runlog):
        firsts.setdefault(row["run_id"], row)
    outcomes: dict[tuple[str, str], dict[str, bool]] = {}
    for run_id, row in sorted(firsts.items(), key=lambda item: item[1]["ts"]):
        side = "weak" if row["model"] in weak else "strong" if row["model"] in strong else None
        features = intents.get((run_id, row["step"]), {})
        prompt = features.get("intent") or tasks.get(run_id, "")
        if side is not None and prompt:
            outcomes.setdefault((features.get("task_type") or row["step"], prompt), {}).setdefault(side, row["passed"])
    return [{"source": source, "prompt": prompt, "weak_correct": int(o["weak"]), "strong_correct": int(o["strong"])}
            for (source, prompt), o in outcomes.items() if len(o) == 2]


def write_calibration(rows: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    """Write the rows as CSV next to a JSON baseline (per-model pass rate and mean cost); return the baseline."""
    from orchestrator.routing.drift import baseline_from_rows

    if not rows:
        raise ConfigError("the run log has no gate outcomes yet: run a workflow with gates first")
    with out.with_suffix(".csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=PREFERENCE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    baseline = {model: {"pass_rate": b.pass_rate, "mean_cost_usd": b.mean_cost_usd, "n": b.n}
                for model, b in baseline_from_rows(rows).items()}
    out.write_text(json.dumps({"kind": "run-calibration", "rows": len(rows), "baseline": baseline}, indent=2))
    return baseline


def read_baseline(path: Path) -> dict[str, Any]:
    """The per-model baseline of a calibration file written by `router calibrate --from-runs`."""
    try:
        data = json.loads(path.read_text())
        return data["baseline"]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path}: not a run calibration file ({exc}); write one with "
                          "`orchestrator router calibrate --from-runs --out FILE`") from None


def drift_report(runlog: Any, baseline: dict[str, Any], recent: int = 50, min_samples: int = 20) -> Any:
    """Recent gate pass rates and costs per model compared with the baseline."""
    from orchestrator.routing.drift import detect_drift

    rows = preference_rows(runlog)
    return detect_drift(rows, baseline, window=recent, min_samples=min_samples)
