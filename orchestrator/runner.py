"""The facade: start or resume a run of a workflow against a repo and report how it ended."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.agents.sandbox import sandbox_policy, sandbox_problem
from orchestrator.errors import ConfigError, RunStopped, SandboxUnavailable, WorkspaceError, did_you_mean
from orchestrator.gates.verdict import format_verdicts
from orchestrator.run.budgets import BudgetGuard
from orchestrator.run.context import RunContext
from orchestrator.run.lock import RunLock
from orchestrator.run.log import RunLog
from orchestrator.run.workspace import Workspace, git, state_dir
from orchestrator.workflow.autonomy import apply_autonomy
from orchestrator.workflow.budget import BudgetSpec
from orchestrator.workflow.spec import AgentStepSpec
from orchestrator.workflow.trust import allowed_commands, refused_commands, shadow_notices
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
    pending: dict[str, Any] | None = None
    flags: list[str] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    """Each gate on the run's path: its latest verdict and main reason."""


def new_run_id() -> str:
    """Sortable, unique run id: UTC timestamp plus random suffix."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


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
    registry, warnings = _registry(repo, spec, options.model_overrides, options.strict_roles)
    if complete is None:  # an injected `complete` (tests, embedding) calls no provider
        check_keys(registry, workflow_roles(spec)[2])
    warnings += sandbox_warnings(options.unsafe_no_sandbox) + run_notices(spec, path, repo, options.allow_commands)
    run_id = options.run_id or new_run_id()
    workspace = Workspace.planned(repo, run_id)
    runlog = RunLog(state_dir(repo) / "runs.sqlite")
    stored = {"model_overrides": options.model_overrides, "approve": options.approve,
              "strict_roles": options.strict_roles, "budget": options.budget.model_dump(),
              "autonomy": spec.settings.autonomy, "pin": options.pin, "allow_commands": options.allow_commands,
              "unsafe_no_sandbox": options.unsafe_no_sandbox}
    try:
        with RunLock(state_dir(repo) / "locks", run_id):
            # The record comes first: a kill during `git worktree add` leaves a run that resume can repair.
            runlog.start_run(run_id, workflow=spec.name, workflow_path=str(path.resolve()), task=options.task,
                             repo=str(repo), branch=workspace.branch, base_commit=workspace.base_commit,
                             options=stored)
            _add_worktree(workspace, runlog, run_id)
            _announce(runlog, run_id, warnings, notify)
            ctx = _context(run_id, options.task, spec, path, workspace, registry, runlog, complete, options.approve,
                           ask, options.budget, elapsed_before=0.0, pin=options.pin, stored=stored)
            return execute(ctx, {"task": options.task, "status": "running"}, warnings)
    finally:
        runlog.close()


def _add_worktree(workspace: Workspace, runlog: RunLog, run_id: str) -> None:
    """Create the run's worktree; a failure ends the run record as failed instead of leaving it 'running'."""
    try:
        workspace.add()
    except WorkspaceError as exc:
        runlog.finish_run(run_id, "failed", exc.exit_code, str(exc)[:500])
        raise


def sandbox_warnings(unsafe_no_sandbox: bool) -> list[str]:
    """Refuse a run when no sandbox works, unless the user opted out; the opt-out becomes a warning."""
    problem = sandbox_problem()
    if problem is None:
        return []
    if not unsafe_no_sandbox:
        raise SandboxUnavailable(f"cannot sandbox the commands this run executes: {problem}. Install bubblewrap, "
                                 "or pass --unsafe-no-sandbox to run tests and gate commands unconfined, as you.")
    return [f"UNSAFE: no sandbox ({problem}); --unsafe-no-sandbox: tests and gate commands ran unconfined, as you"]


def run_notices(spec: Any, path: Path, repo: Path, allow_commands: list[str]) -> list[str]:
    """What the repo itself decided for this run (shadowed shipped names, untrusted commands), to announce."""
    notices = shadow_notices(repo, path)
    refused = refused_commands(spec, allowed_commands(spec, path, repo, allow_commands))
    if refused:
        notices.append(f"the workflow's commands {', '.join(map(repr, refused))} are not in your allowlist and "
                       "will be refused; allow them with --allow-command NAME or allow_commands in your config")
    return notices


def _announce(runlog: RunLog, run_id: str, warnings: list[str], notify: Any) -> None:
    """Log every warning of a starting session, and tell the caller before the first step runs."""
    for warning in warnings:
        runlog.event(run_id, "warning", message=warning)
        if notify is not None:
            notify(warning)


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
        with RunLock(state_dir(repo) / "locks", options.run_id):
            return _resume_locked(options, row, runlog, complete, ask, notify)
    finally:
        runlog.close()


def _resume_locked(options: ResumeOptions, row: dict[str, Any], runlog: RunLog, complete: Any,
                   ask: Any, notify: Any) -> RunOutcome:
    """The body of resume, run while this process holds the run's lock."""
    repo = options.repo.resolve()
    stored = _resumed_options(options, json.loads(row["options"] or "{}"))
    budget = BudgetSpec(**stored["budget"])
    runlog.update_options(options.run_id, stored)
    path = Path(row["workflow_path"])
    spec = load_workflow(path, repo)
    spec.settings.autonomy = stored.get("autonomy", spec.settings.autonomy)
    spec = apply_autonomy(spec)
    registry, warnings = _registry(repo, spec, stored["model_overrides"], stored.get("strict_roles", False))
    warnings += sandbox_warnings(stored["unsafe_no_sandbox"])
    warnings += run_notices(spec, path, repo, stored["allow_commands"])
    workspace = Workspace.reopen(repo, options.run_id, row["base_commit"])
    for lock in workspace.clear_stale_locks():
        warnings.append(f"removed a stale git lock left by a killed session: {lock}")
    _announce(runlog, options.run_id, warnings, notify)
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


def _registry(repo: Path, spec: Any, overrides: dict[str, str], strict: bool) -> tuple[Any, list[str]]:
    from orchestrator.models.registry import load_registry

    registry = load_registry(repo, workflow_models=spec.models, overrides=overrides)
    critics, builders, used = workflow_roles(spec)
    warnings = registry.check_roles(strict=strict or spec.settings.roles == "strict", critics=critics,
                                    builders=builders, used=used)
    return registry, warnings


def workflow_roles(spec: Any) -> tuple[list[str], list[str], list[str]]:
    """(critics and moderators of its review gates, builder personas, every persona it uses) of a workflow."""
    from orchestrator.workflow.spec import DispatchStepSpec, EscalateStepSpec

    reviews = [g for g in spec.gates.values() if g.kind == "review"]
    critics = [c for g in reviews for c in g.critics] + [g.moderator for g in reviews if g.moderator]
    agents = [s.persona for s in spec.steps if isinstance(s, AgentStepSpec | DispatchStepSpec | EscalateStepSpec)]
    builders = ["builder", *[p for p in agents if p == "builder" or p.endswith("builder")]]
    return critics or ["critic"], builders, [*agents, *critics]


def check_keys(registry: Any, personas: list[str]) -> None:
    """Fail fast, before the first phase: every remote model the run may call has its key and a known id."""
    from orchestrator.models.check import check_models

    problems = check_models(registry, personas=personas, remote_only=True)
    if problems:
        raise ConfigError("the run can't call its models:\n" + "\n".join(f"  {p}" for p in problems)
                          + "\nFix these, or bind those roles to other models with --model ROLE=MODEL, then run again.")


def _context(run_id: str, task: str, spec: Any, path: Path, workspace: Workspace, registry: Any, runlog: RunLog,
             complete: Any, approve: str, ask: Any, budget: BudgetSpec, elapsed_before: float,
             pin: str | None = None, stored: dict[str, Any] | None = None) -> RunContext:
    from orchestrator.run.routing import RunRouter

    phase_caps = {s.id: s.budget for s in spec.steps if isinstance(s, AgentStepSpec) and s.budget}
    guard = BudgetGuard(run_caps=spec.settings.budget.merged(budget), phase_caps=phase_caps, registry=registry,
                        elapsed_before=elapsed_before)
    router = RunRouter(registry=registry, spec=spec, state_dir=state_dir(workspace.repo) / "routing",
                       runlog=runlog, run_id=run_id, pin=pin)
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
    with sandbox_policy(allow_unsafe=ctx.unsafe_no_sandbox, deadline=_deadline(ctx)):
        return _execute(ctx, initial, warnings, decision)


def _execute(ctx: RunContext, initial: dict[str, Any] | None, warnings: list[str],
             decision: dict[str, Any] | None) -> RunOutcome:
    """The graph under the SQLite checkpointer; a run killed before its first checkpoint starts over."""
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.types import Command

    from orchestrator.models.resilience import add_failover_listener, remove_failover_listener
    from orchestrator.steps import make_node
    from orchestrator.workflow.compile import compile_workflow

    conn = sqlite3.connect(str(state_dir(ctx.workspace.repo) / "checkpoints.sqlite"), check_same_thread=False)
    started = time.monotonic()

    def log_failover(model: str, kind: str, next_model: str | None) -> None:
        ctx.runlog.event(ctx.run_id, "failover", model=model, error=kind, next_model=next_model)

    add_failover_listener(log_failover)
    try:
        saver = SqliteSaver(conn)
        graph = compile_workflow(ctx.spec, make_node(ctx), checkpointer=saver)
        config = {"configurable": {"thread_id": ctx.run_id}, "recursion_limit": 1000}
        payload: Any = initial
        if initial is None and saver.get_tuple(config) is None:
            payload = {"task": ctx.task, "status": "running"}  # killed before the first checkpoint: start over
        elif initial is None and decision is not None and _pending(graph, config):
            payload = Command(resume=decision)
        try:
            while True:
                graph.invoke(payload, config, durability="sync")
                pending = _pending(graph, config)
                if pending is None or ctx.approve != "ask" or ctx.ask is None:
                    break
                answer = ctx.ask(pending)
                if answer.get("models"):
                    rebind(ctx, answer["models"])
                payload = Command(resume=answer)
        except RunStopped as exc:
            return _stopped(ctx, graph, config, warnings, str(exc))
        except BaseException as exc:
            ctx.runlog.finish_run(ctx.run_id, "failed", getattr(exc, "exit_code", 1), str(exc)[:500])
            raise
        finally:
            ctx.runlog.event(ctx.run_id, "session", seconds=round(time.monotonic() - started, 3))
        if pending is not None:
            return _paused(ctx, graph, config, warnings, pending)
        return _finish(ctx, graph.get_state(config).values, warnings)
    finally:
        remove_failover_listener(log_failover)
        conn.close()


def _deadline(ctx: RunContext) -> float | None:
    """When the run's wall-clock budget ends (time.monotonic()), so a stuck tool or command is cut off then."""
    seconds = ctx.guard.run_caps.seconds
    return None if seconds is None else time.monotonic() + max(0.0, seconds - ctx.guard.elapsed())


def rebind(ctx: RunContext, models: dict[str, str]) -> None:
    """Switch roles to other models mid-run (at the approval prompt); stored so a resume keeps them."""
    row = ctx.runlog.run(ctx.run_id) or {}
    stored = json.loads(row.get("options") or "{}")
    stored["model_overrides"] = {**stored.get("model_overrides", {}), **models}
    ctx.runlog.update_options(ctx.run_id, stored)
    ctx.registry, _ = _registry(ctx.workspace.repo, ctx.spec, stored["model_overrides"],
                                stored.get("strict_roles", False))
    ctx.runlog.event(ctx.run_id, "rebind", models=models)


def _pending(graph: Any, config: dict[str, Any]) -> dict[str, Any] | None:
    """The payload of a pending interrupt (a human decision the run waits for), if any."""
    snapshot = graph.get_state(config)
    for interrupt in getattr(snapshot, "interrupts", ()) or ():
        return interrupt.value
    return None


def _outcome(ctx: RunContext, state: dict[str, Any], status: str, code: int, message: str,
             warnings: list[str], pending: dict[str, Any] | None = None) -> RunOutcome:
    ctx.runlog.finish_run(ctx.run_id, status, code, message)
    flags = list(dict.fromkeys(e["data"]["flag"] for e in ctx.runlog.events(ctx.run_id, "flag")))
    return RunOutcome(run_id=ctx.run_id, status=status, exit_code=code, message=message,
                      branch=ctx.workspace.branch, worktree=ctx.workspace.path, phases=state.get("phases", []),
                      diff_stat=ctx.workspace.diff_stat(), warnings=warnings, pending=pending, flags=flags,
                      gates=gate_rows(state))


def gate_rows(state: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per gate that ran: latest verdict, kind and main reason."""
    results = state.get("gate_results", {})
    return [{"gate": gate, "kind": results.get(gate, {}).get("kind", ""), "verdict": verdict,
             "reason": results.get(gate, {}).get("reason", "")} for gate, verdict in state.get("verdicts", {}).items()]


def _stopped(ctx: RunContext, graph: Any, config: dict, warnings: list[str], message: str) -> RunOutcome:
    state = graph.get_state(config).values
    return _outcome(ctx, state, "stopped", RunStopped.exit_code, message, warnings)


def _paused(ctx: RunContext, graph: Any, config: dict, warnings: list[str], pending: dict) -> RunOutcome:
    state = graph.get_state(config).values
    message = (f"waiting for approval at {pending.get('step', '?')}; continue with "
               f"`orchestrator resume {ctx.run_id} --decision approve|reject [--comment ...]`")
    return _outcome(ctx, state, "paused", 4, message, warnings, pending)


def _finish(ctx: RunContext, state: dict[str, Any], warnings: list[str]) -> RunOutcome:
    verdicts = state.get("verdicts", {})
    reasons = {g: r.get("reason", "") for g, r in state.get("gate_results", {}).items()}
    # "done" only when every gate on the run's path passed in this run; unknown is not a pass.
    failing = [gate for gate, verdict in verdicts.items() if verdict != "pass"]
    stopped = state.get("status") == "stopped" or bool(failing)
    status, code = ("stopped", RunStopped.exit_code) if stopped else ("done", 0)
    if stopped:
        message = state.get("stop_reason") or "gates not passed: " + "; ".join(
            f"{g} {verdicts[g]} ({reasons.get(g) or 'no reason recorded'})" for g in failing)
    else:
        message = f"all {len(verdicts)} gates on the run's path passed" if verdicts else "done; no gate ran"
    if not ctx.workspace.has_trailer("Orchestrator-Phase", "final"):
        ctx.workspace.commit(f"orchestrator: run {status}", {
            "Orchestrator-Run": ctx.run_id, "Orchestrator-Phase": "final",
            "Gate-Verdicts": format_verdicts(verdicts) or "none",
            "Run-Status": status}, allow_empty=True)
    return _outcome(ctx, state, status, code, message, warnings)
