"""Command-line interface: `orchestrator run|worker|validate|graph|new|models|personas|runs|report|router|
gateway|budget`.

Only this package turns OrchestratorError into messages and exit codes. It imports neither LiteLLM nor
LangGraph at module level, so `--help` and `validate` start fast.
"""

from __future__ import annotations

import os
import sys

import click
import typer

from orchestrator.cli import fleet, new, router, runs
from orchestrator.cli.author import graph, init, schema, validate
from orchestrator.cli.catalog import models, personas
from orchestrator.cli.plugins import plugins
from orchestrator.cli.report import report
from orchestrator.cli.run import resume, run
from orchestrator.errors import OrchestratorError

app = typer.Typer(
    help="Run software-development workflows with a team of agents, each role on the model that fits it. "
    "Add --debug to any command for a traceback on unexpected errors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
for command in (run, resume, validate, graph, schema, init, models, personas, plugins, report):
    app.command()(command)


def _version(value: bool) -> None:
    if value:
        from orchestrator import __version__

        typer.echo(f"orchestrator {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")) -> None:
    """Run software-development workflows with a team of agents, each role on the model that fits it."""
app.add_typer(runs.app, name="runs")
app.add_typer(new.app, name="new")


app.add_typer(router.app, name="router", help="Routing: calibrate, score, evaluate, explain, drift.")
app.command()(fleet.worker)
app.add_typer(fleet.gateway, name="gateway")
app.add_typer(fleet.budget, name="budget")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code (see DESIGN.md)."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(os.environ.get("ORCHESTRATOR_DEBUG"))
    args = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--debug"]
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="orchestrator", standalone_mode=False)
        return int(result or 0)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except typer.TyperException as exc:
        # typer vendors click: usage errors and friends print themselves and know their exit code (2 for usage).
        # Only the vendored ClickException (private to typer) has `show`; the base class prints its message.
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            click.echo(f"Error: {exc.format_message()}", err=True)
        return exc.exit_code
    except OrchestratorError as exc:
        _print_error(exc)
        if debug:
            raise
        return exc.exit_code
    except KeyboardInterrupt:  # outside a run's steps (a run's own Ctrl-C is RunInterrupted, with its id)
        click.echo("Interrupted. A run that had started is listed by `orchestrator runs list --repo PATH`; "
                   "continue it with `orchestrator resume RUN_ID --repo PATH`.", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: one line, details behind --debug
        if debug:
            raise
        if _disk_full(exc):
            return 1
        click.echo(f"Error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", err=True)
        return 1


def _disk_full(exc: Exception) -> bool:
    """Say what a full disk means and how to go on (a run's own session says it with the run id)."""
    from orchestrator.store.guard import disk_full_error, is_disk_full

    if not is_disk_full(exc):
        return False
    _print_error(disk_full_error(exc))
    return True


def _print_error(exc: OrchestratorError) -> None:
    lines = str(exc).splitlines() or [type(exc).__name__]
    prefix = {3: "Stopped", 4: "Paused", 130: "Interrupted"}.get(exc.exit_code, "Error")
    for line in lines:
        click.echo(f"{prefix}: {line}", err=True)
