"""Step nodes of a run: agent phases, quality gates and review gates, each returning a state update."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from orchestrator.agent import AgentLoop, AgentResult
from orchestrator.context import RunContext
from orchestrator.engine import RunState
from orchestrator.monitors import monitor_breach
from orchestrator.packets import Handoff, build_packet
from orchestrator.pbis import PbiSpec, check_pbis, next_wave
from orchestrator.personas import READ_TOOLS
from orchestrator.review import (
    VERDICT_TOOL,
    ReviewVerdict,
    Violation,
    format_verdicts,
    merge_verdicts,
    parse_verdict,
)
from orchestrator.spec_tool import SPEC_TOOL, SpecDraft
from orchestrator.workflow_spec import STOP, AgentStepSpec, EscalateStepSpec, GateStepSpec

Node = Callable[[RunState], dict[str, Any]]


def make_node(ctx: RunContext) -> Callable[[Any], Node]:
    """Factory handed to compile_workflow: the node function for each step spec."""

    def factory(step: Any, role: str = "main") -> Node:
        if isinstance(step, AgentStepSpec) and step.for_each == "pbi" and role == "main":
            return lambda state: plan_pbis(state)
        if role == "pbi":
            return lambda payload: run_agent_step(ctx, step, payload, PbiSpec(**payload["pbi"]))
        if isinstance(step, AgentStepSpec):
            return lambda state: run_agent_step(ctx, step, state)
        if isinstance(step, GateStepSpec):
            return lambda state: run_gate_step(ctx, step, state)
        from orchestrator.dispatch import run_dispatch_step, run_escalate_step

        if isinstance(step, EscalateStepSpec):
            return lambda state: run_escalate_step(ctx, step, state)
        return lambda state: run_dispatch_step(ctx, step, state)

    return factory


def plan_pbis(state: RunState) -> dict[str, Any]:
    """Planner of a for_each step: the next wave of PBIs, a single pass (no PBIs left, e.g. a fix round), or on."""
    pbis = [PbiSpec(**p) for p in state.get("pbis", [])]
    done, last = set(state.get("pbis_done", [])), state.get("pbi_wave") or []
    wave = next_wave(pbis, done)
    if wave:
        return {"pbi_wave": [p.id for p in wave], "pbi_next": "wave"}
    # Back from the last wave: move on. Arriving with nothing planned (no PBIs, or a fix round): one pass.
    return {"pbi_wave": [], "pbi_next": "next" if last else "single"}


def run_agent_step(ctx: RunContext, step: AgentStepSpec, state: RunState, pbi: PbiSpec | None = None
                   ) -> dict[str, Any]:
    """One agent phase: packet in, tools in the worktree, commit with trailers, typed handoff out.

    With a PBI, the phase works in the PBI's file scope and commits only files in it.
    """
    persona = ctx.persona(step.persona)
    key = f"{step.id}.{pbi.id}" if pbi else step.id
    visit = state.get("visits", {}).get(key, 0) + 1
    phase_key = f"{key}#{visit}"
    scope = pbi.scope if pbi else step.scope
    done = ctx.workspace.phase_commit(phase_key)
    if done is not None:
        # A resumed run whose crash came after this phase's commit: reuse it, never commit twice.
        sha, body = done
        ctx.event("phase_reused", key, persona.name, commit=sha)
        handoff = Handoff(step=key, persona=persona.name, summary=body)
        record = {"step": key, "persona": persona.name, "model": ctx.model_for(step.persona, state), "tokens": 0,
                  "cost_usd": 0.0, "seconds": 0.0, "verdict": "done", "commit": sha}
        return {"handoffs": {key: handoff.model_dump()}, "visits": {key: visit}, "phases": [record],
                **({"pbis_done": [pbi.id]} if pbi else {})}
    sections = agent_sections(ctx, step, state)
    if pbi:
        sections.insert(2, ("PBI", pbi.render()))
    packet = build_packet(sections, ctx.packet_tokens(step.persona))
    models, decision, _ = ctx.route(step, step.persona, state, packet.text)
    model = models[0]
    ctx.event("phase_start", key, persona.name, model=model, visit=visit, packet_tokens=packet.tokens,
              packet_kept=packet.kept, packet_trimmed=packet.trimmed, packet_dropped=packet.dropped)
    started = time.monotonic()
    finish = {"finish_tool": SPEC_TOOL} if step.deliverable == "spec" else {}
    # The spec writer may rework the spec it wrote in this run (after a failed spec gate); nobody else may.
    baseline = ctx.workspace.base_commit if step.deliverable == "spec" else "HEAD"
    toolbox = agent_toolbox(ctx, persona.tools, scope=scope, baseline=baseline)
    result = _loop(ctx, step.id, persona.name, model, persona.system_prompt(), toolbox,
                   step.max_tool_calls or ctx.spec.settings.max_tool_calls, decision, models[1:],
                   **finish).run(packet.text)
    update: dict[str, Any] = {}
    if step.deliverable == "spec":
        summary, pbis = write_spec(ctx, result)
        update["pbis"], update["pbi_wave"] = pbis, []
    else:
        summary = result.summary
    summary = summary.strip()[:2000]
    handoff = Handoff(step=key, persona=persona.name, summary=summary, **result.handoff_lists())
    commit = None
    if step.commit:
        commit = ctx.workspace.commit(f"orchestrator: {key} ({persona.name})",
                                      _trailers(ctx, phase_key, persona.name, model, state), body=summary, scope=scope)
    record = _phase_record(key, persona.name, model, result, started, verdict="done", commit=commit)
    _log_phase_end(ctx, record, trace=result.trace)
    return {**update, "handoffs": {key: handoff.model_dump()}, "visits": {key: visit}, "phases": [record],
            **({"pbis_done": [pbi.id]} if pbi else {})}


def write_spec(ctx: RunContext, result: AgentResult) -> tuple[str, list[dict[str, Any]]]:
    """Render a submitted spec (and its PBIs) under specs/<domain>/ through the policed write tool.

    Returns what happened, for the handoff, and the PBIs for the builder.
    """
    import yaml
    from pydantic import ValidationError

    from orchestrator.errors import ToolError

    if result.final is None:
        return f"no spec submitted (the spec writer answered: {result.text[:300]!r})", []
    try:
        draft = SpecDraft.model_validate(result.final.arguments)
        tools = agent_toolbox(ctx, ["write_file"], baseline=ctx.workspace.base_commit)
        tools.call("write_file", {"path": draft.path, "content": draft.render()})
        problems = check_pbis(draft.pbis)
        if draft.pbis and not problems:
            pbis = [p.model_dump() for p in draft.pbis]
            tools.call("write_file", {"path": draft.path.replace("spec.md", "pbis.yaml"),
                                      "content": yaml.safe_dump({"pbis": pbis}, sort_keys=False)})
    except ValidationError as exc:
        return f"submitted spec is invalid: {str(exc).splitlines()[0]}", []
    except ToolError as exc:
        return f"spec not written: {exc}", []
    summary = f"spec written to {draft.path} with {len(draft.scenarios)} scenario(s)"
    if problems:
        return f"{summary}; PBIs ignored: {'; '.join(problems)}", []
    return summary + (f" and {len(draft.pbis)} PBI(s)" if draft.pbis else ""), [p.model_dump() for p in draft.pbis]


def agent_toolbox(ctx: RunContext, tools: list[str], scope: list[str] | None = None,
                  baseline: str = "HEAD") -> Any:
    """The persona's tools in the worktree, with the denial rules enforced in the tool layer.

    The baseline is the phase's starting commit, so tests and Contracts written earlier in the run
    (by the tester, by the spec writer) are protected from later phases too.
    """
    from orchestrator.tools import Toolbox
    from orchestrator.write_policy import WritePolicy

    settings = ctx.spec.settings
    policy = WritePolicy(ctx.workspace.path, scope=scope, protected_paths=protected_paths(ctx),
                         allow_refinement=settings.refinement, start_commit=baseline)
    return Toolbox(ctx.workspace.path, test_command=settings.test_command, allowlist=set(settings.allowed_commands),
                   timeout_s=settings.command_timeout_s, policy=policy, tools=tools)


GATE_CONFIG_FILES = [".orchestrator/**", "pytest.ini", "tox.ini", "setup.cfg", "ruff.toml", ".ruff.toml",
                     "mypy.ini", "**/conftest.py", ".pre-commit-config.yaml"]
"""Files that define what success means for the gates; agents may not edit them."""


def protected_paths(ctx: RunContext) -> list[str]:
    """Gate configuration: shared config files plus the workflow file when it lives in the repo."""
    paths = list(GATE_CONFIG_FILES)
    try:
        paths.append(ctx.workflow_path.resolve().relative_to(ctx.workspace.repo).as_posix())
    except ValueError:
        pass
    return paths


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
        if step.max_rounds is not None and failures > step.max_rounds and step.on_exhausted == STOP:
            update["stop_reason"] = (f"gate {step.id!r} failed {failures} times, past its cap "
                                     f"max_rounds={step.max_rounds}")
        elif step.on_fail == "stop":
            update["stop_reason"] = f"gate {step.id!r} failed"
    ctx.event("gate", step.id, "", gate=step.gate, gate_kind=gate.kind, verdict=verdict,
              round=update.get("rounds", {}).get(step.id, 0))
    if ctx.router is not None:
        ctx.router.settle(step.id, verdict)
    if verdict == "fail":
        update["rungs"] = cascade_climbs(ctx, step, state)
    halt = monitor_breach(ctx)
    if halt:
        ctx.event("monitor_halt", step.id, "", reason=halt)
        update.update(status="stopped", stop_reason=halt)
    return update


def cascade_climbs(ctx: RunContext, step: GateStepSpec, state: RunState) -> dict[str, int]:
    """A failed gate moves the persona it sends work back to one rung up, when that persona cascades."""
    target = next((s for s in ctx.spec.steps if s.id == step.on_fail), None)
    if ctx.router is None or not isinstance(target, AgentStepSpec) or not ctx.router.cascades(target, target.persona):
        return {}
    rung = state.get("rungs", {}).get(target.persona, 0)
    if rung + 1 >= len(ctx.registry.ladder):
        return {}
    ctx.event("cascade_escalation", step.id, target.persona, rung=rung + 1, reason=f"gate {step.id} failed")
    return {target.persona: rung + 1}


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
        findings = [] if ok else parse_output(parser, result.output, exit_code=result.exit_code)
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
    flag = behaviour_change_without_spec(ctx)
    if flag:
        ctx.event("flag", step.id, "", flag=flag)
    sections = [("Spec", spec_text(ctx)), ("Flags", flag or ""), ("Diff under review", ctx.workspace.diff()),
                ("Quality gate results", state.get("gate_report", ""))]
    packet = build_packet(sections, ctx.packet_tokens(gate.critics[0]))
    verdicts, records = [], []
    for critic in gate.critics:
        persona = ctx.persona(critic)
        models, decision, _ = ctx.route(step, critic, state, packet.text)
        model = models[0]
        toolbox = Toolbox(ctx.workspace.path, read_only=True, tools=[t for t in persona.tools if t in READ_TOOLS])
        ctx.event("phase_start", step.id, critic, model=model, packet_tokens=packet.tokens, packet_kept=packet.kept)
        started = time.monotonic()
        result = _loop(ctx, step.id, critic, model, persona.system_prompt(), toolbox,
                       ctx.spec.settings.max_tool_calls, decision, models[1:],
                       finish_tool=VERDICT_TOOL).run(packet.text)
        verdict, problem = parse_verdict(result.final.arguments if result.final else None, result.text)
        if problem:
            ctx.event("verdict_invalid", step.id, critic, reason=problem)
        verdicts.append(verdict)
        records.append(_phase_record(step.id, critic, model, result, started, verdict=verdict.verdict, commit=None))
        _log_phase_end(ctx, records[-1], violations=len(verdict.violations))
    merged = _with_failing_quality(ctx, state, _merge(ctx, step, gate, verdicts))
    return {"last_verdict": merged.verdict, "gate_report": merged.render(), "review_report": merged.render(),
            "phases": records}


def _with_failing_quality(ctx: RunContext, state: RunState, verdict: ReviewVerdict) -> ReviewVerdict:
    """A review never passes while a quality gate's latest verdict is fail."""
    kinds = {s.id: ctx.spec.gates[s.gate].kind for s in ctx.spec.steps if isinstance(s, GateStepSpec)}
    failing = [g for g, v in state.get("verdicts", {}).items() if v == "fail" and kinds.get(g) == "quality"]
    if not failing:
        return verdict
    violation = Violation(clause="Definition of done: the quality gate passes", severity="blocker",
                          description=f"quality gate {', '.join(failing)} is failing",
                          remediation=["make the failing checks in the last gate report pass"])
    return ReviewVerdict(verdict="fail", violations=[*verdict.violations, violation])


def _merge(ctx: RunContext, step: GateStepSpec, gate: Any, verdicts: list[ReviewVerdict]) -> ReviewVerdict:
    if len(verdicts) > 1 and gate.moderator:
        from orchestrator.moderator import moderate

        return moderate(ctx, step, gate.moderator, verdicts)
    return merge_verdicts(verdicts)


def _loop(ctx: RunContext, step_id: str, persona: str, model: str, system: str, toolbox: Any,
          max_calls: int, decision: int | None = None, failovers: list[str] | None = None,
          **kwargs: Any) -> AgentLoop:
    return AgentLoop(complete=ctx.caller(step_id, decision, failovers), model=model, persona=persona,
                     system_prompt=system, toolbox=toolbox, max_tool_calls=max_calls, **kwargs)


def behaviour_change_without_spec(ctx: RunContext) -> str | None:
    """Flag a diff that changes non-test source files but no spec."""
    changed = ctx.workspace.changed_files()
    specs = [p for p in changed if p.startswith("specs/")]
    source = [p for p in changed if p.endswith(".py") and not _is_test(p) and not p.startswith("specs/")]
    if source and not specs:
        return f"behaviour change without spec change: {', '.join(source[:5])} changed, no file under specs/"
    return None


def _is_test(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return path.startswith("tests/") or "/tests/" in path or name.startswith("test_") or name.endswith("_test.py")


def _trailers(ctx: RunContext, phase_key: str, persona: str, model: str, state: RunState) -> dict:
    verdicts = state.get("verdicts", {})
    return {
        "Orchestrator-Run": ctx.run_id,
        "Orchestrator-Phase": phase_key,
        "Persona": persona,
        "Model": model,
        "Gate-Verdicts": format_verdicts(verdicts) or "none yet",
    }


def _log_phase_end(ctx: RunContext, record: dict[str, Any], **extra: Any) -> None:
    data = {k: v for k, v in record.items() if k not in ("step", "persona")}
    ctx.event("phase_end", record["step"], record["persona"], **data, **extra)


def _phase_record(step: str, persona: str, model: str, result: AgentResult, started: float, *,
                  verdict: str, commit: str | None) -> dict[str, Any]:
    return {
        "step": step, "persona": persona, "model": model,
        "tokens": sum(r.total_tokens for r in result.replies),
        "cost_usd": round(sum(r.cost_usd for r in result.replies), 6),
        "seconds": round(time.monotonic() - started, 2), "verdict": verdict, "commit": commit,
        "tool_calls": result.tool_calls, "model_calls": len(result.replies),
    }
