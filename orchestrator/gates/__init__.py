"""Context gates between phases: each gate step runs its gate's registered kind (spec, red tests, quality, review,
acceptance, or a plugin's) and returns one GateResult.

Every gate fails closed: `unknown` (the gate could not judge) routes like `fail`, with its reason.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from orchestrator.gates.result import GateResult
from orchestrator.workflow.spec import STOP, AgentStepSpec, GateStepSpec
from orchestrator.workflow.state import RunState

if TYPE_CHECKING:  # the package loads with every gate kind module (`validate` too): the run layer loads on use
    from orchestrator.run.context import RunContext


def run_gate_step(ctx: RunContext, step: GateStepSpec, state: RunState) -> dict[str, Any]:
    """Run the step's gate; a failure counts a round, and past `max_rounds` names the cap in stop_reason."""
    from orchestrator.run.monitors import monitor_breach
    from orchestrator.run.records import PhaseRecord

    started = time.monotonic()
    ctx.announce("gate_start", step.id, gate=step.gate, gate_kind=ctx.spec.gates[step.gate].kind)
    result, update, persona, phases = _judge(ctx, step, state)
    record = PhaseRecord(step=step.id, persona=persona, verdict=result.verdict, reason=result.main_reason,
                         seconds=round(time.monotonic() - started, 2))
    update = {**update, **result.state_update(), "verdicts": {step.id: result.verdict},
              "phases": [*phases, record.row()]}
    if not result.passed:
        failures = state.get("rounds", {}).get(step.id, 0) + 1
        update["rounds"] = {step.id: failures}
        if step.max_rounds is not None and failures > step.max_rounds and step.on_exhausted == STOP:
            update["stop_reason"] = (f"gate {step.id!r} failed {failures} times, past its cap "
                                     f"max_rounds={step.max_rounds}: {result.main_reason}")
        elif step.on_fail == "stop":
            update["stop_reason"] = f"gate {step.id!r} failed: {result.main_reason}"
    ctx.event("gate", step.id, persona, gate=step.gate, gate_kind=result.kind, verdict=result.verdict,
              reason=result.main_reason, round=update.get("rounds", {}).get(step.id, 0),
              result=result.model_dump(exclude={"report"}))
    judged = ctx.router.settle(step.id, result.verdict) if ctx.router is not None else []
    if not result.passed:
        update["rungs"], update["climbs"], update["misses"] = cascade_climbs(ctx, step, state, judged, result.verdict)
    halt = monitor_breach(ctx)
    if halt:
        ctx.event("monitor_halt", step.id, "", reason=halt)
        update.update(status="stopped", stop_reason=halt)
    return update


def judge_gate(ctx: RunContext, step: GateStepSpec, state: RunState) -> GateResult:
    """The gate's verdict on the worktree as it is now, with no effect on the run's gate state (rounds,
    verdicts, settled decisions): how best-of-n steps judge each candidate."""
    return _judge(ctx, step, state)[0]


def _judge(ctx: RunContext, step: GateStepSpec, state: RunState
           ) -> tuple[GateResult, dict[str, Any], str, list[dict[str, Any]]]:
    """(result, state to keep, who judged, extra phase rows) of the step's gate, judged by its registered kind."""
    from orchestrator.gates.kind import gate_kind

    gate = ctx.spec.gates[step.gate]
    judgement = gate_kind(gate.kind).judge(ctx, step, gate, state)
    return judgement.result, judgement.keep, judgement.by, judgement.phases


def cascade_climbs(ctx: RunContext, step: GateStepSpec, state: RunState, judged: list[dict[str, Any]],
                   verdict: str = "fail") -> tuple[dict[str, int], dict[str, str], dict[str, int]]:
    """({persona: rung}, {persona: why}, {persona: failures on its rung}): a failed gate climbs every cascading
    (or predictive) persona whose work it judged, once it has failed `cascade.after_failures` times on its rung.

    The judged work is the agent phases decided since the previous gate, so the climb happens whichever
    path follows the gate (a direct edge, a dispatcher, an escalate step).
    """
    from orchestrator.run.routing import CLIMBING

    agents = {s.id: s for s in ctx.spec.steps if isinstance(s, AgentStepSpec)}
    personas = {r["persona"]: agents[r["step"]] for r in judged if r["step"] in agents and r["strategy"] in CLIMBING}
    rungs: dict[str, int] = {}
    climbs: dict[str, str] = {}
    misses: dict[str, int] = {}
    for persona, agent in personas.items():
        rung = state.get("rungs", {}).get(persona, 0)
        own = [r for r in judged if r["persona"] == persona and r["step"] in agents]
        if ctx.router is None or rung + 1 >= len(ctx.registry.ladder):
            continue
        misses[persona] = state.get("misses", {}).get(persona, 0) + 1
        if misses[persona] < ctx.router.routing_for(agent, persona).cascade.after_failures:
            continue  # another round on this rung first
        why = f"gate {step.id} {'failed' if verdict == 'fail' else 'could not judge (unknown)'}"
        if misses[persona] > 1:
            why += f" {misses[persona]} times on this rung"
        ctx.event("cascade_escalation", step.id, persona, rung=rung + 1, reason=why)
        rungs[persona], climbs[persona], misses[persona] = rung + 1, why, 0
        if any(agents[r["step"]].deliverable == "tests" and _moves_up(ctx, r) for r in own):
            from orchestrator.gates.red import set_aside_run_tests

            ctx.event("tests_set_aside", step.id, persona, files=set_aside_run_tests(ctx.workspace))
    return rungs, climbs, misses


def _moves_up(ctx: RunContext, decision: dict[str, Any]) -> bool:
    """The decision's model sits on a ladder rung with one above it (a persona bound off the ladder never moves)."""
    rung = json.loads(decision.get("features") or "{}").get("rung")
    return rung in ctx.registry.ladder and ctx.registry.next_rung(rung) is not None
