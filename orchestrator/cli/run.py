"""Run commands: run a workflow, resume a run, and the approval prompt."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from orchestrator.cli.options import (
    ALLOW_OPTION,
    APPROVE_OPTION,
    BUDGET_OPTION,
    MODEL_OPTION,
    REPO_OPTION,
    UNSAFE_OPTION,
)
from orchestrator.cli.render import console, print_outcome


def run(
    workflow: str = typer.Argument(..., help="Workflow name (e.g. feature) or path to a workflow YAML."),
    task: str = typer.Option(..., "--task", "-t", help="What the run should do."),
    repo: Path = REPO_OPTION,
    model: list[str] = MODEL_OPTION,
    strict_roles: bool = typer.Option(False, "--strict-roles", help="Fail if critic and builder share a model."),
    approve: str = APPROVE_OPTION,
    budget: list[str] = BUDGET_OPTION,
    autonomy: str = typer.Option(None, "--autonomy", help="L2, L3 or L4 (default: the workflow's, else L3)."),
    pin: str = typer.Option(None, "--pin", help="Pinned mode: every role on this one model, routing off."),
    allow_command: list[str] = ALLOW_OPTION,
    unsafe_no_sandbox: bool = UNSAFE_OPTION,
) -> int:
    """Run a workflow against a repository in its own worktree and branch."""
    from orchestrator.models.registry import parse_model_overrides
    from orchestrator.runner import RunOptions, start_run
    from orchestrator.workflow.budget import parse_budget

    if autonomy not in (None, "L2", "L3", "L4"):
        raise typer.BadParameter(f"{autonomy!r}: use L2, L3 or L4", param_hint="--autonomy")
    mode = _approve_mode(approve)
    options = RunOptions(workflow=workflow, repo=repo, task=task, model_overrides=parse_model_overrides(model or []),
                         strict_roles=strict_roles, approve=mode, budget=parse_budget(budget or []),
                         autonomy=autonomy, pin=pin, allow_commands=allow_command or [],
                         unsafe_no_sandbox=unsafe_no_sandbox)
    outcome = start_run(options, ask=ask_human if mode == "ask" else None, notify=announce)
    print_outcome(outcome)
    return outcome.exit_code


def resume(
    run_id: str = typer.Argument(..., help="Run id (see `orchestrator runs list`)."),
    repo: Path = REPO_OPTION,
    model: list[str] = MODEL_OPTION,
    budget: list[str] = BUDGET_OPTION,
    approve: str = APPROVE_OPTION,
    decision: str = typer.Option(None, "--decision", help="Answer a pending approval: approve or reject."),
    comment: str = typer.Option("", "--comment", help="Comment for a rejection; it becomes builder work."),
    allow_command: list[str] = ALLOW_OPTION,
    unsafe_no_sandbox: bool = UNSAFE_OPTION,
) -> int:
    """Continue an interrupted, stopped or paused run from its last completed step."""
    from orchestrator.models.registry import parse_model_overrides
    from orchestrator.runner import ResumeOptions, resume_run
    from orchestrator.workflow.budget import parse_budget

    if decision not in (None, "approve", "reject"):
        raise typer.BadParameter(f"{decision!r}: use approve or reject", param_hint="--decision")
    mode = _approve_mode(approve) if approve or decision is None else None
    answer = {"decision": decision, "comment": comment} if decision else None
    options = ResumeOptions(repo=repo, run_id=run_id, model_overrides=parse_model_overrides(model or []),
                            budget=parse_budget(budget or []), approve=mode, decision=answer,
                            allow_commands=allow_command or [], unsafe_no_sandbox=unsafe_no_sandbox)
    outcome = resume_run(options, ask=ask_human if mode == "ask" else None, notify=announce)
    print_outcome(outcome)
    return outcome.exit_code


def announce(message: str) -> None:
    """Print a notice about the run before it starts (untrusted repo config, no sandbox, stale locks)."""
    console().print(f"[yellow]Notice:[/yellow] {message}")


def _approve_mode(value: str | None) -> str:
    if value is None:
        if sys.stdin.isatty():
            return "ask"
        console().print("[dim]No terminal: --approve defaults to auto.[/dim]")
        return "auto"
    if value not in ("ask", "auto", "defer"):
        raise typer.BadParameter(f"{value!r}: use ask, auto or defer", param_hint="--approve")
    return value


def ask_human(pending: dict) -> dict:
    """Acceptance prompt in the terminal: approve, reject with a comment, or rebind a role first."""
    out = console()
    out.print(f"[bold]Approval needed[/bold] at {pending.get('step')} (run {pending.get('run_id')})")
    out.print(pending.get("diff_stat") or "(no changes)")
    out.print(f"Gate verdicts: {pending.get('verdicts')}")
    models: dict[str, str] = {}
    while True:
        answer = typer.prompt("approve / reject / rebind ROLE=MODEL", default="approve").strip()
        if answer.startswith("rebind "):
            from orchestrator.models.registry import parse_model_overrides

            models.update(parse_model_overrides([answer.split(" ", 1)[1]]))
            out.print(f"Rebound: {models}")
            continue
        if answer in ("approve", "reject"):
            comment = typer.prompt("comment", default="") if answer == "reject" else ""
            return {"decision": answer, "comment": comment, "models": models}
        out.print("Type approve, reject, or rebind ROLE=MODEL.")
