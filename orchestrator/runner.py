"""The facade: start a run of a workflow against a repo and report how it ended."""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.context import RunContext
from orchestrator.errors import ConfigError, RunStopped
from orchestrator.runlog import RunLog
from orchestrator.validate import find_workflow, load_workflow
from orchestrator.workspace import Workspace, state_dir


@dataclass
class RunOptions:
    """What the user asked for on the command line (or through the library)."""

    workflow: str
    repo: Path
    task: str
    model_overrides: dict[str, str] = field(default_factory=dict)
    strict_roles: bool = False
    approve: str = "auto"
    run_id: str | None = None


@dataclass
class RunOutcome:
    """How a run ended: status, exit code, phases and where the work is."""

    run_id: str
    status: str
    exit_code: int
    message: str
    branch: str
    worktree: Path
    phases: list[dict[str, Any]]
    diff_stat: str
    warnings: list[str] = field(default_factory=list)


def new_run_id() -> str:
    """Sortable, unique run id: UTC timestamp plus random suffix."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def start_run(options: RunOptions, complete: Any = None) -> RunOutcome:
    """Validate everything, create the worktree, run the compiled graph and summarise."""
    from orchestrator.models.registry import load_registry

    repo = options.repo.resolve()
    path = find_workflow(options.workflow, repo)
    spec = load_workflow(path, repo)
    if not options.task.strip():
        raise ConfigError("--task is empty: say what the run should do")
    registry = load_registry(repo, workflow_models=spec.models, overrides=options.model_overrides)
    warnings = registry.check_roles(strict=options.strict_roles or spec.settings.roles == "strict")
    store = state_dir(repo)
    run_id = options.run_id or new_run_id()
    workspace = Workspace.create(repo, run_id)
    runlog = RunLog(store / "runs.sqlite")
    runlog.start_run(run_id, workflow=spec.name, workflow_path=str(path.resolve()), task=options.task,
                     repo=str(repo), branch=workspace.branch, base_commit=workspace.base_commit,
                     options={"model_overrides": options.model_overrides, "approve": options.approve,
                              "strict_roles": options.strict_roles})
    for warning in warnings:
        runlog.event(run_id, "warning", message=warning)
    ctx = RunContext(run_id=run_id, task=options.task, spec=spec, workflow_path=path, workspace=workspace,
                     registry=registry, runlog=runlog, complete=complete or _gateway_complete(),
                     approve=options.approve)
    try:
        return execute(ctx, {"task": options.task, "status": "running"}, warnings)
    finally:
        runlog.close()


def execute(ctx: RunContext, initial: dict[str, Any] | None, warnings: list[str]) -> RunOutcome:
    """Run (or continue, with `initial=None`) the graph under the SQLite checkpointer."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from orchestrator.engine import compile_workflow
    from orchestrator.steps import make_node

    conn = sqlite3.connect(str(state_dir(ctx.workspace.repo) / "checkpoints.sqlite"), check_same_thread=False)
    try:
        graph = compile_workflow(ctx.spec, make_node(ctx), checkpointer=SqliteSaver(conn))
        config = {"configurable": {"thread_id": ctx.run_id}, "recursion_limit": 500}
        try:
            state = graph.invoke(initial, config)
        except BaseException as exc:
            ctx.runlog.finish_run(ctx.run_id, "failed", getattr(exc, "exit_code", 1), str(exc)[:500])
            raise
        return _finish(ctx, state, warnings)
    finally:
        conn.close()


def _finish(ctx: RunContext, state: dict[str, Any], warnings: list[str]) -> RunOutcome:
    stopped = state.get("status") == "stopped"
    status, code = ("stopped", RunStopped.exit_code) if stopped else ("done", 0)
    message = state.get("stop_reason", "") if stopped else "all gates passed"
    verdicts = state.get("verdicts", {})
    ctx.workspace.commit(f"orchestrator: run {status}", {
        "Orchestrator-Run": ctx.run_id, "Orchestrator-Phase": "final",
        "Gate-Verdicts": ", ".join(f"{k}={v}" for k, v in verdicts.items()) or "none",
        "Run-Status": status}, allow_empty=True)
    ctx.runlog.finish_run(ctx.run_id, status, code, message)
    return RunOutcome(run_id=ctx.run_id, status=status, exit_code=code, message=message,
                      branch=ctx.workspace.branch, worktree=ctx.workspace.path, phases=state.get("phases", []),
                      diff_stat=ctx.workspace.diff_stat(), warnings=warnings)


def _gateway_complete() -> Any:
    from orchestrator.models.gateway import complete

    return complete
