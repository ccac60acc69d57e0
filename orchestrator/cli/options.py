"""Options shared by several commands: --repo, --store, --model, --budget, --approve, --allow-command,
--unsafe-no-sandbox, --trust-repo-config, --quiet and --json."""

from __future__ import annotations

from pathlib import Path

import typer

REPO_OPTION = typer.Option(Path("."), "--repo", help="Target git repository (default: current directory).")


STORE_OPTION = typer.Option(
    None, "--store", envvar="ORCHESTRATOR_STORE", show_envvar=True,
    help="Where run state lives: sqlite: (default, the repo's .git/orchestrator/) or postgresql://... shared by "
         "every repo and machine.")


APPROVE_OPTION = typer.Option(
    None, "--approve",
    help="Approvals: ask (prompt here), auto (approve, logged) or defer (pause, exit 4). Default: ask on a terminal.",
)


BUDGET_OPTION = typer.Option(None, "--budget", help="Cap the run: usd=AMOUNT, tokens=COUNT or seconds=S (repeatable).")


MODEL_OPTION = typer.Option(
    None, "--model", "-m", help="Bind a role: ROLE=MODEL_OR_PROFILE (repeatable), e.g. critic=high_reasoning."
)


ALLOW_OPTION = typer.Option(
    None, "--allow-command", help="Let agents and gates start this program too (repeatable), e.g. make.")


UNSAFE_OPTION = typer.Option(
    False, "--unsafe-no-sandbox",
    help="Where no sandbox (bubblewrap) works, run tests and gate commands unconfined, as you. Unsafe.")


TRUST_REPO_OPTION = typer.Option(
    False, "--trust-repo-config",
    help="Let the repository's own .orchestrator/models.yaml set endpoints, key variables and tracing. "
    "Only for a repository you trust with your keys.")


QUIET_OPTION = typer.Option(False, "--quiet", "-q", help="No live progress; only notices and the summary at the end.")


JSON_OPTION = typer.Option(
    False, "--json", help="Write one JSON event per line on stdout (the last one, kind outcome, is the summary); "
    "nothing else goes to stdout.")


BUDGET_SCOPE_OPTION = typer.Option(
    None, "--budget-scope", help="Also count spend against this named cap in the store (repeatable; "
    "`orchestrator budget set NAME USD` creates it).")


ENQUEUE_OPTION = typer.Option(False, "--enqueue", help="Queue the run for workers (`orchestrator worker`) instead "
                              "of running it here; needs a Postgres --store.")


REPO_URL_OPTION = typer.Option(None, "--repo-url", help="With --enqueue: the repo's git URL for the workers "
                               "(default: file:// of --repo).")
