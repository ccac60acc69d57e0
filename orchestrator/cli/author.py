"""Authoring commands: validate workflow files, draw the compiled graph, print the JSON Schemas, scaffold a repo."""

from __future__ import annotations

from pathlib import Path

import typer

from orchestrator.errors import ConfigError


def validate(
    workflows: list[Path] = typer.Argument(..., help="Workflow YAML files (or names of shipped/repo workflows)."),
    repo: Path = typer.Option(None, "--repo", help="Also accept personas from this repo's .orchestrator/."),
) -> int:
    """Check workflow files in one pass each: syntax, keys, types, names, targets, reachability, capped cycles,
    then warnings."""
    failed = False
    for path in workflows:
        failed = _validate_one(path, repo) or failed
    return 1 if failed else 0


def _validate_one(path: Path, repo: Path | None) -> bool:
    """Print every problem and warning of one file; True when it has problems."""
    from orchestrator.workflow.lint import workflow_warnings
    from orchestrator.workflow.validate import find_workflow, validate_file

    try:
        path = find_workflow(str(path), repo)
        spec, problems = validate_file(path, repo)
    except ConfigError as exc:  # unreadable file or YAML syntax: nothing further to check
        typer.echo(f"Error: {exc}", err=True)
        return True
    for problem in problems:
        typer.echo(f"Error: {problem}", err=True)
    if not problems:
        typer.echo(f"{path}: ok")
    # Warnings of the valid part too: the next run of validate should not bring new surprises.
    for warning in workflow_warnings(spec, repo) if spec is not None else []:
        typer.echo(f"Warning: {path}: {warning}", err=True)
    for notice in _trust_notices(path, repo):
        typer.echo(f"Notice: {notice}", err=True)
    return bool(problems)


def _trust_notices(path: Path, repo: Path | None) -> list[str]:
    """For a workflow inside a repo's .orchestrator/workflows/: what it shadows, and that its commands are
    not trusted (the same notices a run announces)."""
    from orchestrator.workflow.trust import shadow_notices
    from orchestrator.workflow.validate import repo_of_workflow

    repo = repo or repo_of_workflow(path)
    return [n for n in shadow_notices(repo, path) if "workflow" in n] if repo is not None else []


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


SCHEMAS = ("workflow", "models", "persona")


def schema(kind: str = typer.Argument("workflow", help="workflow, models or persona.")) -> int:
    """Print the JSON Schema of a workflow, models.yaml or persona file (for editor completion)."""
    import json

    if kind not in SCHEMAS:
        from orchestrator.errors import did_you_mean

        raise typer.BadParameter(f"unknown schema {kind!r}.{did_you_mean(kind, SCHEMAS)} Choose: {', '.join(SCHEMAS)}")
    typer.echo(json.dumps(json_schema(kind), indent=2))
    return 0


def json_schema(kind: str) -> dict:
    """The JSON Schema of one file kind, from its pydantic model."""
    if kind == "workflow":
        from orchestrator.workflow.spec import WorkflowSpec

        return WorkflowSpec.model_json_schema()
    if kind == "models":
        from orchestrator.models.spec import RegistrySpec

        return RegistrySpec.model_json_schema()
    from orchestrator.agents.personas import PersonaSpec

    return PersonaSpec.model_json_schema()


def init(repo: Path = typer.Option(Path("."), "--repo", help="The git repository to scaffold.")) -> int:
    """Scaffold a repo for runs: AGENTS.md, specs/TEMPLATE.md and a commented .orchestrator/models.yaml.

    Existing files are kept. In a repository with no commit yet, the scaffold becomes its first commit, so
    that a run can start from it.
    """
    from orchestrator.cli.scaffold import scaffold
    from orchestrator.run.workspace import git
    from orchestrator.store.location import state_dir

    repo = repo.resolve()
    state_dir(repo)  # a clear error when this is not a git repository
    written, kept = scaffold(repo)
    for rel in written:
        typer.echo(f"wrote {rel}")
    for rel in kept:
        typer.echo(f"kept {rel} (it exists)")
    if written and not git(repo, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip():
        git(repo, "add", "--", *written)
        git(repo, "-c", "user.name=orchestrator", "-c", "user.email=orchestrator@localhost", "commit", "--quiet",
            "--no-verify", "-m", "orchestrator init", "--", *written)
        typer.echo("committed the scaffold as the repository's first commit")
    elif written:
        typer.echo("commit these files to make them part of the runs' starting point")
    return 0
