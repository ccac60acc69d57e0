"""The facade: start or resume a run of a workflow against a repo and report how it ended."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.agents.bwrap import sizes_tmpfs
from orchestrator.agents.limits import describe as describe_limits
from orchestrator.agents.sandbox import sandbox_policy
from orchestrator.errors import ConfigError, ModelError, RunInterrupted, RunStopped, WorkspaceError, did_you_mean
from orchestrator.report.events_text import plain_log
from orchestrator.run.budgets import BudgetGuard
from orchestrator.run.context import RunContext
from orchestrator.run.lock import RunLock
from orchestrator.run.outcome import (
    RunOutcome,
    finished_outcome,
    paused_outcome,
    resume_command,
    stopped_outcome,
)
from orchestrator.run.preflight import (
    check_models_usable,
    prepare_run,
    resolve_registry,
    run_notices,
    sandbox_warnings,
    target_repo,
)
from orchestrator.run.repair import repair_for_resume
from orchestrator.run.session import deadline, first_payload, pending
from orchestrator.run.workspace import Workspace, git
from orchestrator.store.guard import disk_full_error, is_disk_full
from orchestrator.store.ledger import shared_caps
from orchestrator.store.location import Store, resolve_store, state_dir
from orchestrator.store.log import RunLog
from orchestrator.workflow.autonomy import apply_autonomy
from orchestrator.workflow.budget import BudgetSpec
from orchestrator.workflow.spec import AgentStepSpec, WorkflowSpec
from orchestrator.workflow.trust import allowed_commands
from orchestrator.workflow.validate import find_workflow, load_workflow

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry


@dataclass
class RunOptions:
    """What the user asked for on the command line (or through the library)."""

    workflow: str
    repo: Path
    task: str
    model_overrides: dict[str, str] = field(default_factory=dict)
    strict_roles: bool = False
    approve: str = "auto"
    budget: BudgetSpec = field(default_factory=BudgetSpec)
    autonomy: str | None = None
    pin: str | None = None
    run_id: str | None = None
    allow_commands: list[str] = field(default_factory=list)
    unsafe_no_sandbox: bool = False
    trust_repo_config: bool = False
    store: str | None = None  # --store URL; None: ORCHESTRATOR_STORE, else each repo's own SQLite
    origin: str = ""  # the git URL a worker cloned the repo from: recorded as the run's repo
    budget_scopes: list[str] = field(default_factory=list)  # named spend caps in the store the run counts against


@dataclass
class ResumeOptions:
    """How to continue a run: raised caps, rebound roles and a human decision for a pending approval."""

    repo: Path
    run_id: str
    model_overrides: dict[str, str] = field(default_factory=dict)
    budget: BudgetSpec = field(default_factory=BudgetSpec)
    approve: str | None = None
    decision: dict[str, Any] | None = None
    allow_commands: list[str] = field(default_factory=list)
    unsafe_no_sandbox: bool = False
    trust_repo_config: bool = False
    store: str | None = None


def new_run_id() -> str:
    """Sortable, unique run id: UTC timestamp plus random suffix."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def run_workflow(workflow: str | Path, task: str, repo: str | Path = ".", *, models: dict[str, str] | None = None,
                 budget: BudgetSpec | dict[str, float] | None = None, on_event: Any = None, complete: Any = None,
                 ask: Any = None, **options: Any) -> RunOutcome:
    """Run a workflow from Python: `orchestrator run` as a function, returning the RunOutcome.

    `models` binds roles like `--model`; `on_event(RunEvent)` hears this run's events as they happen;
    other keywords are RunOptions fields (approve defaults to auto: nobody is there to ask)."""
    from orchestrator.store.events import listening

    budget = budget if isinstance(budget, BudgetSpec) else BudgetSpec(**(budget or {}))
    run_options = RunOptions(workflow=str(workflow), repo=Path(repo), task=task, model_overrides=dict(models or {}),
                             budget=budget, **{"run_id": new_run_id(), **options})
    if on_event is None:
        return start_run(run_options, complete=complete, ask=ask)

    with listening(on_event, run_id=run_options.run_id):
        return start_run(run_options, complete=complete, ask=ask)


def start_run(options: RunOptions, complete: Any = None, ask: Any = None, notify: Any = None) -> RunOutcome:
    """Validate everything, create the worktree, run the compiled graph and summarise.

    `notify(message)` hears each warning and notice before the first step runs."""
    repo, path, spec, registry, warnings = prepare_run(options, complete)
    run_id = options.run_id or new_run_id()
    workspace = Workspace.planned(repo, run_id)
    store = resolve_store(options.store)
    runlog = store.open_runlog(repo)
    stored = _stored_options(options, spec)
    caps = shared_caps(store.runlog_target(repo), run_id, spec.settings.budget.merged(options.budget).usd,
                       options.budget_scopes)
    try:
        with RunLock(state_dir(repo) / "locks", run_id), plain_log(state_dir(repo), run_id):
            # The record comes first: a kill during `git worktree add` leaves a run that resume can repair.
            runlog.start_run(run_id, workflow=spec.name, workflow_path=str(path.resolve()), task=options.task,
                             repo=options.origin or str(repo), branch=workspace.branch,
                             base_commit=workspace.base_commit, options=stored)
            _add_worktree(workspace, runlog, run_id)
            _announce(runlog, run_id, warnings, notify, spec)
            ctx = _context(run_id, options.task, spec, path, workspace, registry, runlog, complete, options.approve,
                           ask, options.budget, elapsed_before=0.0, pin=options.pin, stored=stored)
            ctx.store, ctx.caps = store, caps
            return execute(ctx, {"task": options.task, "status": "running"}, warnings)
    finally:
        runlog.close()
        if caps is not None:
            caps.close()


def _stored_options(options: RunOptions, spec: WorkflowSpec) -> dict[str, Any]:
    """What a resume (here or on another worker) needs to know of how the run was started."""
    return {"model_overrides": options.model_overrides, "approve": options.approve,
            "strict_roles": options.strict_roles, "budget": options.budget.model_dump(),
            "autonomy": spec.settings.autonomy, "pin": options.pin, "allow_commands": options.allow_commands,
            "unsafe_no_sandbox": options.unsafe_no_sandbox, "trust_repo_config": options.trust_repo_config,
            "budget_scopes": options.budget_scopes, "workflow": options.workflow}


def plan_run(options: RunOptions, complete: Any = None) -> tuple[Path, Any, list[Any], list[str]]:
    """A dry run: every check `start_run` makes, then each step's route; no worktree, no model call, no record.

    Returns (workflow file, workflow, planned steps, warnings)."""
    from orchestrator.run.plan import plan_steps

    _, path, spec, registry, warnings = prepare_run(options, complete)
    return path, spec, plan_steps(spec, registry, options.task, options.pin), warnings


def _add_worktree(workspace: Workspace, runlog: RunLog, run_id: str) -> None:
    """Create the run's worktree; a failure ends the run record as failed instead of leaving it 'running'."""
    try:
        workspace.add()
    except WorkspaceError as exc:
        runlog.finish_run(run_id, "failed", exc.exit_code, str(exc)[:500])
        raise


def _announce(runlog: RunLog, run_id: str, warnings: list[str], notify: Any, spec: WorkflowSpec) -> None:
    """Log every warning of a starting session and the commands' resource limits, and tell the caller before the
    first step runs."""
    for warning in warnings:
        runlog.event(run_id, "warning", message=warning)
        if notify is not None:
            notify(warning)
    in_force = describe_limits(spec.settings.limits, sizes_tmpfs())
    runlog.event(run_id, "limits", message=in_force)
    if notify is not None:
        notify(in_force)


def resume_run(options: ResumeOptions, complete: Any = None, ask: Any = None, notify: Any = None) -> RunOutcome:
    """Continue an interrupted, stopped or paused run from its last completed step."""
    repo = target_repo(options.repo)
    store = resolve_store(options.store)
    runlog = store.open_runlog(repo)
    try:
        row = runlog.run(options.run_id)
        if row is None:
            known = [r["id"] for r in runlog.runs()]
            raise ConfigError(f"unknown run {options.run_id!r}.{did_you_mean(options.run_id, known)}")
        if row["status"] == "done":
            raise ConfigError(f"run {options.run_id} already finished; nothing to resume")
        with RunLock(state_dir(repo) / "locks", options.run_id), plain_log(state_dir(repo), options.run_id):
            return _resume_locked(options, row, runlog, complete, ask, notify, store)
    finally:
        runlog.close()


def _resume_locked(options: ResumeOptions, row: dict[str, Any], runlog: RunLog, complete: Any,
                   ask: Any, notify: Any, store: Store) -> RunOutcome:
    """The body of resume, run while this process holds the run's lock."""
    repo = options.repo.resolve()
    stored = _resumed_options(options, json.loads(row["options"] or "{}"))
    budget = BudgetSpec(**stored["budget"])
    path = Path(row["workflow_path"])
    if not path.is_file() and stored.get("workflow"):  # taken over by a worker whose clone lives elsewhere
        path = find_workflow(stored["workflow"], repo)
    spec = load_workflow(path, repo)
    spec.settings.autonomy = stored.get("autonomy", spec.settings.autonomy)
    spec = apply_autonomy(spec)
    registry, warnings = resolve_registry(repo, spec, stored["model_overrides"], stored.get("strict_roles", False),
                                          stored["trust_repo_config"])
    # Rebound roles, raised caps or a changed models.yaml get the same checks as a new run.
    check_models_usable(registry, spec, budget, stored.get("pin"), complete)
    runlog.update_options(options.run_id, stored)  # only what passed the checks is kept for later sessions
    warnings += sandbox_warnings(stored["unsafe_no_sandbox"])
    warnings += run_notices(spec, path, repo, stored["allow_commands"])
    warnings += repair_for_resume(repo, options.run_id, row["base_commit"], runlog)
    workspace = Workspace.reopen(repo, options.run_id, row["base_commit"])
    for lock in workspace.clear_stale_locks():
        warnings.append(f"removed a stale git lock left by a killed session: {lock}")
    _announce(runlog, options.run_id, warnings, notify, spec)
    _discard_partial_work(workspace)
    ctx = _context(options.run_id, row["task"], spec, path, workspace, registry, runlog, complete,
                   stored["approve"], ask, budget, elapsed_before=runlog.elapsed(options.run_id),
                   pin=stored.get("pin"), stored=stored)
    ctx.store = store
    ctx.caps = shared_caps(store.runlog_target(repo), options.run_id, ctx.guard.run_caps.usd,
                           stored.get("budget_scopes", []))
    _restore_spend(ctx)
    runlog.event(options.run_id, "resume", overrides=options.model_overrides, budget=options.budget.model_dump(),
                 decision=options.decision)
    runlog.set_status(options.run_id, "running")
    return execute(ctx, None, warnings, decision=options.decision)


def _resumed_options(options: ResumeOptions, stored: dict[str, Any]) -> dict[str, Any]:
    """The stored run options with what this resume adds or raises (overrides, caps, allowlist, opt-outs)."""
    stored["model_overrides"] = {**stored.get("model_overrides", {}), **options.model_overrides}
    stored["budget"] = BudgetSpec(**stored.get("budget", {})).merged(options.budget).model_dump()
    stored["approve"] = options.approve or stored.get("approve", "auto")
    stored["allow_commands"] = list(dict.fromkeys([*stored.get("allow_commands", []), *options.allow_commands]))
    stored["unsafe_no_sandbox"] = bool(stored.get("unsafe_no_sandbox")) or options.unsafe_no_sandbox
    stored["trust_repo_config"] = bool(stored.get("trust_repo_config")) or options.trust_repo_config
    return stored


def _context(run_id: str, task: str, spec: WorkflowSpec, path: Path, workspace: Workspace, registry: Registry,
             runlog: RunLog, complete: Any, approve: str, ask: Any, budget: BudgetSpec, elapsed_before: float,
             pin: str | None = None, stored: dict[str, Any] | None = None) -> RunContext:
    from orchestrator.run.routing import RunRouter

    phase_caps = {s.id: s.budget for s in spec.steps if isinstance(s, AgentStepSpec) and s.budget}
    guard = BudgetGuard(run_caps=spec.settings.budget.merged(budget), phase_caps=phase_caps, registry=registry,
                        elapsed_before=elapsed_before)
    router = RunRouter(registry=registry, spec=spec, state_dir=state_dir(workspace.repo) / "routing",
                       runlog=runlog, run_id=run_id, pin=pin, task=task)
    stored = stored or {}
    return RunContext(run_id=run_id, task=task, spec=spec, workflow_path=path, workspace=workspace,
                      registry=registry, runlog=runlog, complete=complete, guard=guard,
                      router=router, approve=approve, ask=ask,
                      allowed_commands=allowed_commands(spec, path, workspace.repo, stored.get("allow_commands", [])),
                      unsafe_no_sandbox=bool(stored.get("unsafe_no_sandbox")))


def _restore_spend(ctx: RunContext) -> None:
    """Budgets count what earlier sessions of the run spent, from the run log."""
    for call in ctx.runlog.calls(ctx.run_id):
        ctx.guard.record(call["step"], call["prompt_tokens"] + call["completion_tokens"], call["cost_usd"])


def _discard_partial_work(workspace: Workspace) -> None:
    """A killed step may have left half-written files in the run's own worktree: back to the last commit."""
    git(workspace.path, "reset", "--quiet", "--hard", "HEAD")
    git(workspace.path, "clean", "--quiet", "-fd")


def execute(ctx: RunContext, initial: dict[str, Any] | None, warnings: list[str],
            decision: dict[str, Any] | None = None) -> RunOutcome:
    """Run (or continue, with `initial=None`) the graph, with the run's sandbox policy and deadline in force."""
    from orchestrator.models.scope import run_scope

    # The run's own breakers, rate counters and failover listeners: another run in this process shares none.
    try:
        with run_scope(ctx.run_id), sandbox_policy(allow_unsafe=ctx.unsafe_no_sandbox, deadline=deadline(ctx),
                                                    resource_limits=ctx.spec.settings.limits):
            return _execute(ctx, initial, warnings, decision)
    finally:
        if ctx.caps is not None:
            ctx.caps.close()


def _execute(ctx: RunContext, initial: dict[str, Any] | None, warnings: list[str],
             decision: dict[str, Any] | None) -> RunOutcome:
    """The graph under the store's checkpointer; a run killed before its first checkpoint starts over."""
    from orchestrator.models.resilience import add_failover_listener, remove_failover_listener

    def log_failover(model: str, kind: str, next_model: str | None) -> None:
        ctx.runlog.event(ctx.run_id, "failover", model=model, error=kind, next_model=next_model)

    add_failover_listener(log_failover)
    try:
        with (ctx.store or Store()).checkpointer(ctx.workspace.repo) as saver:
            return _graph_outcome(ctx, saver, initial, warnings, decision)
    finally:
        remove_failover_listener(log_failover)


def _graph_outcome(ctx: RunContext, saver: Any, initial: dict[str, Any] | None, warnings: list[str],
                   decision: dict[str, Any] | None) -> RunOutcome:
    """Compile the graph on the checkpointer, drive it, and say how the session ended."""
    from orchestrator.run.step_log import logged_nodes
    from orchestrator.steps import make_node
    from orchestrator.workflow.compile import compile_workflow

    graph = compile_workflow(ctx.spec, logged_nodes(ctx, make_node(ctx)), checkpointer=saver)
    config = {"configurable": {"thread_id": ctx.run_id}, "recursion_limit": 1000}
    payload = first_payload(ctx, graph, saver, config, initial, decision)
    try:
        waiting = _drive(ctx, graph, config, payload)
    except RunStopped as exc:
        return stopped_outcome(ctx, graph, config, warnings, str(exc))
    if waiting is not None:
        return paused_outcome(ctx, graph, config, warnings, waiting)
    return finished_outcome(ctx, graph.get_state(config).values, warnings)


def _drive(ctx: RunContext, graph: Any, config: dict[str, Any], payload: Any) -> dict[str, Any] | None:
    """Invoke the graph until it ends or waits for a decision nobody here can give; returns what it waits on."""
    from langgraph.types import Command

    started = time.monotonic()
    try:
        while True:
            graph.invoke(payload, config, durability="sync")
            waiting = pending(graph, config)
            if waiting is None or ctx.approve != "ask" or ctx.ask is None:
                return waiting
            answer = ctx.ask(waiting)
            if answer.get("models"):
                rebind(ctx, answer["models"])
            payload = Command(resume=answer)
    except RunStopped:
        raise
    except KeyboardInterrupt:
        # Ctrl-C: every finished step is checkpointed; the step cut short is redone on resume.
        message = f"interrupted (Ctrl-C); resume with `{resume_command(ctx)}`"
        ctx.runlog.finish_run(ctx.run_id, "interrupted", RunInterrupted.exit_code, message)
        ctx.event("run_end", status="interrupted", exit_code=RunInterrupted.exit_code, message=message)
        raise RunInterrupted(f"run {ctx.run_id} {message}") from None
    except ModelError as exc:
        if getattr(exc, "retryable", False):  # an outage outlived retries and failover: stop, saved, resumable
            raise RunStopped(f"{exc}\nThe run is saved at its last completed step; once the provider is back, "
                             f"continue with `{resume_command(ctx)}`.") from exc
        ctx.runlog.finish_run(ctx.run_id, "failed", exc.exit_code, str(exc)[:500])
        raise
    except BaseException as exc:
        if is_disk_full(exc):
            raise _ended(ctx, "interrupted", disk_full_error(exc, ctx.run_id, state_dir(ctx.workspace.repo))) from exc
        _ended(ctx, "failed", exc)
        raise
    finally:
        try:
            ctx.runlog.event(ctx.run_id, "session", seconds=round(time.monotonic() - started, 3))
        except Exception:  # noqa: BLE001 - a full disk must not hide the error that ended the session
            pass


def _ended(ctx: RunContext, status: str, exc: BaseException) -> BaseException:
    """Record how the session ended; when even that write fails (a full disk), `runs list` still shows the run
    as interrupted, since no process holds its lock."""
    try:
        ctx.runlog.finish_run(ctx.run_id, status, getattr(exc, "exit_code", 1), str(exc)[:500])
    except Exception:  # noqa: BLE001 - the original error matters more than the record of it
        pass
    return exc


def rebind(ctx: RunContext, models: dict[str, str]) -> None:
    """Switch roles to other models mid-run (at the approval prompt); stored so a resume keeps them."""
    row = ctx.runlog.run(ctx.run_id) or {}
    stored = json.loads(row.get("options") or "{}")
    stored["model_overrides"] = {**stored.get("model_overrides", {}), **models}
    registry, _ = resolve_registry(ctx.workspace.repo, ctx.spec, stored["model_overrides"],
                                   stored.get("strict_roles", False), bool(stored.get("trust_repo_config")))
    check_models_usable(registry, ctx.spec, ctx.guard.run_caps, stored.get("pin"), ctx.complete)
    ctx.runlog.update_options(ctx.run_id, stored)  # stored only once checked, so a resume never inherits a typo
    ctx.registry = registry
    if ctx.router is not None:
        ctx.router.use_registry(registry)
    ctx.runlog.event(ctx.run_id, "rebind", models=models)
