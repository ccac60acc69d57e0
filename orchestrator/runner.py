"""The facade: start or resume a run of a workflow against a repo and report how it ended."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.agents.bwrap import sizes_tmpfs
from orchestrator.agents.limits import describe as describe_limits
from orchestrator.agents.sandbox import sandbox_policy
from orchestrator.errors import ConfigError, ModelError, RunInterrupted, RunStopped, WorkspaceError, did_you_mean
from orchestrator.run.budgets import BudgetGuard
from orchestrator.run.context import RunContext
from orchestrator.run.events_text import plain_log
from orchestrator.run.lock import RunLock
from orchestrator.run.log import RunLog, checkpoints_connection
from orchestrator.run.outcome import (
    RunOutcome,
    finished_outcome,
    paused_outcome,
    resume_command,
    stopped_outcome,
)
from orchestrator.run.preflight import (
    check_keys,
    check_pin,
    check_prices,
    resolve_registry,
    run_notices,
    sandbox_warnings,
    uncommitted_notice,
)
from orchestrator.run.workspace import Workspace, git, state_dir
from orchestrator.workflow.autonomy import apply_autonomy
from orchestrator.workflow.budget import BudgetSpec
from orchestrator.workflow.lint import workflow_roles
from orchestrator.workflow.spec import AgentStepSpec
from orchestrator.workflow.trust import allowed_commands
from orchestrator.workflow.validate import find_workflow, load_workflow


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


def new_run_id() -> str:
    """Sortable, unique run id: UTC timestamp plus random suffix."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def run_workflow(workflow: str | Path, task: str, repo: str | Path = ".", *, models: dict[str, str] | None = None,
                 budget: BudgetSpec | dict[str, float] | None = None, on_event: Any = None, complete: Any = None,
                 ask: Any = None, **options: Any) -> RunOutcome:
    """Run a workflow from Python: `orchestrator run` as a function, returning the RunOutcome.

    `models` binds roles like `--model`; `on_event(RunEvent)` hears this run's events as they happen;
    other keywords are RunOptions fields (approve defaults to auto: nobody is there to ask)."""
    from orchestrator.run.events import listening

    budget = budget if isinstance(budget, BudgetSpec) else BudgetSpec(**(budget or {}))
    run_options = RunOptions(workflow=str(workflow), repo=Path(repo), task=task, model_overrides=dict(models or {}),
                             budget=budget, **{"run_id": new_run_id(), **options})
    if on_event is None:
        return start_run(run_options, complete=complete, ask=ask)

    def this_run(event: Any) -> None:
        if event.run_id == run_options.run_id:
            on_event(event)

    with listening(this_run):
        return start_run(run_options, complete=complete, ask=ask)


def start_run(options: RunOptions, complete: Any = None, ask: Any = None, notify: Any = None) -> RunOutcome:
    """Validate everything, create the worktree, run the compiled graph and summarise.

    `notify(message)` hears each warning and notice before the first step runs."""
    repo = options.repo.resolve()
    path = find_workflow(options.workflow, repo)
    spec = load_workflow(path, repo)
    if options.autonomy:
        spec.settings.autonomy = options.autonomy
    spec = apply_autonomy(spec)
    if not options.task.strip():
        raise ConfigError("--task is empty: say what the run should do")
    registry, warnings = resolve_registry(repo, spec, options.model_overrides, options.strict_roles)
    check_models_usable(registry, spec, options.budget, options.pin, complete)
    warnings += sandbox_warnings(options.unsafe_no_sandbox) + run_notices(spec, path, repo, options.allow_commands)
    warnings += uncommitted_notice(repo)
    run_id = options.run_id or new_run_id()
    workspace = Workspace.planned(repo, run_id)
    runlog = RunLog(state_dir(repo) / "runs.sqlite")
    stored = {"model_overrides": options.model_overrides, "approve": options.approve,
              "strict_roles": options.strict_roles, "budget": options.budget.model_dump(),
              "autonomy": spec.settings.autonomy, "pin": options.pin, "allow_commands": options.allow_commands,
              "unsafe_no_sandbox": options.unsafe_no_sandbox}
    try:
        with RunLock(state_dir(repo) / "locks", run_id), plain_log(state_dir(repo), run_id):
            # The record comes first: a kill during `git worktree add` leaves a run that resume can repair.
            runlog.start_run(run_id, workflow=spec.name, workflow_path=str(path.resolve()), task=options.task,
                             repo=str(repo), branch=workspace.branch, base_commit=workspace.base_commit,
                             options=stored)
            _add_worktree(workspace, runlog, run_id)
            _announce(runlog, run_id, warnings, notify, spec)
            ctx = _context(run_id, options.task, spec, path, workspace, registry, runlog, complete, options.approve,
                           ask, options.budget, elapsed_before=0.0, pin=options.pin, stored=stored)
            return execute(ctx, {"task": options.task, "status": "running"}, warnings)
    finally:
        runlog.close()


def check_models_usable(registry: Any, spec: Any, budget: BudgetSpec, pin: str | None, complete: Any) -> None:
    """Before any call: the pin is a real id, every model has a price under a usd budget, remote keys are set."""
    from orchestrator.run.routing import check_routing_targets

    check_pin(registry, pin)
    check_routing_targets(registry, spec)
    check_prices(registry, spec, budget, workflow_roles(spec)[2], pin)
    if complete is None:  # an injected `complete` (tests, embedding) calls no provider
        check_keys(registry, workflow_roles(spec)[2])


def _add_worktree(workspace: Workspace, runlog: RunLog, run_id: str) -> None:
    """Create the run's worktree; a failure ends the run record as failed instead of leaving it 'running'."""
    try:
        workspace.add()
    except WorkspaceError as exc:
        runlog.finish_run(run_id, "failed", exc.exit_code, str(exc)[:500])
        raise


def _announce(runlog: RunLog, run_id: str, warnings: list[str], notify: Any, spec: Any) -> None:
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
    repo = options.repo.resolve()
    runlog = RunLog(state_dir(repo) / "runs.sqlite")
    try:
        row = runlog.run(options.run_id)
        if row is None:
            known = [r["id"] for r in runlog.runs()]
            raise ConfigError(f"unknown run {options.run_id!r}.{did_you_mean(options.run_id, known)}")
        if row["status"] == "done":
            raise ConfigError(f"run {options.run_id} already finished; nothing to resume")
        with RunLock(state_dir(repo) / "locks", options.run_id), plain_log(state_dir(repo), options.run_id):
            return _resume_locked(options, row, runlog, complete, ask, notify)
    finally:
        runlog.close()


def _resume_locked(options: ResumeOptions, row: dict[str, Any], runlog: RunLog, complete: Any,
                   ask: Any, notify: Any) -> RunOutcome:
    """The body of resume, run while this process holds the run's lock."""
    repo = options.repo.resolve()
    stored = _resumed_options(options, json.loads(row["options"] or "{}"))
    budget = BudgetSpec(**stored["budget"])
    path = Path(row["workflow_path"])
    spec = load_workflow(path, repo)
    spec.settings.autonomy = stored.get("autonomy", spec.settings.autonomy)
    spec = apply_autonomy(spec)
    registry, warnings = resolve_registry(repo, spec, stored["model_overrides"], stored.get("strict_roles", False))
    # Rebound roles, raised caps or a changed models.yaml get the same checks as a new run.
    check_models_usable(registry, spec, budget, stored.get("pin"), complete)
    runlog.update_options(options.run_id, stored)  # only what passed the checks is kept for later sessions
    warnings += sandbox_warnings(stored["unsafe_no_sandbox"])
    warnings += run_notices(spec, path, repo, stored["allow_commands"])
    workspace = Workspace.reopen(repo, options.run_id, row["base_commit"])
    for lock in workspace.clear_stale_locks():
        warnings.append(f"removed a stale git lock left by a killed session: {lock}")
    _announce(runlog, options.run_id, warnings, notify, spec)
    _discard_partial_work(workspace)
    ctx = _context(options.run_id, row["task"], spec, path, workspace, registry, runlog, complete,
                   stored["approve"], ask, budget, elapsed_before=runlog.elapsed(options.run_id),
                   pin=stored.get("pin"), stored=stored)
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
    return stored


def _context(run_id: str, task: str, spec: Any, path: Path, workspace: Workspace, registry: Any, runlog: RunLog,
             complete: Any, approve: str, ask: Any, budget: BudgetSpec, elapsed_before: float,
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
    with sandbox_policy(allow_unsafe=ctx.unsafe_no_sandbox, deadline=_deadline(ctx),
                        resource_limits=ctx.spec.settings.limits):
        return _execute(ctx, initial, warnings, decision)


def _execute(ctx: RunContext, initial: dict[str, Any] | None, warnings: list[str],
             decision: dict[str, Any] | None) -> RunOutcome:
    """The graph under the SQLite checkpointer; a run killed before its first checkpoint starts over."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from orchestrator.models.resilience import add_failover_listener, remove_failover_listener
    from orchestrator.run.step_log import logged_nodes
    from orchestrator.steps import make_node
    from orchestrator.workflow.compile import compile_workflow

    conn = checkpoints_connection(state_dir(ctx.workspace.repo) / "checkpoints.sqlite")

    def log_failover(model: str, kind: str, next_model: str | None) -> None:
        ctx.runlog.event(ctx.run_id, "failover", model=model, error=kind, next_model=next_model)

    add_failover_listener(log_failover)
    try:
        saver = SqliteSaver(conn)
        graph = compile_workflow(ctx.spec, logged_nodes(ctx, make_node(ctx)), checkpointer=saver)
        config = {"configurable": {"thread_id": ctx.run_id}, "recursion_limit": 1000}
        payload = _first_payload(ctx, graph, saver, config, initial, decision)
        try:
            pending = _drive(ctx, graph, config, payload)
        except RunStopped as exc:
            return stopped_outcome(ctx, graph, config, warnings, str(exc))
        if pending is not None:
            return paused_outcome(ctx, graph, config, warnings, pending)
        return finished_outcome(ctx, graph.get_state(config).values, warnings)
    finally:
        remove_failover_listener(log_failover)
        if ctx.router is not None:
            ctx.router.save_latency()
        conn.close()


def _first_payload(ctx: RunContext, graph: Any, saver: Any, config: dict[str, Any], initial: dict[str, Any] | None,
                   decision: dict[str, Any] | None) -> Any:
    """What the graph starts from: the initial state, the saved state (None), or a human's decision."""
    from langgraph.types import Command

    if initial is None and saver.get_tuple(config) is None:
        return {"task": ctx.task, "status": "running"}  # killed before the first checkpoint: start over
    if initial is None and decision is not None and _pending(graph, config):
        return Command(resume=decision)
    return initial


def _drive(ctx: RunContext, graph: Any, config: dict[str, Any], payload: Any) -> dict[str, Any] | None:
    """Invoke the graph until it ends or waits for a decision nobody here can give; returns what it waits on."""
    from langgraph.types import Command

    started = time.monotonic()
    try:
        while True:
            graph.invoke(payload, config, durability="sync")
            pending = _pending(graph, config)
            if pending is None or ctx.approve != "ask" or ctx.ask is None:
                return pending
            answer = ctx.ask(pending)
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
        ctx.runlog.finish_run(ctx.run_id, "failed", getattr(exc, "exit_code", 1), str(exc)[:500])
        raise
    finally:
        ctx.runlog.event(ctx.run_id, "session", seconds=round(time.monotonic() - started, 3))


def _deadline(ctx: RunContext) -> float | None:
    """When the run's wall-clock budget ends (time.monotonic()), so a stuck tool or command is cut off then."""
    seconds = ctx.guard.run_caps.seconds
    return None if seconds is None else time.monotonic() + max(0.0, seconds - ctx.guard.elapsed())


def rebind(ctx: RunContext, models: dict[str, str]) -> None:
    """Switch roles to other models mid-run (at the approval prompt); stored so a resume keeps them."""
    row = ctx.runlog.run(ctx.run_id) or {}
    stored = json.loads(row.get("options") or "{}")
    stored["model_overrides"] = {**stored.get("model_overrides", {}), **models}
    registry, _ = resolve_registry(ctx.workspace.repo, ctx.spec, stored["model_overrides"],
                                   stored.get("strict_roles", False))
    check_models_usable(registry, ctx.spec, ctx.guard.run_caps, stored.get("pin"), ctx.complete)
    ctx.runlog.update_options(ctx.run_id, stored)  # stored only once checked, so a resume never inherits a typo
    ctx.registry = registry
    if ctx.router is not None:
        ctx.router.use_registry(registry)
    ctx.runlog.event(ctx.run_id, "rebind", models=models)


def _pending(graph: Any, config: dict[str, Any]) -> dict[str, Any] | None:
    """The payload of a pending interrupt (a human decision the run waits for), if any."""
    snapshot = graph.get_state(config)
    for interrupt in getattr(snapshot, "interrupts", ()) or ():
        return interrupt.value
    return None
