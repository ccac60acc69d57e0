"""Run commands: run a workflow, resume a run, their live progress, and the approval prompt."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from orchestrator.cli.options import (
    ALLOW_OPTION,
    APPROVE_OPTION,
    BUDGET_OPTION,
    BUDGET_SCOPE_OPTION,
    ENQUEUE_OPTION,
    JSON_OPTION,
    MODEL_OPTION,
    QUIET_OPTION,
    REPO_OPTION,
    REPO_URL_OPTION,
    STORE_OPTION,
    TRUST_REPO_OPTION,
    UNSAFE_OPTION,
)
from orchestrator.cli.render import console, err_console, print_outcome


def run(
    workflow: str = typer.Argument(..., help="Workflow name (e.g. feature) or path to a workflow YAML."),
    task: str = typer.Option(None, "--task", "-t", help="What the run should do."),
    task_file: Path = typer.Option(None, "--task-file", help="Read the task from this file (- for stdin), "
                                   "for a task too long for the command line."),
    repo: Path = REPO_OPTION,
    store: str = STORE_OPTION,
    model: list[str] = MODEL_OPTION,
    strict_roles: bool = typer.Option(False, "--strict-roles", help="Fail if critic and builder share a model."),
    approve: str = APPROVE_OPTION,
    budget: list[str] = BUDGET_OPTION,
    autonomy: str = typer.Option(None, "--autonomy", help="L2, L3 or L4 (default: the workflow's, else L3)."),
    pin: str = typer.Option(None, "--pin", help="Pinned mode: every role on this one model, routing off."),
    allow_command: list[str] = ALLOW_OPTION,
    unsafe_no_sandbox: bool = UNSAFE_OPTION,
    trust_repo_config: bool = TRUST_REPO_OPTION,
    quiet: bool = QUIET_OPTION,
    as_json: bool = JSON_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="Check everything a run checks, print each step's "
                                 "model and route, and stop: no worktree, no model call."),
    budget_scope: list[str] = BUDGET_SCOPE_OPTION,
    enqueue: bool = ENQUEUE_OPTION,
    repo_url: str = REPO_URL_OPTION,
) -> int:
    """Run a workflow against a repository in its own worktree and branch."""
    if autonomy not in (None, "L2", "L3", "L4"):
        raise typer.BadParameter(f"{autonomy!r}: use L2, L3 or L4", param_hint="--autonomy")
    task = _task_text(task, task_file)
    if enqueue:
        from orchestrator.cli.fleet import enqueue_run

        return enqueue_run(workflow, task, repo, repo_url, store, model=model, budget=budget, autonomy=autonomy,
                           pin=pin, budget_scope=budget_scope, local_only=unsafe_no_sandbox or bool(allow_command))
    display = _display(quiet, as_json)
    mode = "auto" if dry_run else _approve_mode(approve, display)
    options = _run_options(workflow=workflow, repo=repo, task=task, model=model, strict_roles=strict_roles,
                           approve=mode, budget=budget, autonomy=autonomy, pin=pin, allow_command=allow_command,
                           unsafe_no_sandbox=unsafe_no_sandbox, trust_repo_config=trust_repo_config, store=store,
                           budget_scope=budget_scope)
    return _launch(options, display, dry_run)


def _run_options(*, model: list[str] | None, budget: list[str] | None, allow_command: list[str] | None,
                 budget_scope: list[str] | None, **fields: Any) -> Any:
    """The runner's RunOptions from the command line's values (repeated options parsed)."""
    from orchestrator.models.registry import parse_model_overrides
    from orchestrator.runner import RunOptions
    from orchestrator.workflow.budget import parse_budget

    return RunOptions(**fields, model_overrides=parse_model_overrides(model or []), budget=parse_budget(budget or []),
                      allow_commands=allow_command or [], budget_scopes=budget_scope or [])


def _launch(options: Any, display: str, dry_run: bool) -> int:
    """Print the plan of a dry run, else start the run in a live session."""
    from orchestrator.runner import start_run

    if dry_run:
        from orchestrator.cli.plan import print_plan

        return print_plan(options)
    return _session(display, options.repo, options.approve,
                    lambda ask, notify: start_run(options, ask=ask, notify=notify))


def resume(
    run_id: str = typer.Argument(..., help="Run id (see `orchestrator runs list`)."),
    repo: Path = REPO_OPTION,
    store: str = STORE_OPTION,
    model: list[str] = MODEL_OPTION,
    budget: list[str] = BUDGET_OPTION,
    approve: str = APPROVE_OPTION,
    decision: str = typer.Option(None, "--decision", help="Answer a pending approval: approve or reject."),
    comment: str = typer.Option("", "--comment", help="Comment for a rejection; it becomes builder work."),
    allow_command: list[str] = ALLOW_OPTION,
    unsafe_no_sandbox: bool = UNSAFE_OPTION,
    trust_repo_config: bool = TRUST_REPO_OPTION,
    quiet: bool = QUIET_OPTION,
    as_json: bool = JSON_OPTION,
) -> int:
    """Continue an interrupted, stopped or paused run from its last completed step."""
    from orchestrator.models.registry import parse_model_overrides
    from orchestrator.runner import ResumeOptions, resume_run
    from orchestrator.workflow.budget import parse_budget

    if decision not in (None, "approve", "reject"):
        raise typer.BadParameter(f"{decision!r}: use approve or reject", param_hint="--decision")
    display = _display(quiet, as_json)
    mode = _approve_mode(approve, display) if approve or decision is None else None
    answer = {"decision": decision, "comment": comment} if decision else None
    options = ResumeOptions(repo=repo, run_id=run_id, model_overrides=parse_model_overrides(model or []),
                            budget=parse_budget(budget or []), approve=mode, decision=answer,
                            allow_commands=allow_command or [], unsafe_no_sandbox=unsafe_no_sandbox,
                            trust_repo_config=trust_repo_config, store=store)
    return _session(display, repo, mode, lambda ask, notify: resume_run(options, ask=ask, notify=notify))


def _task_text(task: str | None, task_file: Path | None) -> str:
    """The task from --task or --task-file (exactly one of them)."""
    if (task is None) == (task_file is None):
        raise typer.BadParameter("give the task with --task TEXT or --task-file PATH (one of them)",
                                 param_hint="--task")
    if task_file is None:
        return str(task)
    try:
        data = sys.stdin.buffer.read() if str(task_file) == "-" else task_file.read_bytes()
        return data.decode("utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"{task_file}: can't read it ({exc.strerror})", param_hint="--task-file") from None
    except UnicodeDecodeError as exc:
        raise typer.BadParameter(f"{task_file}: not UTF-8 text (byte {exc.start})", param_hint="--task-file") from None


def _display(quiet: bool, as_json: bool) -> str:
    if quiet and as_json:
        raise typer.BadParameter("--quiet and --json exclude each other", param_hint="--json")
    return "json" if as_json else ("quiet" if quiet else "live")


def _session(display: str, repo: Path, mode: str | None, start: Callable[[Any, Any], Any]) -> int:
    """Run or resume with the chosen display; the summary (or, with --json, one `outcome` line) at the end."""
    from orchestrator.cli.progress import progress

    # With --json, stdout carries only events: notices and prompts go to stderr.
    out = err_console() if display == "json" else console()
    with progress(display, console()) as paused:
        def ask(pending: dict[str, Any]) -> dict[str, Any]:
            try:
                return paused(lambda: ask_human(pending, repo, out))
            except typer.Abort:  # Ctrl-C or end of input at the prompt: the run is interrupted, not failed
                raise KeyboardInterrupt from None

        def notify(message: str) -> None:
            if display != "json":
                out.print(f"[yellow]Notice:[/yellow] {message}")

        outcome = start(ask if mode == "ask" else None, notify)
    if display == "json":
        _print_json_outcome(outcome)
    else:
        print_outcome(outcome)
    return outcome.exit_code


def _print_json_outcome(outcome: Any) -> None:
    """The run's summary as the last JSON line (kind `outcome`)."""
    import json
    import time
    from dataclasses import asdict

    data = {"ts": round(time.time(), 3), "kind": "outcome", **asdict(outcome), "worktree": str(outcome.worktree)}
    typer.echo(json.dumps(data, default=str, ensure_ascii=False))


def _approve_mode(value: str | None, display: str = "live") -> str:
    if value is None:
        if sys.stdin.isatty():
            return "ask"
        (err_console() if display == "json" else console()).print("[dim]No terminal: --approve defaults to auto.[/dim]")
        return "auto"
    if value not in ("ask", "auto", "defer"):
        raise typer.BadParameter(f"{value!r}: use ask, auto or defer", param_hint="--approve")
    return value


PROMPT = "approve / reject / diff / rebind ROLE=MODEL"


def ask_human(pending: dict, repo: Path = Path("."), out: Any = None) -> dict:
    """Acceptance prompt in the terminal: approve, reject with a comment, show the diff, or rebind a role."""
    out = out or console()
    err = out is not console()
    out.print(f"[bold]Approval needed[/bold] at {pending.get('step')} (run {pending.get('run_id')}, "
              f"branch {pending.get('branch') or '-'})", markup=True)
    out.print(pending.get("diff_stat") or "(no changes)", markup=False)
    verdicts = pending.get("verdicts") or {}
    out.print("Gate verdicts: " + (", ".join(f"{gate} {verdict}" for gate, verdict in verdicts.items())
                                   or "none yet"), markup=False)
    models: dict[str, str] = {}
    while True:
        answer = typer.prompt(PROMPT, default="approve", err=err).strip()
        if answer == "diff":
            out.print(run_diff(repo, str(pending.get("run_id"))) or "(no changes)", markup=False)
        elif answer.startswith("rebind"):
            models.update(_rebound(answer.removeprefix("rebind").strip(), models, repo, out))
        elif answer in ("approve", "reject"):
            comment = typer.prompt("comment", default="", err=err) if answer == "reject" else ""
            return {"decision": answer, "comment": comment, "models": models}
        else:
            out.print(f"Type {PROMPT.replace(' / ', ', ')}.")


def _rebound(item: str, models: dict[str, str], repo: Path, out: Any) -> dict[str, str]:
    """A `rebind ROLE=MODEL` answer, checked like `--model` (id, profile, key); {} with the reason if wrong."""
    from orchestrator.errors import ConfigError

    try:
        new = check_rebind(item, models, repo)
    except ConfigError as exc:
        out.print(f"[red]Not rebound:[/red] {exc}", markup=True)
        return {}
    out.print(f"Rebound: {new}")
    return new


def check_rebind(item: str, models: dict[str, str], repo: Path) -> dict[str, str]:
    """Parse and check one ROLE=MODEL: a known profile or model id, with its API key set; ConfigError if not."""
    from orchestrator.agents.personas import known_personas
    from orchestrator.errors import ConfigError
    from orchestrator.models.check import check_models
    from orchestrator.models.registry import load_registry, parse_model_overrides

    new = parse_model_overrides([item])
    # Only roles that exist: `rebind critc=...` must not quietly bind nobody.
    registry = load_registry(repo.resolve(), overrides={**models, **new}, known_personas=known_personas(repo.resolve()))
    problems = check_models(registry, personas=list(new), remote_only=True)
    if problems:
        raise ConfigError("; ".join(problems))
    return new


def run_diff(repo: Path, run_id: str) -> str:
    """The run's whole diff so far (against its base commit), for the approval prompt."""
    from orchestrator.run.workspace import BRANCH_PREFIX, Workspace
    from orchestrator.store.location import resolve_store, state_dir

    log = resolve_store().open_runlog(repo)
    try:
        row = log.run(run_id) or {}
    finally:
        log.close()
    workspace = Workspace(repo=repo.resolve(), path=state_dir(repo) / "worktrees" / run_id,
                          branch=BRANCH_PREFIX + run_id, base_commit=str(row.get("base_commit")))
    return workspace.diff(max_chars=200_000)
