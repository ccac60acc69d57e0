"""How a run ended: the outcome, its gate rows and the final commit; done only when every gate passed."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import RunStopped
from orchestrator.run.context import RunContext
from orchestrator.run.price import RoutingPrice, routing_price
from orchestrator.run.records import format_verdicts, rejection_trailers
from orchestrator.workflow.state import RunState


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
    price: RoutingPrice | None = None
    """The run's calls as routed beside the same calls on the top rung of the ladder."""


def resume_command(ctx: RunContext) -> str:
    """The command that continues this run, from any directory."""
    return f"orchestrator resume {ctx.run_id} --repo {shlex.quote(str(ctx.workspace.repo))}"


def outcome_of(ctx: RunContext, state: RunState, status: str, code: int, message: str,
             warnings: list[str], pending: dict[str, Any] | None = None) -> RunOutcome:
    ctx.runlog.finish_run(ctx.run_id, status, code, message)
    ctx.event("run_end", status=status, exit_code=code, message=message)
    flags = list(dict.fromkeys(e["data"]["flag"] for e in ctx.runlog.events(ctx.run_id, "flag")))
    return RunOutcome(run_id=ctx.run_id, status=status, exit_code=code, message=message,
                      branch=ctx.workspace.branch, worktree=ctx.workspace.path, phases=ctx.runlog.phases(ctx.run_id),
                      diff_stat=ctx.workspace.diff_stat(), warnings=warnings, pending=pending, flags=flags,
                      gates=gate_rows(state), price=routing_price(ctx.runlog.calls(ctx.run_id), ctx.registry))


def gate_rows(state: RunState) -> list[dict[str, Any]]:
    """One row per gate that ran: latest verdict, kind and main reason."""
    results = state.get("gate_results", {})
    return [{"gate": gate, "kind": results.get(gate, {}).get("kind", ""), "verdict": verdict,
             "reason": results.get(gate, {}).get("reason", "")} for gate, verdict in state.get("verdicts", {}).items()]


def stopped_outcome(ctx: RunContext, graph: Any, config: dict, warnings: list[str], message: str) -> RunOutcome:
    state = graph.get_state(config).values
    # A cap or budget stopped the run mid-way: say exactly how to continue it (with a raised cap).
    command = resume_command(ctx)
    message = message.replace("orchestrator resume RUN_ID", command)
    if command not in message:
        message += f"; continue with `{command}`"
    return outcome_of(ctx, state, "stopped", RunStopped.exit_code, message, warnings)


def paused_outcome(ctx: RunContext, graph: Any, config: dict, warnings: list[str], pending: dict) -> RunOutcome:
    state = graph.get_state(config).values
    message = (f"waiting for approval at {pending.get('step', '?')}; continue with "
               f"`{resume_command(ctx)} --decision approve|reject [--comment ...]`")
    return outcome_of(ctx, state, "paused", 4, message, warnings, pending)


def finished_outcome(ctx: RunContext, state: RunState, warnings: list[str]) -> RunOutcome:
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
            **rejection_trailers(ctx.runlog.events(ctx.run_id, "acceptance")),
            "Run-Status": status}, allow_empty=True, authored_only=True)
    return outcome_of(ctx, state, status, code, message, warnings)
