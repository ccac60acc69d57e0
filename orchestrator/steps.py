"""Step nodes of a run: agent phases, quality gates and review gates, each returning a state update."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from orchestrator.agent import AgentLoop, AgentResult
from orchestrator.context import RunContext
from orchestrator.engine import RunState
from orchestrator.packets import Handoff, build_packet
from orchestrator.review import VERDICT_TOOL, ReviewVerdict, merge_verdicts, parse_verdict
from orchestrator.workflow_spec import AgentStepSpec, GateStepSpec

Node = Callable[[RunState], dict[str, Any]]


def make_node(ctx: RunContext) -> Callable[[Any], Node]:
    """Factory handed to compile_workflow: the node function for each step spec."""

    def factory(step: Any) -> Node:
        if isinstance(step, AgentStepSpec):
            return lambda state: run_agent_step(ctx, step, state)
        if isinstance(step, GateStepSpec):
            return lambda state: run_gate_step(ctx, step, state)
        from orchestrator.dispatch import run_dispatch_step

        return lambda state: run_dispatch_step(ctx, step, state)

    return factory


def run_agent_step(ctx: RunContext, step: AgentStepSpec, state: RunState) -> dict[str, Any]:
    """One agent phase: packet in, tools in the worktree, commit with trailers, typed handoff out."""
    from orchestrator.tools import Toolbox

    persona = ctx.persona(step.persona)
    model = ctx.model_for(step.persona)
    visit = state.get("visits", {}).get(step.id, 0) + 1
    packet = build_packet(agent_sections(ctx, step, state), ctx.packet_tokens)
    ctx.event("phase_start", step.id, persona.name, model=model, visit=visit, packet_tokens=packet.tokens,
              packet_kept=packet.kept, packet_trimmed=packet.trimmed, packet_dropped=packet.dropped)
    settings = ctx.spec.settings
    toolbox = Toolbox(ctx.workspace.path, test_command=settings.test_command,
                      allowlist=set(settings.allowed_commands), timeout_s=settings.command_timeout_s,
                      policy=ctx.write_policy(step) if hasattr(ctx, "write_policy") else None)
    toolbox = _restrict(toolbox, persona.tools)
    started = time.monotonic()
    result = _loop(ctx, step.id, persona.name, model, persona.system_prompt(), toolbox,
                   step.max_tool_calls or settings.max_tool_calls).run(packet.text)
    handoff = Handoff(step=step.id, persona=persona.name, summary=result.summary.strip()[:2000])
    commit = None
    if step.commit:
        commit = ctx.workspace.commit(f"orchestrator: {step.id} ({persona.name})",
                                      _trailers(ctx, step.id, persona.name, model, state, visit))
    record = _phase_record(step.id, persona.name, model, result, started, verdict="done", commit=commit)
    ctx.event("phase_end", step.id, persona.name, **record, trace=result.trace)
    return {"handoffs": {step.id: handoff.model_dump()}, "visits": {step.id: visit}, "phases": [record]}


def agent_sections(ctx: RunContext, step: AgentStepSpec, state: RunState) -> list[tuple[str, str]]:
    """Packet sections in priority order: task and instructions, AGENTS.md, survey map, spec, handoff, report."""
    worktree = ctx.workspace.path
    agents_md = worktree / "AGENTS.md"
    handoffs = state.get("handoffs", {})
    survey = "\n\n".join(Handoff(**h).render() for h in handoffs.values() if h["persona"] == "surveyor")
    previous = [Handoff(**h).render() for sid, h in handoffs.items() if h["persona"] != "surveyor"]
    return [
        ("Task", ctx.task),
        ("Your step", step.instructions.replace("{task}", ctx.task) or step.description),
        ("AGENTS.md", agents_md.read_text(errors="replace") if agents_md.is_file() else ""),
        ("Survey map", survey),
        ("Spec", spec_text(ctx)),
        ("Last gate report", state.get("gate_report", "") if state.get("last_verdict") == "fail" else ""),
        ("Handoffs from earlier phases", "\n\n".join(previous[-3:])),
        ("Diff so far", ctx.workspace.diff(max_chars=6000) if step.persona == "builder" else ""),
    ]


def spec_text(ctx: RunContext) -> str:
    """The spec files this run wrote or changed, else every spec in the worktree."""
    worktree = ctx.workspace.path
    changed = [p for p in ctx.workspace.changed_files() if p.startswith("specs/") and p.endswith(".md")]
    paths = [worktree / p for p in changed] or sorted((worktree / "specs").glob("**/spec.md"))
    return "\n\n".join(f"# {p.relative_to(worktree)}\n{p.read_text(errors='replace')}" for p in paths if p.is_file())


def run_gate_step(ctx: RunContext, step: GateStepSpec, state: RunState) -> dict[str, Any]:
    """Run the step's gate; a failure counts a round, and past `max_rounds` names the cap in stop_reason."""
    gate = ctx.spec.gates[step.gate]
    if gate.kind == "quality":
        update = run_quality_gate(ctx, step, state)
    elif gate.kind == "review":
        update = run_review_gate(ctx, step, state)
    else:
        from orchestrator.gates_extra import run_extra_gate

        update = run_extra_gate(ctx, step, gate, state)
    verdict = update["last_verdict"]
    update["verdicts"] = {step.id: verdict}
    if verdict == "fail":
        failures = state.get("rounds", {}).get(step.id, 0) + 1
        update["rounds"] = {step.id: failures}
        if step.max_rounds is not None and failures > step.max_rounds:
            update["stop_reason"] = (f"gate {step.id!r} failed {failures} times, past its cap "
                                     f"max_rounds={step.max_rounds}")
        elif step.on_fail == "stop":
            update["stop_reason"] = f"gate {step.id!r} failed"
    ctx.event("gate", step.id, "", gate=step.gate, kind=gate.kind, verdict=verdict,
              round=update.get("rounds", {}).get(step.id, 0))
    return update


def run_quality_gate(ctx: RunContext, step: GateStepSpec, state: RunState) -> dict[str, Any]:
    """Deterministic commands in the worktree; output parsed and compressed before any model sees it."""
    from orchestrator.gate_report import compress_findings, parse_output
    from orchestrator.sandbox import run_command

    gate, settings = ctx.spec.gates[step.gate], ctx.spec.settings
    started, reports, passed = time.monotonic(), [], True
    allow = {c.run[0].rsplit("/", 1)[-1] for c in gate.commands} | set(settings.allowed_commands)
    for command in gate.commands:
        result = run_command(command.run, ctx.workspace.path, allowlist=allow,
                             timeout_s=settings.command_timeout_s, max_output_chars=20000)
        ok = result.exit_code == 0 and not result.timed_out
        passed &= ok
        parser = command.run if command.parser == "auto" else command.parser
        findings = [] if ok else parse_output(parser, result.output)
        status = "passed" if ok else ("timed out" if result.timed_out else f"failed (exit {result.exit_code})")
        reports.append(f"{command.name}: {status}" + (f"\n{compress_findings(findings)}" if findings else ""))
    verdict = "pass" if passed else "fail"
    record = {"step": step.id, "persona": "-", "model": "-", "tokens": 0, "cost_usd": 0.0,
              "seconds": round(time.monotonic() - started, 2), "verdict": verdict, "commit": None}
    return {"last_verdict": verdict, "gate_report": "\n".join(reports), "phases": [record]}


def run_review_gate(ctx: RunContext, step: GateStepSpec, state: RunState) -> dict[str, Any]:
    """Each critic reviews on fresh context (spec, diff, gate results) with read-only tools."""
    from orchestrator.tools import Toolbox

    gate = ctx.spec.gates[step.gate]
    sections = [("Spec", spec_text(ctx)), ("Diff under review", ctx.workspace.diff()),
                ("Quality gate results", state.get("gate_report", ""))]
    packet = build_packet(sections, ctx.packet_tokens)
    verdicts, records = [], []
    for critic in gate.critics:
        persona, model = ctx.persona(critic), ctx.model_for(critic)
        toolbox = _restrict(Toolbox(ctx.workspace.path, read_only=True), persona.tools)
        ctx.event("phase_start", step.id, critic, model=model, packet_tokens=packet.tokens, packet_kept=packet.kept)
        started = time.monotonic()
        result = _loop(ctx, step.id, critic, model, persona.system_prompt(), toolbox,
                       ctx.spec.settings.max_tool_calls, finish_tool=VERDICT_TOOL).run(packet.text)
        verdict, problem = parse_verdict(result.final.arguments if result.final else None, result.text)
        if problem:
            ctx.event("verdict_invalid", step.id, critic, reason=problem)
        verdicts.append(verdict)
        records.append(_phase_record(step.id, critic, model, result, started, verdict=verdict.verdict, commit=None))
        ctx.event("phase_end", step.id, critic, **records[-1], violations=len(verdict.violations))
    merged = _merge(ctx, step, gate, verdicts)
    return {"last_verdict": merged.verdict, "gate_report": merged.render(), "review_report": merged.render(),
            "phases": records}


def _merge(ctx: RunContext, step: GateStepSpec, gate: Any, verdicts: list[ReviewVerdict]) -> ReviewVerdict:
    if len(verdicts) > 1 and gate.moderator:
        from orchestrator.moderator import moderate

        return moderate(ctx, step, gate.moderator, verdicts)
    return merge_verdicts(verdicts)


def _loop(ctx: RunContext, step_id: str, persona: str, model: str, system: str, toolbox: Any,
          max_calls: int, **kwargs: Any) -> AgentLoop:
    return AgentLoop(complete=ctx.complete, model=model, persona=persona, system_prompt=system, toolbox=toolbox,
                     max_tool_calls=max_calls, on_reply=lambda reply: ctx.runlog.call(ctx.run_id, step_id,
                                                                                      persona, reply), **kwargs)


class _Restricted:
    """A toolbox view exposing only the tools a persona declares."""

    def __init__(self, toolbox: Any, allowed: list[str]):
        self.toolbox, self.allowed = toolbox, set(allowed)

    def specs(self) -> list[Any]:
        return [s for s in self.toolbox.specs() if s.name in self.allowed]

    def call(self, name: str, arguments: dict[str, Any]) -> str:
        from orchestrator.errors import ToolError

        if name not in self.allowed:
            raise ToolError(f"tool {name!r} is not available to this persona; use one of {sorted(self.allowed)}")
        return self.toolbox.call(name, arguments)


def _restrict(toolbox: Any, allowed: list[str]) -> _Restricted:
    return _Restricted(toolbox, allowed)


def _trailers(ctx: RunContext, step_id: str, persona: str, model: str, state: RunState, visit: int) -> dict:
    verdicts = state.get("verdicts", {})
    return {
        "Orchestrator-Run": ctx.run_id,
        "Orchestrator-Phase": f"{step_id}#{visit}",
        "Persona": persona,
        "Model": model,
        "Gate-Verdicts": ", ".join(f"{k}={v}" for k, v in verdicts.items()) or "none yet",
    }


def _phase_record(step: str, persona: str, model: str, result: AgentResult, started: float, *,
                  verdict: str, commit: str | None) -> dict[str, Any]:
    return {
        "step": step, "persona": persona, "model": model,
        "tokens": sum(r.total_tokens for r in result.replies),
        "cost_usd": round(sum(r.cost_usd for r in result.replies), 6),
        "seconds": round(time.monotonic() - started, 2), "verdict": verdict, "commit": commit,
        "tool_calls": result.tool_calls, "model_calls": len(result.replies),
    }
