"""`orchestrator plugins`: the loaded plugins (built-in and installed) and what each registers."""

from __future__ import annotations

import json

import typer

WHAT = {"register_gate_kinds": "gate kinds", "register_routing_strategies": "routing strategies",
        "register_tools": "tools", "register_providers": "providers"}


def plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text.")) -> int:
    """List the plugins (built-in, then installed `orchestrator` entry points) and the gate kinds, routing
    strategies, tools and providers each registers."""
    from orchestrator.plugins import HOOKS, describe_plugins, registrations

    found = registrations()
    sources = describe_plugins()
    if as_json:
        typer.echo(json.dumps({name: {"source": sources.get(name, "built-in"), **found.get(name, {})}
                               for name in sources}, indent=2))
        return 0
    for name, source in sources.items():
        typer.echo(f"{name} ({source})")
        for hook in HOOKS:
            if found.get(name, {}).get(hook):
                typer.echo(f"  {WHAT[hook]}: {', '.join(found[name][hook])}")
    return 0
