"""Best-of-n and speculative agent steps: each candidate on its own copy of the worktree, a verifier picks.

The verifier is the step's gate (the gate step its `next` names), run on each candidate's worktree
without touching the run's gate state; a step with no gate after it has a judge model pick among the
candidates' diffs. The winner's worktree is what the step commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.agents.loop import AgentResult
from orchestrator.run.context import RunContext
from orchestrator.run.workspace import BUILD_OUTPUT, TEXT_DIFF, git
from orchestrator.workflow.spec import AgentStepSpec, GateStepSpec
from orchestrator.workflow.state import RunState

DEFAULT_TEMPERATURE = 0.7
"""Best-of-n samples hot unless the step says otherwise: at temperature 0 one model gives one answer."""

Attempt = Callable[[str, float | None, str, int | None], AgentResult]
"""Runs the step's loop once: (model, temperature or None, extra packet text, sampling seed or None) -> its result."""


@dataclass(frozen=True)
class CandidatePlan:
    """Who answers, in order, at what temperature, and how the winner is picked."""

    mode: Literal["best_of", "speculative"]
    models: list[str]
    temperature: float | None
    gate: GateStepSpec | None
    judge: str = "critic"


@dataclass
class Candidate:
    """One candidate's work: its model, its loop result, its worktree (a git tree) and the verifier's word."""

    index: int
    model: str
    result: AgentResult
    tree: str
    verdict: str = "not judged"
    reason: str = ""
    report: str = ""

    @property
    def tokens(self) -> int:
        return sum(r.total_tokens for r in self.result.replies)

    @property
    def cost_usd(self) -> float:
        return sum(r.cost_usd for r in self.result.replies)


@dataclass
class Outcome:
    """The winner, every candidate in the order they ran, and why the winner won."""

    winner: Candidate
    candidates: list[Candidate] = field(default_factory=list)
    reason: str = ""

    @property
    def replies(self) -> list[Any]:
        """Every candidate's replies: the step's tokens and cost count them all."""
        return [r for c in self.candidates for r in c.result.replies]


def plan_candidates(ctx: RunContext, step: AgentStepSpec, models: list[str], features: dict[str, Any]
                    ) -> CandidatePlan | None:
    """The step's candidates from `best_of` and the routing decision (parallel, speculative); None for one run."""
    ensemble = list(features.get("ensemble") or [])
    speculative = bool(features.get("drafter") and features.get("verifier"))
    if step.best_of is None and not ensemble and not speculative:
        return None  # before the gate lookup, which scans the workflow's steps
    gate = gate_after(ctx, step)
    if speculative:
        return CandidatePlan("speculative", [features["drafter"], features["verifier"]], None, gate)
    n = step.best_of.n if step.best_of else len(ensemble)
    pool = ensemble or models[:1]
    temperature = step.best_of.temperature if step.best_of else DEFAULT_TEMPERATURE
    judge = step.best_of.judge if step.best_of else "critic"
    return CandidatePlan("best_of", [pool[i % len(pool)] for i in range(n)], temperature, gate, judge)


def gate_after(ctx: RunContext, step: AgentStepSpec) -> GateStepSpec | None:
    """The gate step the agent step hands to, when it can judge a candidate unattended (not a human's)."""
    target = next((s for s in ctx.spec.steps if s.id == step.next), None)
    if isinstance(target, GateStepSpec) and ctx.spec.gates[target.gate].judges_work:
        return target
    return None


def run_candidates(ctx: RunContext, step: AgentStepSpec, state: RunState, plan: CandidatePlan,
                   attempt: Attempt) -> Outcome:
    """Run the plan's candidates; the winner's worktree is left in place for the step to commit."""
    start = snapshot(ctx)
    if plan.mode == "speculative":
        outcome = _speculate(ctx, step, state, plan, attempt)
    elif plan.gate is not None:
        outcome = _first_passing(ctx, state, plan, attempt, start)
    else:
        outcome = _judged(ctx, step, state, plan, attempt, start)
    restore(ctx, outcome.winner.tree)
    for candidate in outcome.candidates:
        ctx.event("candidate", step.id, step.persona, index=candidate.index, model=candidate.model,
                  temperature=plan.temperature, verdict=candidate.verdict, reason=candidate.reason[:300],
                  tokens=candidate.tokens, cost_usd=round(candidate.cost_usd, 6),
                  winner=candidate is outcome.winner, tree=candidate.tree)
    ctx.event("ensemble", step.id, step.persona, mode=plan.mode, models=[c.model for c in outcome.candidates],
              winner=outcome.winner.model, reason=outcome.reason)
    return outcome


def _first_passing(ctx: RunContext, state: RunState, plan: CandidatePlan, attempt: Attempt,
                   start: str) -> Outcome:
    """Candidates in turn from the same start, until one passes the gate; none passing keeps the first."""
    assert plan.gate is not None
    candidates: list[Candidate] = []
    for index, model in enumerate(plan.models, 1):
        restore(ctx, start)
        candidate = _run_one(ctx, index, model, plan.temperature, "", attempt)
        _verify(ctx, state, plan.gate, candidate)
        candidates.append(candidate)
        if candidate.verdict == "pass":
            return Outcome(candidate, candidates, f"gate {plan.gate.id} passed candidate {index} ({model})")
    failures = "; ".join(f"{c.index} ({c.model}): {c.reason}" for c in candidates)
    return Outcome(candidates[0], candidates, f"no candidate passed gate {plan.gate.id}, kept the first: {failures}")


def _speculate(ctx: RunContext, step: AgentStepSpec, state: RunState, plan: CandidatePlan,
               attempt: Attempt) -> Outcome:
    """The drafter works; only when the gate fails its draft does the verifier refine it, from the draft."""
    assert plan.gate is not None  # validate refuses speculative agent steps with no gate after them
    drafter, verifier = plan.models
    draft = _run_one(ctx, 1, drafter, None, "", attempt)
    _verify(ctx, state, plan.gate, draft)
    if draft.verdict == "pass":
        return Outcome(draft, [draft], f"draft by {drafter} passed gate {plan.gate.id}")
    feedback = (f"\n\n## Draft to refine\nThe worktree holds a draft by another model; gate {plan.gate.id} "
                f"judged it {draft.verdict}:\n{draft.report[:3000]}\nFix what the gate found.")
    refined = _run_one(ctx, 2, verifier, None, feedback, attempt)
    _verify(ctx, state, plan.gate, refined)
    return Outcome(refined, [draft, refined],
                   f"draft by {drafter} {draft.verdict} at gate {plan.gate.id}; {verifier} refined it")


def _run_one(ctx: RunContext, index: int, model: str, temperature: float | None, extra: str,
             attempt: Attempt) -> Candidate:
    """One candidate's loop, and the worktree it leaves, as a git tree.

    A sampled candidate gets its own seed (its index): with one seed for all, a local model given the same
    packet would draw the same answer n times (llama.cpp reseeds every call)."""
    result = attempt(model, temperature, extra, index if temperature is not None else None)
    return Candidate(index=index, model=model, result=result, tree=snapshot(ctx))


def _verify(ctx: RunContext, state: RunState, gate: GateStepSpec, candidate: Candidate) -> None:
    """The gate's verdict on the candidate's worktree (a candidate without its deliverable fails unjudged)."""
    from orchestrator.gates import judge_gate

    if candidate.result.missing:
        candidate.verdict, candidate.reason = "fail", f"ended without its deliverable: {candidate.result.missing}"
        candidate.report = candidate.reason
        return
    result = judge_gate(ctx, gate, state)
    candidate.verdict, candidate.reason, candidate.report = result.verdict, result.main_reason, result.render()


class Pick(BaseModel):
    """The judge's choice among candidates."""

    model_config = ConfigDict(extra="forbid", strict=True)

    candidate: int = Field(ge=1, description="Number of the best candidate.")
    reason: str = Field(description="Why it is the best, in one sentence.")


def _judged(ctx: RunContext, step: AgentStepSpec, state: RunState, plan: CandidatePlan,
            attempt: Attempt, start: str) -> Outcome:
    """Every candidate from the same start; then the judge persona picks one by a schema-checked tool call."""
    candidates = []
    for index, model in enumerate(plan.models, 1):
        restore(ctx, start)
        candidate = _run_one(ctx, index, model, plan.temperature, "", attempt)
        if candidate.result.missing:
            candidate.verdict, candidate.reason = "fail", f"ended without its deliverable: {candidate.result.missing}"
        else:
            candidate.verdict = "delivered"
        candidates.append(candidate)
    index, why = ask_judge(ctx, step, state, plan.judge, start, candidates)
    winner = candidates[index]
    winner.verdict = "picked"
    return Outcome(winner, candidates, f"judge {plan.judge} picked candidate {winner.index} ({winner.model}): {why}")


def ask_judge(ctx: RunContext, step: AgentStepSpec, state: RunState, judge: str, start: str,
              candidates: list[Candidate]) -> tuple[int, str]:
    """(index into candidates, reason): the judge's pick; an unusable answer falls back to the first that delivered."""
    from orchestrator.errors import ToolError
    from orchestrator.models.schema import tool_spec, validate_with

    pick_tool = tool_spec("pick", "Choose the best candidate.", Pick)
    text = _judge_packet(ctx, step, start, candidates)
    models, decision, _ = ctx.route(step, judge, state, text, tools=[pick_tool])
    messages = [{"role": "system", "content": "You compare candidate solutions of one task and pick the one "
                 "that does the task best. Answer with one call of the pick tool."},
                {"role": "user", "content": text}]
    reply = ctx.caller(step.id, decision, models[1:])(models[0], messages, tools=[pick_tool], require_tool=True,
                                                      persona=judge)
    fallback = next((i for i, c in enumerate(candidates) if not c.result.missing), 0)
    call = next(iter(reply.tool_calls), None)
    try:
        picked = validate_with(Pick, "pick", call.arguments if call else None)
    except ToolError as exc:
        return fallback, f"unusable answer ({exc}), kept candidate {fallback + 1}"
    if picked.candidate > len(candidates):
        return fallback, f"no candidate {picked.candidate}, kept candidate {fallback + 1}"
    return picked.candidate - 1, picked.reason


def _judge_packet(ctx: RunContext, step: AgentStepSpec, start: str, candidates: list[Candidate]) -> str:
    """Task, step and each candidate's handoff and diff from the step's start."""
    parts = [f"## Task\n{ctx.task[:2000]}", f"## Step\n{step.instructions or step.description or step.id}"]
    for c in candidates:
        diff = git(ctx.workspace.path, "diff", *TEXT_DIFF, start, c.tree)[:4000] or "(no change)"
        state = f"ended without its deliverable: {c.result.missing}" if c.result.missing else "delivered"
        parts.append(f"## Candidate {c.index} ({state})\nSummary: {c.result.summary[:500]}\n```diff\n{diff}\n```")
    return "\n\n".join(parts)


def snapshot(ctx: RunContext) -> str:
    """The worktree as a git tree object (tracked, new and deleted files; never build output), index untouched."""
    path = ctx.workspace.path
    git(path, "add", "-A", "--", ".", *BUILD_OUTPUT)
    tree = git(path, "write-tree").strip()
    git(path, "reset", "--quiet")
    ctx.workspace.save_ledger(tree)  # which of the tree's files the tools wrote, for the commit after `restore`
    return tree


def restore(ctx: RunContext, tree: str) -> None:
    """Put the worktree back to a snapshot: files the tree lacks go, its files come back; the index stays at HEAD."""
    path = ctx.workspace.path
    git(path, "add", "-A", "--", ".", *BUILD_OUTPUT)  # staged, so read-tree removes the files the tree lacks
    git(path, "read-tree", "-u", "--reset", tree)
    git(path, "reset", "--quiet")
    ctx.workspace.load_ledger(tree)
