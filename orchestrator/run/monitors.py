"""L4 monitors: halt an unattended run when its recent gate pass rate or its spend rate crosses a threshold."""

from __future__ import annotations

from orchestrator.run.context import RunContext


def monitor_breach(ctx: RunContext) -> str | None:
    """A stop reason when a monitor trips, else None. Only L4 runs have monitors (others have a human)."""
    settings = ctx.spec.settings
    if settings.autonomy != "L4":
        return None
    monitor = settings.monitor
    if monitor.min_pass_rate is not None:
        verdicts = [e["data"].get("verdict") for e in ctx.runlog.events(ctx.run_id, "gate")][-monitor.window:]
        if len(verdicts) >= monitor.window:
            rate = verdicts.count("pass") / len(verdicts)
            if rate < monitor.min_pass_rate:
                return (f"L4 monitor: gate pass rate {rate:.2f} over the last {len(verdicts)} gates is below "
                        f"min_pass_rate={monitor.min_pass_rate:g}")
    if monitor.drift_baseline:
        drifted = _drift(ctx, monitor.drift_baseline)
        if drifted:
            return f"L4 monitor: model drift against {monitor.drift_baseline}: {drifted}"
    if monitor.max_usd_per_minute is not None:
        minutes = max(ctx.guard.elapsed() / 60.0, 1e-9)
        rate = ctx.guard.run_spend.usd / minutes
        if rate > monitor.max_usd_per_minute:
            return (f"L4 monitor: spend rate ${rate:.4f}/min is above "
                    f"max_usd_per_minute={monitor.max_usd_per_minute:g}")
    return None


def _drift(ctx: RunContext, baseline_file: str) -> str:
    """Reasons of models whose recent gate pass rate or cost drifted from the calibration, or ''."""
    from pathlib import Path

    from orchestrator.store.calibration import drift_report, read_baseline

    path = Path(baseline_file)
    path = path if path.is_absolute() else ctx.workspace.repo / path
    report = drift_report(ctx.runlog, read_baseline(path))
    return "; ".join(f"{m.model}: {m.reason}" for m in report.flagged)
