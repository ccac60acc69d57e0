"""Commands for work beyond one machine: `gateway config`, `budget set|show`, and `worker`."""

from __future__ import annotations

from pathlib import Path

import typer

from orchestrator.cli.options import STORE_OPTION
from orchestrator.cli.render import print_table
from orchestrator.errors import ConfigError

gateway = typer.Typer(help="A LiteLLM proxy for teams that run one (a backstop; the store's caps stay the hard cap).",
                      no_args_is_help=True)
budget = typer.Typer(help="Spend caps held in the store, shared by every run and worker that counts against them.",
                     no_args_is_help=True)


@gateway.command("config")
def gateway_config(
    repo: Path = typer.Option(None, "--repo", help="Include the repo's .orchestrator/models.yaml."),
    output: Path = typer.Option(Path("config.yaml"), "--output", "-o", help="Where to write it ('-': stdout)."),
    redis: bool = typer.Option(False, "--redis", help="Share limits and cooldowns through Redis (REDIS_HOST ...)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> int:
    """Write a LiteLLM proxy config.yaml from the registry: model list, fallbacks, rpm/tpm, optionally Redis."""
    import yaml

    from orchestrator.models.proxy_config import proxy_config
    from orchestrator.models.registry import load_registry

    text = yaml.safe_dump(proxy_config(load_registry(repo), redis=redis), sort_keys=False)
    if str(output) == "-":
        typer.echo(text, nl=False)
        return 0
    if output.exists() and not force:
        raise ConfigError(f"{output}: already exists; pass --force to overwrite it or -o to write elsewhere")
    output.write_text(text, encoding="utf-8")
    typer.echo(f"Wrote {output}; start the proxy with `litellm --config {output}`.")
    return 0


def _ledger(repo: Path, store: str | None):
    from orchestrator.store.ledger import SpendLedger
    from orchestrator.store.location import resolve_store

    return SpendLedger(resolve_store(store).runlog_target(repo))


@budget.command("set")
def budget_set(
    scope: str = typer.Argument(..., help="A scope name, e.g. team:web or key:ci."),
    usd: float = typer.Argument(..., help="The cap in US dollars (what the scope spent so far is kept)."),
    repo: Path = typer.Option(Path("."), "--repo", help="The repo whose store holds it (sqlite: only)."),
    store: str = STORE_OPTION,
) -> int:
    """Create a named spend cap, or change its cap; runs join it with `run --budget-scope NAME`."""
    ledger = _ledger(repo, store)
    try:
        ledger.set_cap(scope, usd)
    finally:
        ledger.close()
    typer.echo(f"{scope}: cap ${usd:.4f}")
    return 0


@budget.command("show")
def budget_show(
    repo: Path = typer.Option(Path("."), "--repo", help="The repo whose store holds them (sqlite: only)."),
    store: str = STORE_OPTION,
) -> int:
    """Every scope's cap, what it spent, and what calls in flight (or killed mid-call) hold."""
    ledger = _ledger(repo, store)
    try:
        rows = ledger.scopes()
    finally:
        ledger.close()
    print_table("Spend caps", [{"scope": r["scope"], "cap $": f"{r['cap_usd']:.4f}", "spent $": f"{r['spent_usd']:.4f}",
                                "held $": f"{r['reserved_usd']:.4f}"} for r in rows])
    return 0


def worker(
    store: str = STORE_OPTION,
    cache: Path = typer.Option(None, "--cache", help="Where this worker clones repos "
                               "(default ~/.cache/orchestrator/repos)."),
    concurrency: int = typer.Option(1, "--concurrency", min=1, help="Runs this worker executes at once."),
    once: bool = typer.Option(False, "--once", help="Exit when the queue has nothing left to give."),
    name: str = typer.Option(None, "--name", help="This worker's name in the queue's records."),
    stalled_after: float = typer.Option(30.0, "--stalled-after", min=1.0,
                                        help="Seconds without a heartbeat before a worker's runs are taken over."),
) -> int:
    """Take queued runs (`run --enqueue`) from the store's queue and execute them; needs a Postgres store."""
    from orchestrator.store.location import resolve_store
    from orchestrator.workers.jobs import WorkerSettings
    from orchestrator.workers.repos import default_cache
    from orchestrator.workers.take import work

    resolved = resolve_store(store)
    if not resolved.shared:
        raise ConfigError("worker: the queue lives in a shared store; pass --store postgresql://... "
                          "(or set ORCHESTRATOR_STORE)")
    work(WorkerSettings(store=resolved.url, cache=(cache or default_cache()).resolve(), name=name,
                        concurrency=concurrency, wait=not once, stalled_after_s=stalled_after,
                        heartbeat_s=max(1.0, stalled_after / 3), sweep_every_s=max(1.0, stalled_after / 3)))
    return 0


def enqueue_run(workflow: str, task: str, repo: Path, repo_url: str | None, store: str | None, *,
                model: list[str] | None, budget: list[str] | None, autonomy: str | None, pin: str | None,
                budget_scope: list[str] | None, local_only: bool) -> int:
    """Queue a run for the workers; the repo is a git URL (default: file:// of --repo)."""
    from orchestrator.models.registry import parse_model_overrides
    from orchestrator.runner import new_run_id
    from orchestrator.store.location import resolve_store
    from orchestrator.workers.jobs import enqueue
    from orchestrator.workers.repos import check_repo_url
    from orchestrator.workers.take import job_of
    from orchestrator.workflow.budget import parse_budget

    resolved = resolve_store(store)
    if not resolved.shared:
        raise ConfigError("--enqueue: queued runs live in a shared store; pass --store postgresql://... "
                          "(or set ORCHESTRATOR_STORE)")
    if local_only:
        raise ConfigError("--enqueue: --unsafe-no-sandbox and --allow-command apply to runs started here only; "
                          "drop them to queue the run")
    url = check_repo_url(repo_url or repo.resolve().as_uri())
    run_id = new_run_id()
    job = job_of(run_id, url, workflow, task, models=parse_model_overrides(model or []),
                 budget=parse_budget(budget or []).model_dump(exclude_none=True), autonomy=autonomy, pin=pin,
                 budget_scopes=budget_scope or [])
    job_id = enqueue(resolved.url, job)
    typer.echo(f"Queued run {run_id} (job {job_id}) for {url}; follow it with "
               f"`orchestrator runs list --all --store ...`.")
    return 0
