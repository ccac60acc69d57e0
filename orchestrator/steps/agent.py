"""Agent phases: packet in, tools in the worktree, commit with trailers, typed handoff out."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

from orchestrator.agents.loop import AgentLoop, AgentResult
from orchestrator.agents.packets import Handoff, Section, build_packet
from orchestrator.agents.worktree_files import read_text
from orchestrator.gates.changes import spec_text
from orchestrator.run.context import RunContext
from orchestrator.run.records import PhaseRecord, format_verdicts, rejection_trailers
from orchestrator.steps.deliverables import deliverable_check
from orchestrator.steps.pbis import PbiSpec
from orchestrator.steps.relevant import render_base_files, render_files, working_files
from orchestrator.steps.repeats import KINDS, Retry, changed_if_repeated, fingerprint
from orchestrator.steps.spec_authoring import SPEC_TOOL, write_spec
from orchestrator.steps.toolbox import agent_toolbox
from orchestrator.workflow.spec import AgentStepSpec
from orchestrator.workflow.state import HANDOFFS_KEPT, RunState


def run_agent_step(ctx: RunContext, step: AgentStepSpec, state: RunState, pbi: PbiSpec | None = None
                   ) -> dict[str, Any]:
    """One agent phase: packet in, tools in the worktree, commit with trailers, typed handoff out.

    With a PBI, the phase works in the PBI's file scope and commits only files in it.
    """
    key = f"{step.id}.{pbi.id}" if pbi else step.id
    visit = state.get("visits", {}).get(key, 0) + 1
    done = ctx.workspace.phase_commit(f"{key}#{visit}")
    update = _reused(ctx, step, state, key, done) if done is not None else _work(ctx, step, state, pbi, key, visit)
    return {**update, "visits": {key: visit}, **({"pbis_done": [pbi.id]} if pbi else {})}


def _reused(ctx: RunContext, step: AgentStepSpec, state: RunState, key: str, done: tuple[str, str]) -> dict:
    """A resumed run whose crash came after this phase's commit: reuse it, never commit twice."""
    sha, body = done
    ctx.event("phase_reused", key, step.persona, commit=sha)
    handoff = Handoff(step=key, persona=step.persona, summary=body)
    record = PhaseRecord(step=key, persona=step.persona, model=ctx.model_for(step.persona, state),
                         verdict="done", commit=sha).row()
    return {"handoffs": {key: handoff.model_dump()}, "phases": [record]}


def _work(ctx: RunContext, step: AgentStepSpec, state: RunState, pbi: PbiSpec | None, key: str, visit: int) -> dict:
    """Run the persona's loop on its packet (once, or per best-of-n candidate), then hand off and commit."""
    persona = ctx.persona(step.persona)
    files = _lister(str(ctx.workspace.path)).all_files()  # once per step: the packet and the first toolbox use it
    written: list[dict[str, Any]] = []  # the phase row of a test the task's own examples gave (`also`)
    if step.tests_from_task and visit == 1:
        from orchestrator.steps.stated_tests import task_tests

        whole, written = task_tests(ctx, step, key, files, _trailers(ctx, f"{key}#{visit}", persona.name, "", state))
        if whole is not None:
            return whole
    sections = agent_sections(ctx, step, state, files)
    if pbi:
        sections.insert(3, ("PBI", pbi.render()))
    packet = build_packet(sections, ctx.packet_tokens(step.persona))
    models, decision, features = ctx.route(step, step.persona, state, packet.text)
    ctx.event("phase_start", key, persona.name, model=models[0], visit=visit, packet_tokens=packet.tokens,
              packet_kept=packet.kept, packet_trimmed=packet.trimmed, packet_dropped=packet.dropped)
    started = time.monotonic()
    model, retry = _attempts(ctx, step, state, pbi, key, packet.text, (models, decision, features), files)
    result, replies = retry.result, retry.replies
    update: dict[str, Any] = {"deliverables": {key: retry.deliverable}} if step.deliverable in KINDS else {}
    if step.deliverable == "spec":
        summary, update["pbis"] = write_spec(ctx, result)
        update["pbi_wave"] = []
    else:
        summary = result.summary
    failure = _failure(result, summary if step.deliverable == "spec" else "")
    summary = (f"FAILED: {failure}. " if failure else "") + summary.strip()[:2000]
    handoff = Handoff(step=key, persona=persona.name, summary=summary, **result.handoff_lists())
    commit = ctx.workspace.commit(f"orchestrator: {key} ({persona.name})",
                                  _trailers(ctx, f"{key}#{visit}", persona.name, model, state), body=summary,
                                  scope=pbi.scope if pbi else step.scope, authored_only=True,
                                  on_discard=_discard_logger(ctx, key, persona.name)) if step.commit else None
    record = _phase_record(key, persona.name, model, result, started, verdict="failed" if failure else "done",
                           commit=commit, packet=packet, reason=failure, replies=replies)
    _log_phase_end(ctx, record, trace=result.trace)
    return {**update, "handoffs": {key: handoff.model_dump()}, "phases": [*written, record]}


def _attempts(ctx: RunContext, step: AgentStepSpec, state: RunState, pbi: PbiSpec | None, key: str, packet: str,
              routed: tuple[list[str], int | None, dict[str, Any]], files: list[str]) -> tuple[str, Retry]:
    """(the model whose work is kept, its result with every reply of every attempt): one loop (asked again,
    changed, when it repeats work a gate rejected), or best-of-n. `files`: the worktree's files at the start."""
    from orchestrator.steps.candidates import plan_candidates, run_candidates
    from orchestrator.steps.code_step import code_loop

    models, decision, features = routed
    persona = ctx.persona(step.persona)
    fresh = [files]  # later candidates start after another's work was undone: they list for themselves

    def attempt(model: str, temperature: float | None = None, extra: str = "", seed: int | None = None) -> AgentResult:
        # The spec writer may rework the spec it wrote in this run (after a failed spec gate), the tester the tests
        # it wrote (after a failed red gate); everyone else keeps what earlier phases committed.
        baseline = ctx.workspace.base_commit if step.deliverable in ("spec", "tests") else "HEAD"
        scope = pbi.scope if pbi else step.scope
        toolbox = agent_toolbox(ctx, persona.tools, scope=scope, baseline=baseline, persona=persona,
                                files=fresh.pop() if fresh else None)
        failovers = [m for m in models if m != model]
        if step.edit_format == "code":  # the model answers with code blocks, no tools
            loop: Any = code_loop(ctx, step, persona, model, toolbox, decision, failovers, pbi)
        else:
            opening = persona.opening if step.opening is None else step.opening
            loop = _loop(ctx, step.id, persona.name, model, persona.system_prompt(), toolbox,
                         step.max_tool_calls or ctx.spec.settings.max_tool_calls, decision, failovers,
                         opening_tools=tuple(opening), **_deliverable_options(ctx, step, pbi))
        if temperature is not None:
            loop.complete = _sampled_at(loop.complete, temperature, seed)
        return loop.run(packet + extra)

    plan = plan_candidates(ctx, step, models, features)
    if plan is None:
        return models[0], changed_if_repeated(ctx, step, state, key, lambda: attempt(models[0]),
                                              lambda temperature, extra: attempt(models[0], temperature, extra))
    outcome = run_candidates(ctx, step, state, plan, attempt)
    if decision is not None:
        ctx.runlog.decision_winner(decision, outcome.winner.model, outcome.reason)
    winner = outcome.winner.result
    return outcome.winner.model, Retry(winner, outcome.replies, fingerprint(ctx, step, winner))


def _sampled_at(complete: Any, temperature: float, seed: int | None = None) -> Any:
    """A `complete` that samples at `temperature` (and `seed`) unless the loop asks for its own temperature."""
    def call(model: str, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
        kwargs.setdefault("temperature", temperature)
        if seed is not None:
            kwargs.setdefault("seed", seed)
        return complete(model, messages, **kwargs)
    return call


def _deliverable_options(ctx: RunContext, step: AgentStepSpec, pbi: PbiSpec | None) -> dict[str, Any]:
    """The loop's finishing tool and deliverable check for this step."""
    options: dict[str, Any] = {"finish_tool": SPEC_TOOL} if step.deliverable == "spec" else {}
    return {**options, "deliverable": deliverable_check(ctx, step.deliverable, pbi.scope if pbi else step.scope),
            "stop_when_delivered": step.stop_when_delivered and step.deliverable in ("tests", "source"),
            "handoff_turn": step.handoff_turn}


def _failure(result: AgentResult, spec_outcome: str) -> str:
    """Why the step failed ("" when it delivered): the gate that follows fails closed on the same lack."""
    if result.missing:
        cause = f"tool-call cap of {result.tool_calls} reached" if result.capped else "the step ended"
        return f"{cause} without its deliverable: {result.missing}"
    if spec_outcome and not spec_outcome.startswith("spec written"):
        return spec_outcome
    return ""


TASK_SHARE = 0.35
"""At most this share of a packet goes to the task text, so a long issue never crowds out the gate report."""


def agent_sections(ctx: RunContext, step: AgentStepSpec, state: RunState, files: list[str] | None = None
                   ) -> list[Section]:
    """Packet sections in priority order: task (capped), step, last gate report, then files and handoffs.

    `files`: the worktree's files, when the caller has just listed them."""
    worktree = ctx.workspace.path
    handoffs = state.get("handoffs", {})
    survey = "\n\n".join(Handoff(**h).render() for h in handoffs.values() if h["persona"] == "surveyor")
    others = [h for h in handoffs.values() if h["persona"] != "surveyor"]
    previous = [Handoff(**h).render() for h in others[-HANDOFFS_KEPT:]]
    report = state.get("gate_report", "") if state.get("last_verdict") not in (None, "pass") else ""
    budget = ctx.packet_tokens(step.persona)
    spec = spec_text(ctx.workspace)
    from orchestrator.agents.builtin_tools import MAX_LISTED_FILES

    listed = _lister(str(worktree)).all_files() if files is None else files
    anew = bool(report) and step.edit_format == "code"
    working = _working_files(ctx, step, spec, listed[:MAX_LISTED_FILES], anew=anew)
    return [
        ("Task", ctx.task, int(budget * TASK_SHARE)),
        # The task is in the packet once: the instructions point at it instead of repeating it.
        ("Your step", step.instructions.replace("{task}", "(the task above)") or step.description),
        ("Last gate report", report),
        # Read like a tool reads: `AGENTS.md -> /proc/self/environ` (made by a test) is refused, not followed.
        ("AGENTS.md", read_text(worktree, "AGENTS.md") or ""),
        # Small models make paths up ("/path/to/repo/calc.py") unless the real ones are in front of them.
        ("Files in the repository (paths relative to its root)", repo_files(worktree, listed)),
        *working,
        ("Survey map", survey),
        ("Spec", spec),
        ("Handoffs from earlier phases", "\n\n".join(previous)),
        # A writing step sees its files whole above; a diff of the tester's file, last, drew the 0.5B builder to it.
        ("Diff so far", ctx.workspace.diff(max_chars=6000) if step.persona == "builder" and not working else ""),
    ]


MAX_PACKET_FILES = 40


def _working_files(ctx: RunContext, step: AgentStepSpec, spec: str, listed: list[str], anew: bool = False
                   ) -> list[Section]:
    """For steps that write tests or source: the files the task and spec name, their tests and the run's tests,
    titled by what the step may do with them (measured: shown as one list, the 0.5B builder rewrote the test).

    `anew`: a code-reply round after a failed gate sees the source as it was before the run, not the attempt the
    gate rejected (measured 2026-12-07, bench_team's tetrahedral: shown the 0.5B's `n * (n + 1) // 6` and the
    report, the 0.5B and then the 1.5B gave it back unchanged six times; asked without it, the 1.5B writes it right)."""
    if step.deliverable not in ("tests", "source"):
        return []
    from orchestrator.gates.changes import run_changes

    root = ctx.workspace.path
    run_tests = list(run_changes(ctx.workspace).tests) if step.deliverable == "source" else []
    sources, tests = working_files(root, listed, f"{ctx.task}\n{spec}", run_tests)
    if step.deliverable == "source":
        # Only the run's new tests: shown the module's old tests too, the 0.5B builder edited those.
        new_tests = [p for p in tests if p in run_tests] or tests
        shown = (("The file to change, as it was before this run (write the code anew: the attempt the gate "
                  "report above rejected is not shown)", render_base_files(ctx.workspace, sources)) if anew
                 else ("The file to change (current content)", render_files(root, sources)))
        return [shown,
                ("The tests it must pass (read-only: do not change them)", render_files(root, new_tests))]
    return [("The code under test (read-only: do not change it)", render_files(root, sources)),
            ("Existing tests (keep them; write yours into a new file tests/test_<feature>.py)",
             render_files(root, tests))]


def repo_files(root: Any, listed: list[str] | None = None) -> str:
    """The repository's files (`listed`, when already listed), one a line, at most MAX_PACKET_FILES (a big
    repo's list belongs to the survey)."""
    listed = _lister(str(root)).all_files() if listed is None else listed
    return "\n".join(listed[:MAX_PACKET_FILES]) + (f"\n[... {len(listed) - MAX_PACKET_FILES} more]"
                                                     if len(listed) > MAX_PACKET_FILES else "")


def _loop(ctx: RunContext, step_id: str, persona: str, model: str, system: str, toolbox: Any,
          max_calls: int, decision: int | None = None, failovers: list[str] | None = None,
          **kwargs: Any) -> AgentLoop:
    return AgentLoop(complete=ctx.caller(step_id, decision, failovers), model=model, persona=persona,
                     system_prompt=system, toolbox=toolbox, max_tool_calls=max_calls,
                     on_tool_call=ctx.tool_logger(step_id, persona), **kwargs)


def _discard_logger(ctx: RunContext, key: str, persona: str) -> Any:
    """Report the files a test run left behind, which the phase commit discarded."""
    def report(items: list[tuple[str, str]]) -> None:
        ctx.event("files_discarded", key, persona, files=[f"{path}: {why}" for path, why in items[:50]],
                  count=len(items))
    return report


def _trailers(ctx: RunContext, phase_key: str, persona: str, model: str, state: RunState) -> dict:
    verdicts = state.get("verdicts", {})
    return {
        "Orchestrator-Run": ctx.run_id,
        "Orchestrator-Phase": phase_key,
        "Persona": persona,
        "Model": model,
        "Gate-Verdicts": format_verdicts(verdicts) or "none yet",
        **rejection_trailers(ctx.runlog.events(ctx.run_id, "acceptance")),
    }


def _log_phase_end(ctx: RunContext, record: dict[str, Any], **extra: Any) -> None:
    data = {k: v for k, v in record.items() if k not in ("step", "persona")}
    ctx.event("phase_end", record["step"], record["persona"], **data, **extra)


def _phase_record(step: str, persona: str, model: str, result: AgentResult, started: float, *,
                  verdict: str, commit: str | None, packet: Any = None, reason: str = "",
                  replies: list[Any] | None = None) -> dict[str, Any]:
    """The phase's row; tokens, cost and calls count `replies` (every best-of-n candidate's) when given."""
    replies = result.replies if replies is None else replies
    return PhaseRecord(
        step=step, persona=persona, model=model, verdict=verdict, commit=commit, reason=reason[:500],
        tokens=sum(r.total_tokens for r in replies), prompt_tokens=sum(r.prompt_tokens for r in replies),
        cached_tokens=sum(r.cached_tokens for r in replies), cost_usd=round(sum(r.cost_usd for r in replies), 6),
        seconds=round(time.monotonic() - started, 2), tool_calls=result.tool_calls, model_calls=len(replies),
        packet_trimmed=list(getattr(packet, "trimmed", [])), packet_dropped=list(getattr(packet, "dropped", [])),
    ).row()


@functools.lru_cache(maxsize=16)
def _lister(root: str) -> Any:
    """A toolbox that only lists files, made once per worktree: every packet asks for the list."""
    from orchestrator.agents.tools import Toolbox

    return Toolbox(Path(root))
