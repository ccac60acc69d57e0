"""Top-level commands: run, validate, graph, models, personas."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from orchestrator.cli.render import binding_rows, console, print_outcome, print_table
from orchestrator.errors import ConfigError

REPO_OPTION = typer.Option(Path("."), "--repo", help="Target git repository (default: current directory).")
APPROVE_OPTION = typer.Option(
    None, "--approve",
    help="Approvals: ask (prompt here), auto (approve, logged) or defer (pause, exit 4). Default: ask on a terminal.",
)
BUDGET_OPTION = typer.Option(None, "--budget", help="Cap the run: usd=AMOUNT, tokens=COUNT or seconds=S (repeatable).")
MODEL_OPTION = typer.Option(
    None, "--model", "-m", help="Bind a role: ROLE=MODEL_OR_PROFILE (repeatable), e.g. critic=high_reasoning."
)


def register(app: typer.Typer) -> None:
    """Attach the top-level commands to the app."""
    for command in (run, resume, validate, graph, models, personas):
        app.command()(command)


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
) -> int:
    """Run a workflow against a repository in its own worktree and branch."""
    from orchestrator.budgets import parse_budget
    from orchestrator.models.registry import parse_model_overrides
    from orchestrator.runner import RunOptions, start_run

    if autonomy not in (None, "L2", "L3", "L4"):
        raise typer.BadParameter(f"{autonomy!r}: use L2, L3 or L4", param_hint="--autonomy")
    mode = _approve_mode(approve)
    options = RunOptions(workflow=workflow, repo=repo, task=task, model_overrides=parse_model_overrides(model or []),
                         strict_roles=strict_roles, approve=mode, budget=parse_budget(budget or []),
                         autonomy=autonomy, pin=pin)
    outcome = start_run(options, ask=ask_human if mode == "ask" else None)
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
) -> int:
    """Continue an interrupted, stopped or paused run from its last completed step."""
    from orchestrator.budgets import parse_budget
    from orchestrator.models.registry import parse_model_overrides
    from orchestrator.runner import ResumeOptions, resume_run

    if decision not in (None, "approve", "reject"):
        raise typer.BadParameter(f"{decision!r}: use approve or reject", param_hint="--decision")
    mode = _approve_mode(approve) if approve or decision is None else None
    answer = {"decision": decision, "comment": comment} if decision else None
    options = ResumeOptions(repo=repo, run_id=run_id, model_overrides=parse_model_overrides(model or []),
                            budget=parse_budget(budget or []), approve=mode, decision=answer)
    outcome = resume_run(options, ask=ask_human if mode == "ask" else None)
    print_outcome(outcome)
    return outcome.exit_code


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


def validate(
    workflows: list[Path] = typer.Argument(..., help="Workflow YAML files to check."),
    repo: Path = typer.Option(None, "--repo", help="Also accept personas from this repo's .orchestrator/."),
) -> int:
    """Check workflow files: syntax, keys, types, names, targets, reachability and capped cycles."""
    from orchestrator.errors import WorkflowValidationError
    from orchestrator.validate import load_workflow

    failed = False
    for path in workflows:
        try:
            load_workflow(path, repo)
        except WorkflowValidationError as exc:
            failed = True
            for problem in exc.problems:
                typer.echo(f"Error: {problem}", err=True)
        except ConfigError as exc:
            failed = True
            typer.echo(f"Error: {exc}", err=True)
        else:
            typer.echo(f"{path}: ok")
    return 1 if failed else 0


def graph(
    workflow: str = typer.Argument(..., help="Workflow name or path."),
    repo: Path = typer.Option(None, "--repo", help="Repository whose .orchestrator/ may hold the workflow."),
) -> int:
    """Print the compiled workflow graph as a mermaid flowchart."""
    from orchestrator.engine import mermaid
    from orchestrator.validate import find_workflow, load_workflow

    spec = load_workflow(find_workflow(workflow, repo), repo)
    typer.echo(mermaid(spec))
    return 0


def models(
    repo: Path = typer.Option(None, "--repo", help="Include the repo's .orchestrator/models.yaml."),
    workflow: str = typer.Option(None, "--workflow", "-w", help="Include a workflow's models: section."),
    model: list[str] = MODEL_OPTION,
    check: bool = typer.Option(False, "--check", help="Check that keys are present and model ids are known."),
    prepare: bool = typer.Option(
        False, "--prepare", help="Join the embedded models' weight chunks and verify their SHA-256 (set-up step)."
    ),
) -> int:
    """Show persona -> profile -> models as resolved through every layer."""
    from orchestrator.models.registry import check_models, load_registry, parse_model_overrides
    from orchestrator.validate import find_workflow, load_workflow

    if prepare:
        from orchestrator.models.weights import prepare as prepare_weights

        for line in prepare_weights():
            typer.echo(line)
        return 0

    workflow_models = load_workflow(find_workflow(workflow, repo), repo).models if workflow else None
    registry = load_registry(repo, workflow_models=workflow_models, overrides=parse_model_overrides(model or []))
    print_table("Role bindings", binding_rows(registry.table()))
    for warning in registry.check_roles(strict=False):
        typer.echo(f"Warning: {warning}", err=True)
    if not check:
        return 0
    problems = check_models(registry)
    for problem in problems:
        typer.echo(f"Error: {problem}", err=True)
    if not problems:
        typer.echo("All bound models are usable.")
    return 1 if problems else 0


def personas(repo: Path = typer.Option(None, "--repo", help="Include the repo's .orchestrator/personas/.")) -> int:
    """List the personas available to workflows, with their goals and tools."""
    from orchestrator.personas import load_persona, persona_files

    rows = []
    for name, path in persona_files(repo).items():
        persona = load_persona(name, repo)
        rows.append({"persona": name, "goal": persona.goal, "tools": ", ".join(persona.tools) or "-",
                     "file": str(path)})
    print_table("Personas", rows)
    return 0
