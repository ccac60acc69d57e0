"""`orchestrator new workflow|persona NAME`: commented starting files that validate as written."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from orchestrator.errors import ConfigError

app = typer.Typer(help="Scaffold a workflow or a persona in a repository's .orchestrator/.", no_args_is_help=True)

WORKFLOW = """\
# Workflow {name}: build, prove with the tests, then a critic's review.
# Check it:  orchestrator validate {name} --repo .
# See the plan (models and routes of every step, no model called):
#            orchestrator run {name} --repo . --task "..." --dry-run
# Reference: docs/workflows.md (every key) and docs/gates.md (every rule a gate applies).
name: {name}
description: Implement the task with a test, check it with the project's commands, then review it.
settings:
  # What the agents' run_tests tool runs (argv, no shell). A review that passes a scenario must name a test
  # this command collects.
  test_command: [python, -m, pytest, -q]
gates:
  checks:
    kind: quality              # deterministic commands, in order; every one must pass
    commands:
      - name: tests
        run: [python, -m, pytest, -q]
        parser: pytest           # failures become {{file, line, message}} findings for the builder
      # - name: lint             # more commands: each runs without a shell, in the run's sandbox
      #   run: [ruff, check, .]
      #   parser: ruff
  review:
    kind: review               # a critic on fresh context judges the diff against the scenarios:
    critics: [critic]          # the spec's, or with no spec in the run one: "The task is done: <task>"
steps:
  - id: build
    persona: builder
    instructions: "Implement this task and add a test that checks it: {{task}}"
    deliverable: source          # the step fails unless a source file changed
    stop_when_delivered: false   # don't end at the first source write: the test comes after the code
    next: check
  - id: check
    type: gate
    gate: checks
    on_pass: review
    on_fail: build               # the builder gets the parsed failures
    max_rounds: 3                # every loop needs a cap
  - id: review
    type: gate
    gate: review
    on_pass: end
    on_fail: build
    max_rounds: 2
"""

PERSONA = """\
# Persona {name}: a role's scope. It holds no model: bind one with `--model {name}=MODEL_OR_PROFILE` or under
# `roles:` in .orchestrator/models.yaml (unbound, it runs on the high_throughput profile).
# Use it in a step (`persona: {name}`). Check it: orchestrator personas --repo .
# Reference: docs/personas.md (every key).
goal: Say in one or two sentences what this role is for.
guidelines:
  - How it should work, one habit a line.
boundaries:
  - What it must not do.
# Tools it may call (read_file, list_files, search, git_diff, write_file, append_file, edit, run_tests).
# A read-only role (a reviewer) keeps the first four.
tools: [read_file, list_files, search, git_diff, write_file, edit, run_tests]
handoffs:
  - What it passes on to the next step.
"""

_NAME = {"workflow": re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$"), "persona": re.compile(r"^[a-z][a-z0-9_]*$")}


def _write(kind: str, name: str, repo: Path, force: bool) -> Path:
    """Write one scaffold file into `<repo>/.orchestrator/<kind>s/`; refuse a bad name or an existing file."""
    if not _NAME[kind].match(name):
        rule = "lower-case letters, digits and _, starting with a letter" if kind == "persona" else (
            "letters, digits, _ and -")
        raise ConfigError(f"{name!r}: a {kind} name uses {rule}")
    if not repo.is_dir():
        raise ConfigError(f"--repo {repo}: no such folder")
    target = repo / ".orchestrator" / f"{kind}s" / f"{name}.yaml"
    if target.exists() and not force:
        raise ConfigError(f"{target} exists; keep it, or overwrite it with --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    text = (WORKFLOW if kind == "workflow" else PERSONA).format(name=name)
    target.write_text(text, encoding="utf-8")
    return target


REPO = typer.Option(Path("."), "--repo", help="The repository whose .orchestrator/ gets the file.")
FORCE = typer.Option(False, "--force", help="Overwrite an existing file.")


@app.command("workflow")
def new_workflow(name: str = typer.Argument(..., help="Workflow name (also its file name)."),
                 repo: Path = REPO, force: bool = FORCE) -> int:
    """Write a commented workflow (build, quality gate, review gate) to .orchestrator/workflows/NAME.yaml."""
    target = _write("workflow", name, repo, force)
    typer.echo(f"wrote {target}")
    typer.echo(f"next: orchestrator validate {name} --repo {repo}; "
               f"orchestrator run {name} --repo {repo} --task \"...\" --dry-run")
    return 0


@app.command("persona")
def new_persona(name: str = typer.Argument(..., help="Persona name (also its file name)."),
                repo: Path = REPO, force: bool = FORCE) -> int:
    """Write a commented persona to .orchestrator/personas/NAME.yaml."""
    target = _write("persona", name, repo, force)
    typer.echo(f"wrote {target}")
    typer.echo(f"next: edit its goal and tools, use it in a step (persona: {name}), "
               f"check it with: orchestrator personas --repo {repo}")
    return 0
