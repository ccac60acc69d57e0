"""Runs shown to people: the HTML report and its markdown twin, `runs show`'s audit, and events as text lines.

The report (`write_report`) is one self-contained HTML file (graph, timeline, usage chart, gates, routing, diff).
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.store.location import state_dir


def default_report_dir(repo: Path, run_id: str) -> Path:
    """The run's own folder under the repo's state folder: `.git/orchestrator/runs/RUN_ID/`."""
    return state_dir(repo) / "runs" / run_id


def write_report(repo: Path, run_id: str, out: Path | None = None) -> tuple[Path, Path]:
    """Write `report.html` and `report.md` of a run into `out` (default: the run's folder); returns both paths.

    `out` ending in `.html` names the HTML file itself; the markdown twin goes beside it as `.md`.
    """
    from orchestrator.report.data import collect_report
    from orchestrator.report.render import render_html, render_markdown

    data = collect_report(repo, run_id)
    if out is not None and out.suffix.lower() in (".html", ".htm"):
        html_path = out
    else:
        html_path = (out if out is not None else default_report_dir(repo, run_id)) / "report.html"
    md_path = html_path.with_suffix(".md")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(render_html(data), encoding="utf-8")
    md_path.write_text(render_markdown(data), encoding="utf-8")
    return html_path, md_path
