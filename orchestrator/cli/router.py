"""`orchestrator router calibrate | score | eval`: the predictive router's commands (heavy imports stay inside)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import typer

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
) -> None:
    """Fit the router on DATA and write its JSON (vocabulary, weights, trees, threshold, metadata)."""
    if from_runs:
        from orchestrator.cli.routing_cmds import calibrate_from_runs

        calibrate_from_runs(repo, out)
        return
    if data is None:
        raise typer.BadParameter("give DATA.csv, or --from-runs", param_hint="DATA")
    from orchestrator.routing.predictive.data import PREFERENCE_COLUMNS, read_csv_rows
    from orchestrator.routing.predictive.router import calibrate as fit

    rows = read_csv_rows(data, PREFERENCE_COLUMNS)
    router = fit(rows, max_strong_share=max_strong_share, target_pgr=target_pgr, seed=seed, where=str(data))
    router.save(out)
    meta = router.metadata
    rule = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in meta["threshold_rule"].items())
    typer.echo(
        f"Wrote {out}: threshold {router.threshold:.4f} ({rule}); {meta['rows']} rows, "
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


def _write_scores(handle: object, scores: list[float]) -> None:
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
