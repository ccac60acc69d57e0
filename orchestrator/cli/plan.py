"""`orchestrator run --dry-run`: the plan of a run, printed without starting it."""

from __future__ import annotations

from typing import Any

import typer


def print_plan(options: Any) -> int:
    """Check the run as `run` would, then print each step's calls and routes; exit 0 when it could start."""
    from orchestrator.runner import plan_run

    path, spec, steps, warnings = plan_run(options)
    for warning in warnings:
        typer.echo(f"Warning: {warning}", err=True)
    typer.echo(f"Dry run of {spec.name} ({path}) against {options.repo.resolve()}: every check a run makes passed; "
               "no worktree was made and no model was called.\n")
    for number, step in enumerate(steps, 1):
        typer.echo(f"{number}. {step.id} [{step.kind}] {step.does}")
        for call in step.calls:
            route = f"{call.strategy} routing, profile {call.profile}" if call.profile else f"{call.strategy} routing"
            typer.echo(f"     {call.persona} -> {call.model} ({route}; candidates: {', '.join(call.candidates)})")
        typer.echo("     " + ", ".join(f"{name} -> {target}" for name, target in step.edges))
    typer.echo("\nStart it by dropping --dry-run. Each call is routed again when it happens: a cascade climbs after "
               "a failed gate, and failover moves past a model that is down.")
    return 0
