"""`orchestrator router calibrate | score | eval | explain | fit-intents | drift`: routing calibrated and audited."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import TextIO

import typer

from orchestrator.cli.render import console, print_table

app = typer.Typer(
    help="Predictive router: calibrate on preference data, score prompts, cross-validate.",
    no_args_is_help=True,
)


@app.command()
def calibrate(
    data: Path = typer.Argument(
        None, help="Preference CSV with columns source,prompt,weak_correct,strong_correct (not with --from-runs)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the router JSON (or the run calibration)."),
    max_strong_share: float | None = typer.Option(
        None, "--max-strong-share", help="Send at most this share of calls to the strong model (default 0.3)."
    ),
    target_pgr: float | None = typer.Option(
        None, "--target-pgr", help="Instead: the smallest strong share whose cross-validated PGR reaches this."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for the inner cross-validation folds."),
    from_runs: bool = typer.Option(
        False, "--from-runs", help="Instead: preference data and a per-model baseline from the repo's run log."
    ),
    repo: Path = typer.Option(Path("."), "--repo", help="With --from-runs: the repository whose runs to read."),
    router: Path | None = typer.Option(None, "--router", help="With --from-runs: also fit a predictive router on "
                                       "the log's work that both the weak and the strong profile did, write it here."),
    weak_profile: str = typer.Option("high_throughput", "--weak-profile", help="With --router: the weak side."),
    strong_profile: str = typer.Option("high_reasoning", "--strong-profile", help="With --router: the strong side."),
) -> None:
    """Fit the router on DATA and write its JSON (vocabulary, weights, trees, threshold, metadata)."""
    if from_runs:
        calibrate_from_runs(repo, out)
        return None if router is None else fit_from_runs(
            repo, router, (weak_profile, strong_profile), max_strong_share, target_pgr, seed)
    if data is None:
        raise typer.BadParameter("give DATA.csv, or --from-runs", param_hint="DATA")
    from orchestrator.routing.predictive.data import PREFERENCE_COLUMNS, read_csv_rows
    from orchestrator.routing.predictive.router import calibrate as fit

    rows = read_csv_rows(data, PREFERENCE_COLUMNS)
    fitted = fit(rows, max_strong_share=max_strong_share, target_pgr=target_pgr, seed=seed, where=str(data))
    fitted.save(out)
    meta = fitted.metadata
    rule = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in meta["threshold_rule"].items())
    typer.echo(
        f"Wrote {out}: threshold {fitted.threshold:.4f} ({rule}); {meta['rows']} rows, "
        f"inner out-of-fold APGR {meta['inner_oof_apgr']:.3f}, strong share {meta['inner_oof_strong_share']:.3f}."
    )


@app.command()
def score(
    router: Path = typer.Argument(..., help="Router JSON written by `router calibrate`."),
    input: Path = typer.Option(..., "--input", "-i", help="CSV with at least columns source,prompt."),
    output: Path = typer.Option(..., "--output", "-o", help="CSV to write: header `score`, one row per input row."),
) -> None:
    """Score every prompt of INPUT (higher = needs the strong model more), keeping the input order."""
    from orchestrator.routing.predictive.data import PROMPT_COLUMNS, read_csv_rows
    from orchestrator.routing.predictive.router import PredictiveRouter

    fitted = PredictiveRouter.load(router)
    rows = read_csv_rows(input, PROMPT_COLUMNS)
    scores = fitted.score_many((row["prompt"] or "", row["source"] or "") for row in rows)
    if str(output) == "-":
        _write_scores(sys.stdout, scores)
    else:
        with output.open("w", newline="", encoding="utf-8") as handle:
            _write_scores(handle, scores)
        typer.echo(f"Wrote {len(scores)} scores to {output} (threshold {fitted.threshold:.4f}).", err=True)


def _write_scores(handle: TextIO, scores: list[float]) -> None:
    """Write the `score` column."""
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["score"])
    writer.writerows([[repr(float(s))] for s in scores])


@app.command("eval")
def eval_(
    data: Path = typer.Argument(..., help="Preference CSV with columns source,prompt,weak_correct,strong_correct."),
    folds: int = typer.Option(5, "--folds", help="Outer cross-validation folds."),
    seed: int = typer.Option(0, "--seed", help="Seed for the folds."),
    max_strong_share: float = typer.Option(0.3, "--max-strong-share", help="Threshold rule inside each fold."),
    per_source: bool = typer.Option(True, "--per-source/--groups-only", help="Also list every source."),
) -> None:
    """Nested cross-validation on DATA: APGR, CPT(50%), CPT(80%), routing accuracy, references, per source."""
    from orchestrator.routing.predictive.data import PREFERENCE_COLUMNS, read_csv_rows
    from orchestrator.routing.predictive.eval import evaluate

    rows = read_csv_rows(data, PREFERENCE_COLUMNS)
    report = evaluate(rows, folds=folds, seed=seed, max_strong_share=max_strong_share, where=str(data))
    typer.echo(report.format(per_source=per_source))


@app.command("explain")
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
    from orchestrator.run.plan import UnrecordedLog
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
    router = RunRouter(registry=registry, spec=spec, state_dir=_state(repo), runlog=UnrecordedLog(repo),
                       run_id="explain", pin=pin)
    decision = router.explain(chosen, persona, text, list(registry.resolve(persona).models))
    out = console()
    out.print(f"strategy:   {decision.strategy}")
    out.print(f"candidates: {', '.join(decision.candidates)}")
    out.print(f"chosen:     {decision.chosen}")
    out.print(f"reason:     {decision.reason}")
    out.print(f"latency:    {decision.latency_us:.0f} µs")
    out.print(f"features:   {decision.features}")
    return 0


@app.command("fit-intents")
def fit_intents(
    intents: Path = typer.Argument(..., help="Intents YAML: `intents: {name: {target, examples}}`."),
    labelled: Path = typer.Argument(..., help="CSV with columns text,intent; an empty intent means: falls back."),
    out: Path = typer.Option(..., "--out", "-o", help="Intents YAML to write, each intent with its threshold."),
    threshold: float = typer.Option(0.5, "--threshold", help="Start for intents without a threshold of their own."),
    repo: Path = typer.Option(None, "--repo", help="Repository whose models.yaml defines the intents' targets."),
) -> int:
    """Fit each intent's similarity threshold on labelled examples (as semantic-router's `fit` does)."""
    from orchestrator.models.registry import load_registry
    from orchestrator.routing.semantic import SemanticStrategy, load_intents
    from orchestrator.routing.semantic_fit import fit_thresholds, read_labelled, write_intents

    loaded = load_intents(intents)
    strategy = SemanticStrategy(load_registry(repo), loaded, threshold=threshold)
    report = fit_thresholds(strategy, read_labelled(labelled, loaded))
    write_intents(out, loaded, report.thresholds)
    print_table("Fitted thresholds", [{"intent": k, "threshold": f"{v:.4f}"} for k, v in report.thresholds.items()])
    console().print(f"{report.examples} labelled texts routed right: {report.accuracy_before:.0%} before, "
                    f"{report.accuracy_after:.0%} after. Wrote {out}")
    return 0


@app.command("drift")
def drift(
    baseline: Path = typer.Option(..., "--baseline", help="Calibration file from `router calibrate --from-runs`."),
    repo: Path = typer.Option(Path("."), "--repo", help="Repository whose run log to check."),
    recent: int = typer.Option(50, "--recent", help="How many recent outcomes per model to compare."),
    min_samples: int = typer.Option(20, "--min-samples", help="Fewer recent outcomes than this: no verdict."),
    check: bool = typer.Option(False, "--check", help="Exit 3 when any model drifted (for monitors and CI)."),
) -> int:
    """Compare recent gate pass rates and costs per model with the calibration, and flag drift."""
    from orchestrator.store.calibration import drift_report, read_baseline

    log = _open_log(repo)
    report = drift_report(log, read_baseline(baseline), recent=recent, min_samples=min_samples)
    print_table("Drift per model", report.rows())
    for model in report.flagged:
        console().print(f"[red]Drift:[/red] {model.model}: {model.reason}")
    return 3 if check and report.flagged else 0


def calibrate_from_runs(repo: Path, out: Path) -> int:
    """Preference data and a per-model baseline from the repo's run log."""
    from orchestrator.store.calibration import preference_rows, write_calibration

    rows = preference_rows(_open_log(repo))
    baseline = write_calibration(rows, out)
    print_table(f"Calibration from {len(rows)} gate outcomes", [
        {"model": m, "pass rate": f"{b['pass_rate']:.2f}", "mean cost $": f"{b['mean_cost_usd']:.4f}", "n": b["n"]}
        for m, b in baseline.items()])
    console().print(f"Wrote {out} and {out.with_suffix('.csv')}")
    return 0


def fit_from_runs(repo: Path, out: Path, sides: tuple[str, str], max_strong_share: float | None,
                  target_pgr: float | None, seed: int) -> None:
    """A predictive router fitted on the run log: each piece of work both sides did, and whether each passed."""
    from orchestrator.errors import ConfigError
    from orchestrator.models.registry import load_registry
    from orchestrator.routing.predictive.router import calibrate as fit
    from orchestrator.store.calibration import pairwise_rows

    registry = load_registry(repo.resolve())
    weak, strong = ({*registry.models_for_profile(side)} if side in registry.profiles else {side} for side in sides)
    rows = pairwise_rows(_open_log(repo), weak, strong)
    if len(rows) < 2 or len({(r["weak_correct"], r["strong_correct"]) for r in rows}) < 2:
        raise ConfigError(f"the run log has {len(rows)} piece(s) of work done by both {sides[0]} and {sides[1]} with "
                          "differing outcomes: too few to fit a router; run both on more tasks first")
    try:
        fitted = fit(rows, max_strong_share=max_strong_share, target_pgr=target_pgr, seed=seed, where=str(repo))
    except ValueError as exc:  # scikit-learn: e.g. no term occurs in enough rows to keep
        raise ConfigError(f"{len(rows)} pieces of work are too few to fit a router ({exc}); run more tasks first") \
            from None
    fitted.save(out)
    console().print(f"Wrote {out}: predictive router from {len(rows)} pieces of work, threshold {fitted.threshold:.4f}")


def _open_log(repo: Path):
    from orchestrator.store.location import state_dir
    from orchestrator.store.log import RunLog

    return RunLog(state_dir(repo) / "runs.sqlite")


def _state(repo: Path | None) -> Path:
    if repo is None:
        import tempfile

        return Path(tempfile.mkdtemp(prefix="orchestrator-explain-"))
    from orchestrator.store.location import state_dir

    return state_dir(repo) / "routing"
