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
