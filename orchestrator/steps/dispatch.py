"""Dispatcher steps: the next step chosen by one schema-validated tool call among the allowed transitions."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.agents.packets import Section, build_packet
from orchestrator.errors import ToolError
from orchestrator.models.schema import tool_spec, validate_with
from orchestrator.models.types import ToolSpec
from orchestrator.run.context import RunContext
from orchestrator.run.records import PhaseRecord, format_verdicts
from orchestrator.workflow.spec import DispatchStepSpec
from orchestrator.workflow.state import RunState


class Choice(BaseModel):
    """The arguments of a dispatcher's choice: why this step comes next."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str = Field(description="Why this step comes next, in one sentence.")


def live_choices(ctx: RunContext, step: DispatchStepSpec) -> tuple[list[str], dict[str, str]]:
    """(the choices offered now, dead-end choices left out with why); all of them if none would be left."""
    from orchestrator.gates.changes import run_changes
    from orchestrator.steps.dead_ends import dead_choices

    dead = dead_choices(ctx.spec, step.choices, bool(run_changes(ctx.workspace).source))
    live = [c for c in step.choices if c not in dead]
    return (live, dead) if live else (list(step.choices), {})


def choice_tools(step: DispatchStepSpec, ctx: RunContext, choices: list[str] | None = None) -> list[ToolSpec]:
    """One tool per allowed transition; calling it chooses that step, with a reason."""
    tools = []
    for choice in choices if choices is not None else step.choices:
        target = ctx.spec.step(choice) if choice in {s.id for s in ctx.spec.steps} else None
        about = (getattr(target, "description", "") or getattr(target, "instructions", "")) if target else ""
        tools.append(tool_spec(choice, f"Go to step '{choice}'. {about}".strip(), Choice))
    return tools


def validate_choice(step: DispatchStepSpec, reply: Any,
                    allowed: list[str] | None = None) -> tuple[str, str, str | None]:
    """(chosen step, reason, fallback reason or None): anything but one allowed, well-formed call falls back."""
    allowed = list(step.choices) if allowed is None else allowed
    # A default that is a choice left out as a dead end gives way to the first choice still offered.
    default = step.default if step.default in allowed or step.default not in step.choices else allowed[0]
    calls = list(getattr(reply, "tool_calls", []) or [])
    if not calls:
        return default, "", f"no tool call (text: {getattr(reply, 'text', '')[:120]!r})"
    call = calls[0]
    if call.name not in allowed:
        return default, "", f"disallowed choice {call.name!r}; allowed: {', '.join(allowed)}"
    try:
        choice = validate_with(Choice, call.name, call.arguments)
    except ToolError as exc:
        return default, "", f"arguments {call.arguments!r} do not match {{'reason': string}}: {exc}"
    return call.name, choice.reason, None


def run_dispatch_step(ctx: RunContext, step: DispatchStepSpec, state: RunState) -> dict[str, Any]:
    """Ask the dispatcher persona to pick the next step; invalid output takes the declared default edge.

    A step with a `rule` decides by it instead, with no model call."""
    if step.rule:
        return run_rule(ctx, step, state)
    persona = ctx.persona(step.persona)
    budget = ctx.packet_tokens(step.persona)
    sections: list[Section] = [("Task", ctx.task, budget // 3), ("Decide", step.description or "Choose the next step."),
                ("Gate verdicts", format_verdicts(state.get("verdicts", {}))),
                ("Last gate report", state.get("gate_report", ""))]
    live, dead = live_choices(ctx, step)
    if dead:
        sections.append(("Not offered", "\n".join(f"{c}: {why}" for c, why in dead.items())))
    packet = build_packet(sections, budget)
    messages = [{"role": "system", "content": persona.system_prompt()}, {"role": "user", "content": packet.text}]
    models, decision, features = ctx.route(step, step.persona, state, packet.text,
                                           tools=choice_tools(step, ctx, live))
    started = time.monotonic()
    reply, replies = ask_dispatcher(ctx.caller(step.id, decision, models[1:]), step, ctx, messages, persona.name,
                                    models[0], features, decision, live)
    chosen, reason, fallback = validate_choice(step, reply, live)
    # The record names the model whose answer won and counts every candidate's tokens and cost.
    ctx.event("dispatch", step.id, persona.name, model=reply.model, chosen=chosen, reason=reason, fallback=fallback,
              choices=live, **({"not_offered": dead} if dead else {}))
    visits = state.get("visits", {}).get(step.id, 0) + 1
    record = PhaseRecord(step=step.id, persona=persona.name, model=reply.model,
                         tokens=sum(r.total_tokens for r in replies),
                         cost_usd=round(sum(r.cost_usd for r in replies), 6),
                         seconds=round(time.monotonic() - started, 2),
                         verdict=f"-> {chosen}" + (" (fallback)" if fallback else ""), reason=fallback or reason)
    return {"next_step": chosen, "visits": {step.id: visits}, "phases": [record.row()]}


def ask_dispatcher(call: Any, step: DispatchStepSpec, ctx: RunContext, messages: list[dict[str, Any]],
                   persona: str, model: str, features: dict[str, Any], decision: int | None = None,
                   choices: list[str] | None = None) -> tuple[Any, list[Any]]:
    """(winning reply, every reply): one call; under parallel best-of-n, under speculative a checked draft.

    Either way the gate is the same: a well-formed call of an allowed transition.
    """
    from orchestrator.routing.ensemble import best_of_n, speculate

    tools = choice_tools(step, ctx, choices)

    def ask(m: str, msgs: list[dict[str, Any]]) -> Any:
        return call(m, msgs, tools=tools, require_tool=True, persona=persona)

    def allowed(reply: Any) -> tuple[bool, str]:
        fallback = validate_choice(step, reply, choices)[2]
        return fallback is None, fallback or ""

    if features.get("ensemble"):
        result = best_of_n(ask, list(features["ensemble"]), messages, gate=allowed)
    elif features.get("drafter") and features.get("verifier"):
        result = speculate(ask, features["drafter"], features["verifier"], messages, allowed)
    else:
        reply = ask(model, messages)
        return reply, [reply]
    ctx.event("ensemble", step.id, persona, reason=result.reason, models=[r.model for r in result.replies],
              winner=result.reply.model)
    if decision is not None:
        ctx.runlog.decision_winner(decision, result.reply.model, result.reason)
    return result.reply, list(result.replies)


def run_rule(ctx: RunContext, step: DispatchStepSpec, state: RunState) -> dict[str, Any]:
    """The rule's choice: the first choice when it holds, else the default; logged like a dispatcher's."""
    from orchestrator.agents.tools import Toolbox
    from orchestrator.steps.task_size import small_task

    started = time.monotonic()
    holds, why = small_task(ctx.task, ctx.workspace.path, Toolbox(ctx.workspace.path).all_files())
    chosen = step.choices[0] if holds else step.default
    reason = f"{step.rule}: {'yes' if holds else 'no'}, {why}"
    ctx.event("dispatch", step.id, "rule", model=None, chosen=chosen, reason=reason, fallback=None,
              choices=list(step.choices))
    visits = state.get("visits", {}).get(step.id, 0) + 1
    record = PhaseRecord(step=step.id, persona="rule", seconds=round(time.monotonic() - started, 2),
                         verdict=f"-> {chosen}", reason=reason)
    return {"next_step": chosen, "visits": {step.id: visits}, "phases": [record.row()]}
