"""`orchestrator router explain|drift` and `router calibrate --from-runs` helpers: routing as audited."""

from __future__ import annotations

from pathlib import Path

import typer

from orchestrator.cli.render import console, print_table


def register(app: typer.Typer) -> None:
    """Add the run-log based routing commands to the `router` group."""
    app.command("explain")(explain)
    app.command("drift")(drift)


def explain(
    text: str = typer.Argument(..., help="The request text to route (e.g. a prompt or a task)."),
    persona: str = typer.Option("builder", "--persona", "-p", help="Persona making the call."),
    workflow: str = typer.Option("feature", "--workflow", "-w", help="Workflow whose routing applies."),
    step: str = typer.Option(None, "--step", help="Step id (default: the persona's first step)."),
    repo: Path = typer.Option(None, "--repo", help="Repository with .orchestrator/ overrides."),
    pin: str = typer.Option(None, "--pin", help="Explain pinned mode with this model."),
) -> int:
    """Explain one routing decision: strategy, candidates, chosen model, reason and decision latency."""
    from orchestrator.errors import ConfigError
    from orchestrator.models.registry import load_registry
    from orchestrator.run.routing import RunRouter
    from orchestrator.workflow.spec import AgentStepSpec
    from orchestrator.workflow.validate import find_workflow, load_workflow

    spec = load_workflow(find_workflow(workflow, repo), repo)
    registry = load_registry(repo, workflow_models=spec.models)
    steps = [s for s in spec.steps if step is None or s.id == step]
    if step and not steps:
        raise ConfigError(f"workflow {spec.name!r} has no step {step!r}")
    # The persona's own step carries its stakes and tags; critics and moderators act inside gate steps.
    chosen = next((s for s in steps if getattr(s, "persona", None) == persona), None)
    chosen = chosen or (steps[0] if step else AgentStepSpec(id="explain", persona=persona))
    decision = RunRouter(registry=registry, spec=spec, state_dir=_state(repo), runlog=_NoLog(), run_id="explain",
                         pin=pin).explain(chosen, persona, text, list(registry.resolve(persona).models))
    out = console()
    out.print(f"strategy:   {decision.strategy}")
    out.print(f"candidates: {', '.join(decision.candidates)}")
    out.print(f"chosen:     {decision.chosen}")
    out.print(f"reason:     {decision.reason}")
    out.print(f"latency:    {decision.latency_us:.0f} µs")
    out.print(f"features:   {decision.features}")
    return 0


def drift(
    baseline: Path = typer.Option(..., "--baseline", help="Calibration file from `router calibrate --from-runs`."),
    repo: Path = typer.Option(Path("."), "--repo", help="Repository whose run log to check."),
    recent: int = typer.Option(50, "--recent", help="How many recent outcomes per model to compare."),
    min_samples: int = typer.Option(20, "--min-samples", help="Fewer recent outcomes than this: no verdict."),
    check: bool = typer.Option(False, "--check", help="Exit 3 when any model drifted (for monitors and CI)."),
) -> int:
    """Compare recent gate pass rates and costs per model with the calibration, and flag drift."""
    from orchestrator.run.calibration import drift_report, read_baseline

    log = _open_log(repo)
    report = drift_report(log, read_baseline(baseline), recent=recent, min_samples=min_samples)
    print_table("Drift per model", report.rows())
    for model in report.flagged:
        console().print(f"[red]Drift:[/red] {model.model}: {model.reason}")
    return 3 if check and report.flagged else 0


def calibrate_from_runs(repo: Path, out: Path) -> int:
    """Preference data and a per-model baseline from the repo's run log."""
    from orchestrator.run.calibration import preference_rows, write_calibration

    rows = preference_rows(_open_log(repo))
    baseline = write_calibration(rows, out)
    print_table(f"Calibration from {len(rows)} gate outcomes", [
        {"model": m, "pass rate": f"{b['pass_rate']:.2f}", "mean cost $": f"{b['mean_cost_usd']:.4f}", "n": b["n"]}
        for m, b in baseline.items()])
    console().print(f"Wrote {out} and {out.with_suffix('.csv')}")
    return 0


def _open_log(repo: Path):
    from orchestrator.run.log import RunLog
    from orchestrator.run.workspace import state_dir

    return RunLog(state_dir(repo) / "runs.sqlite")


def _state(repo: Path | None) -> Path:
    if repo is None:
        import tempfile

        return Path(tempfile.mkdtemp(prefix="orchestrator-explain-"))
    from orchestrator.run.workspace import state_dir

    return state_dir(repo) / "routing"


class _NoLog:
    """`explain` decides without recording: nothing is written to any run log."""

    def decision(self, *args: object) -> int:
        return 0
