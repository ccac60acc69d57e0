"""Authoring commands: validate workflow files, draw the compiled graph."""

from __future__ import annotations

from pathlib import Path

import typer

from orchestrator.errors import ConfigError


def validate(
    workflows: list[Path] = typer.Argument(..., help="Workflow YAML files to check."),
    repo: Path = typer.Option(None, "--repo", help="Also accept personas from this repo's .orchestrator/."),
) -> int:
    """Check workflow files: syntax, keys, types, names, targets, reachability and capped cycles."""
    from orchestrator.errors import WorkflowValidationError
    from orchestrator.workflow.validate import load_workflow

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
    from orchestrator.workflow.compile import mermaid
    from orchestrator.workflow.validate import find_workflow, load_workflow

    spec = load_workflow(find_workflow(workflow, repo), repo)
    typer.echo(mermaid(spec))
    return 0
