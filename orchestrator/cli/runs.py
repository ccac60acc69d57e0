"""`orchestrator runs list|show|rm|prune`: past runs of a repository, from its run log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from orchestrator.cli.render import console, print_table
from orchestrator.errors import ConfigError

app = typer.Typer(help="List and inspect runs recorded in the repo's .git/orchestrator/.", no_args_is_help=True)


def _open(repo: Path):
    from orchestrator.run.log import RunLog
    from orchestrator.run.workspace import state_dir

    return RunLog(state_dir(repo) / "runs.sqlite")


@app.command("list")
def list_runs(repo: Path = typer.Option(Path("."), "--repo", help="Target repository.")) -> int:
    """One line per run: id, workflow, status, exit code, start time and task."""
    log = _open(repo)
    rows = [{"run": r["id"], "workflow": r["workflow"], "status": r["status"], "exit": r["exit_code"],
             "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"])), "task": r["task"][:60]}
            for r in log.runs()]
    print_table("Runs", rows)
    return 0


@app.command("show")
def show_run(
    run_id: str = typer.Argument(..., help="Run id (see `runs list`)."),
    repo: Path = typer.Option(Path("."), "--repo", help="Target repository."),
    routing: bool = typer.Option(False, "--routing", help="Show every routing decision instead of the summary."),
    as_json: bool = typer.Option(False, "--json", help="Print the run, its events, calls and decisions as JSON."),
) -> int:
    """A run's status, phases, gate verdicts (with reasons and evidence) and model calls with tokens and cost."""
    log = _open(repo)
    run = log.run(run_id)
    if run is None:
        from orchestrator.errors import did_you_mean

        raise ConfigError(f"unknown run {run_id!r}.{did_you_mean(run_id, [r['id'] for r in log.runs()])}")
    if as_json:
        import json

        data = {"run": run, "events": log.events(run_id), "calls": log.calls(run_id),
                "decisions": log.decisions(run_id)}
        typer.echo(json.dumps(data, indent=1, default=str))
        return 0
    if routing:
        _print_routing(log, run_id)
        return 0
    _print_summary(log, run_id, run)
    return 0


def _print_routing(log: Any, run_id: str) -> None:
    """Every routing decision of the run, with its candidates, reason, spend and later gate outcome."""
    print_table(f"Routing decisions of {run_id}", [
        {"step": d["step"], "persona": d["persona"], "strategy": d["strategy"],
         "candidates": ", ".join(d["candidates"]), "chosen": d["chosen"], "reason": d["reason"],
         "µs": f"{d['latency_us']:.0f}", "prompt": d["prompt_hash"], "tokens": d["tokens"],
         "cost $": f"{d['cost_usd']:.4f}", "gate": f"{d['gate'] or '-'}={d['gate_outcome'] or '-'}"}
        for d in log.decisions(run_id)])


def _print_summary(log: Any, run_id: str, run: dict[str, Any]) -> None:
    """Status, phases, gates with their reasons, and model calls."""
    out = console()
    out.print(f"Run {run_id}: {run['status']} (exit {run['exit_code']}) {run['message'] or ''}")
    out.print(f"Workflow {run['workflow']}  branch {run['branch']}  task: {run['task']}")
    phases = [{"step": e["step"], "persona": e["persona"], "model": e["data"].get("model"),
               "tokens": e["data"].get("tokens"), "verdict": e["data"].get("verdict")}
              for e in log.events(run_id, "phase_end")]
    print_table("Phases", phases)
    gates = [{"gate": e["step"], "kind": e["data"].get("gate_kind"), "verdict": e["data"].get("verdict"),
              "round": e["data"].get("round"), "reason": e["data"].get("reason", "")}
             for e in log.events(run_id, "gate")]
    print_table("Gates", gates)
    calls = [{"step": c["step"], "persona": c["persona"], "model": c["model"], "prompt": c["prompt_tokens"],
              "completion": c["completion_tokens"], "cost $": f"{c['cost_usd']:.4f}",
              "latency s": f"{c['latency_s']:.2f}"} for c in log.calls(run_id)]
    print_table("Model calls", calls)


@app.command("rm")
def remove(
    run_id: str = typer.Argument(..., help="Run id (see `runs list`)."),
    repo: Path = typer.Option(Path("."), "--repo", help="Target repository."),
    keep_branch: bool = typer.Option(False, "--keep-branch", help="Keep the run's branch (and so its work)."),
) -> int:
    """Remove a run: its worktree, branch, checkpoints and run-log rows (refused while it is running)."""
    from orchestrator.run.cleanup import remove_run

    for item in remove_run(repo, run_id, keep_branch=keep_branch):
        typer.echo(f"removed {item}")
    return 0


@app.command("prune")
def prune(
    repo: Path = typer.Option(Path("."), "--repo", help="Target repository."),
    keep_branches: bool = typer.Option(False, "--keep-branches", help="Keep the runs' branches."),
) -> int:
    """Remove every finished run (done, stopped or failed); paused and running ones stay."""
    from orchestrator.run.cleanup import finished_runs, remove_run

    ids = finished_runs(repo)
    for run_id in ids:
        remove_run(repo, run_id, keep_branch=keep_branches)
        typer.echo(f"removed run {run_id}")
    typer.echo(f"{len(ids)} run(s) removed")
    return 0
