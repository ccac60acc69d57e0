"""`orchestrator report RUN_ID`: write a run's report as self-contained HTML and markdown, and print the paths."""

from __future__ import annotations

from pathlib import Path

import typer


def report(
    run_id: str = typer.Argument(..., help="Run id (see `runs list`)."),
    repo: Path = typer.Option(Path("."), "--repo", help="Target repository."),
    out: Path = typer.Option(None, "--out", help="Folder for report.html and report.md, or the .html file to "
                             "write (the .md goes beside it). Default: the run's folder in .git/orchestrator/runs/."),
) -> int:
    """Write one self-contained HTML file (no network needed to view it) and a markdown twin: the workflow
    graph with the run's path, a timeline of phases, tokens and cost per persona and model, every gate
    verdict with its evidence, the routing decisions and the final diff."""
    from orchestrator.report import write_report

    html_path, md_path = write_report(repo, run_id, out)
    typer.echo(f"HTML report: {html_path}")
    typer.echo(f"Markdown report: {md_path}")
    return 0
