"""`orchestrator runs list|show|rm|prune`: past runs of a repository, from its run log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from orchestrator.cli.options import STORE_OPTION
from orchestrator.cli.render import console, print_table
from orchestrator.errors import ConfigError

app = typer.Typer(help="List and inspect runs recorded in the repo's .git/orchestrator/.", no_args_is_help=True)


def _open(repo: Path, store: str | None = None):
    from orchestrator.store.location import resolve_store

    return resolve_store(store).open_runlog(repo)


@app.command("list")
def list_runs(
    repo: Path = typer.Option(Path("."), "--repo", help="Target repository."),
    store: str = STORE_OPTION,
    every: bool = typer.Option(False, "--all", help="Every run in the store, of every repo, with its repo."),
) -> int:
    """One line per run: id, workflow, status, exit code, start time and task (and repo with --all)."""
    from orchestrator.run.lock import live_status
    from orchestrator.store.location import resolve_store

    log = _open(repo, store)
    shared = resolve_store(store).shared
    # A shared store holds many repos' runs: without --all, only this repo's (by path or by its origin URL).
    mine = None if every or not shared else _repo_names(repo)
    # On this machine's store, a run listed `running` that no process holds was killed (or hit a full disk);
    # a shared store's runs may be held by another machine's worker, so their status is shown as stored.
    locks = None if shared else log.path.parent / "locks"
    rows = [{"run": r["id"], "workflow": r["workflow"], "exit": r["exit_code"],
             "status": live_status(r, locks) if locks else r["status"],
             "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(r["started"])), "task": r["task"][:60],
             **({"repo": r["repo"]} if every else {})}
            for r in log.runs() if mine is None or r["repo"] in mine]
    print_table("Runs", rows)
    return 0


def _repo_names(repo: Path) -> set[str]:
    """The names a repo's runs are recorded under: its path, and its origin remote's URL (runs by workers)."""
    from orchestrator.run.workspace import git

    names = {str(repo.resolve())}
    origin = git(repo, "config", "--get", "remote.origin.url", check=False).strip()
    return names | ({origin} if origin else set())


@app.command("show")
def show_run(
    run_id: str = typer.Argument(..., help="Run id (see `runs list`)."),
    repo: Path = typer.Option(Path("."), "--repo", help="Target repository."),
    store: str = STORE_OPTION,
    routing: bool = typer.Option(False, "--routing", help="Show every routing decision instead of the summary."),
    as_json: bool = typer.Option(False, "--json", help="Print the same sections as data (plus every raw event)."),
) -> int:
    """Everything a run decided: phases, every gate verdict with its reasons and violations, unusable verdicts,
    tool calls, dispatcher choices, human decisions, context packets and model calls."""

    log = _open(repo, store)
    run = log.run(run_id)
    if run is None:
        from orchestrator.errors import did_you_mean

        raise ConfigError(f"unknown run {run_id!r}.{did_you_mean(run_id, [r['id'] for r in log.runs()])}")
    if as_json:
        import json

        typer.echo(json.dumps(_audit(log, run_id), indent=1, default=str))
        return 0
    if routing:
        _print_routing(log, run_id)
        return 0
    _print_summary(_audit(log, run_id))
    return 0


def _audit(log: Any, run_id: str) -> dict[str, Any]:
    """The run's audit, its status as `runs list` shows it (`running` with no live process reads `interrupted`)."""
    from orchestrator.report.audit import run_audit
    from orchestrator.run.lock import live_status

    audit = run_audit(log, run_id)
    audit["run"]["status"] = live_status(audit["run"], log.path.parent / "locks")
    return audit


def _print_routing(log: Any, run_id: str) -> None:
    """Every routing decision of the run, with its candidates, reason, spend and later gate outcome."""
    print_table(f"Routing decisions of {run_id}", [
        {"step": d["step"], "persona": d["persona"], "strategy": d["strategy"],
         "candidates": ", ".join(d["candidates"]), "chosen": d["chosen"], "reason": d["reason"],
         "µs": f"{d['latency_us']:.0f}", "prompt": d["prompt_hash"], "tokens": d["tokens"],
         "cost $": f"{d['cost_usd']:.4f}", "gate": f"{d['gate'] or '-'}={d['gate_outcome'] or '-'}"}
        for d in log.decisions(run_id)])


def _print_summary(audit: dict[str, Any]) -> None:
    """The run's header, then one table per section that has rows."""
    run, out = audit["run"], console()
    out.print(f"Run {run['id']}: {run['status']} (exit {run['exit_code']}) {run['message'] or ''}", markup=False)
    out.print(f"Workflow {run['workflow']}  branch {run['branch']}  task: {run['task']}", markup=False)
    for title, rows in _sections(audit):
        if rows:
            print_table(title, rows)


def _sections(audit: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(title, rows) of each section `runs show` prints, in the order a reader follows the run."""
    join = ", ".join
    return [
        ("Phases", [{"step": p["step"], "persona": p["persona"], "model": p["model"], "tokens": p["tokens"],
                     "cost $": f"{p['cost_usd'] or 0:.4f}", "time s": p["seconds"], "verdict": p["verdict"],
                     "reason": _cut(p["reason"], 80), "tools": p["tool_calls"], "commit": (p["commit"] or "")[:10]}
                    for p in audit["phases"]]),
        ("Gate verdicts", [{"gate": g["gate"], "kind": g["kind"], "#": g["attempt"], "verdict": g["verdict"],
                            "reasons": "; ".join(r for r in g["reasons"] if r), "evidence": join(g["commands"])}
                           for g in audit["gates"]]),
        ("Violations", [{"gate": v["gate"], "#": v["attempt"], "severity": v.get("severity"),
                         "clause": v.get("clause"), "description": v.get("description"),
                         "remediation": "; ".join(v.get("remediation") or [])} for v in audit["violations"]]),
        ("Unusable verdicts", audit["unusable_verdicts"]),
        ("Tool calls", [{"step": t["step"], "persona": t["persona"], "tool": t["tool"],
                         "arguments": _cut(t["arguments"], 60), "status": t["status"],
                         "why": "" if t["status"] == "ok" else _cut(t.get("output"), 100)}
                        for t in audit["tool_calls"]]),
        ("Dispatcher choices", [{"step": d["step"], "model": d["model"], "chosen": d["chosen"],
                                 "reason": d["fallback"] and f"fallback: {d['fallback']}" or d["reason"],
                                 "not offered": join(d.get("not_offered") or {}) or "-"}
                                for d in audit["dispatches"]]),
        ("Human decisions", [{"step": h["step"], "by": h["by"], "decision": h["decision"],
                              "comment": h["comment"] or "", "rebound": join(f"{k}={v}" for k, v in
                                                                             (h["models"] or {}).items())}
                             for h in audit["human_decisions"]]),
        ("Context packets", [{"step": p["step"], "persona": p["persona"], "tokens": p["tokens"],
                              "kept": join(p["kept"]), "trimmed": join(p["trimmed"]) or "-",
                              "dropped": join(p["dropped"]) or "-"} for p in audit["packets"]]),
        ("Notices", [{"kind": n["kind"], "step": n["step"], "what": _cut(n.get("message") or n.get("reason") or
                                                                          n.get("flag") or _rest(n), 120)}
                     for n in audit["notices"]]),
        ("Model calls", [{"step": c["step"], "persona": c["persona"], "model": c["model"],
                          "prompt": c["prompt_tokens"], "completion": c["completion_tokens"],
                          "cost $": f"{c['cost_usd']:.4f}", "latency s": f"{c['latency_s']:.2f}"}
                         for c in audit["calls"]]),
    ]


def _rest(notice: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in notice.items() if k not in ("kind", "step", "persona") and v)


def _cut(text: Any, limit: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
    keep_branches: bool = typer.Option(False, "--keep-branches", help="Keep every run's branch."),
    delete_unmerged: bool = typer.Option(False, "--delete-unmerged", help="Also delete branches whose work is "
                                         "not merged into HEAD (without it they are kept)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be removed; remove nothing."),
) -> int:
    """Remove every finished run (done, stopped or failed); paused and running ones stay. A run's branch goes
    only when HEAD holds its work, unless --delete-unmerged."""
    from orchestrator.run.cleanup import branch_merged, finished_runs, remove_run
    from orchestrator.run.workspace import BRANCH_PREFIX

    ids = finished_runs(repo)
    for run_id in ids:
        branch = BRANCH_PREFIX + run_id
        merged = branch_merged(repo, branch)
        keep = keep_branches or (merged is False and not delete_unmerged)
        what = "keeping" if keep else "deleting"
        note = f"{what} its branch {branch}" + (" (not merged into HEAD; --delete-unmerged deletes it)"
                                                 if merged is False and keep and not keep_branches else "")
        if merged is None:
            note = "it has no branch"
        if not dry_run:
            remove_run(repo, run_id, keep_branch=keep)
        typer.echo(f"{'would remove' if dry_run else 'removed'} run {run_id}, {note}")
    typer.echo(f"{len(ids)} run(s) {'would be removed (dry run: nothing was)' if dry_run else 'removed'}")
    return 0
