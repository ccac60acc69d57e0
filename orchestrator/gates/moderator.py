"""Moderator: merges several critics' verdicts into one checklist for the builder."""

from __future__ import annotations

import json
import time
from typing import Any

from orchestrator.agents.loop import AgentLoop
from orchestrator.agents.packets import build_packet
from orchestrator.gates.verdict import VERDICT_TOOL, ReviewVerdict, merge_verdicts, parse_verdict
from orchestrator.run.context import RunContext
from orchestrator.workflow.spec import GateStepSpec
from orchestrator.workflow.state import RunState


def moderate(ctx: RunContext, step: GateStepSpec, state: RunState, moderator: str,
             verdicts: list[ReviewVerdict]) -> ReviewVerdict:
    """Ask the moderator persona for one merged verdict; a fail from any critic can't be merged away.

    The moderator's model comes from the run's router like every other call (so `--pin` holds, its decision
    is logged and its price checked). If its output is unusable, the deterministic merge stands in, and the
    log says so.
    """
    persona = ctx.persona(moderator)
    findings = "\n\n".join(f"Critic {i}: {json.dumps(v.model_dump(), indent=1)}" for i, v in enumerate(verdicts, 1))
    packet = build_packet([("Critics' verdicts", findings),
                           ("Your job", "Merge these into one verdict with one deduplicated list of violations.")],
                          ctx.packet_tokens(moderator))
    models, decision, _ = ctx.route(step, moderator, state, packet.text, tools=[VERDICT_TOOL])
    if not models:
        ctx.event("moderator_fallback", step.id, moderator, reason="no model left for the moderator")
        return merge_verdicts(verdicts)
    model = models[0]
    started = time.monotonic()
    loop = AgentLoop(complete=ctx.caller(step.id, decision, models[1:]), model=model, persona=moderator,
                     system_prompt=persona.system_prompt(), toolbox=_NoTools(), finish_tool=VERDICT_TOOL,
                     max_tool_calls=1, on_tool_call=ctx.tool_logger(step.id, moderator))
    result = loop.run(packet.text)
    merged, problem = parse_verdict(result.final.arguments if result.final else None, result.text, result.capped)
    fallback = merge_verdicts(verdicts)
    if problem:
        ctx.event("moderator_fallback", step.id, moderator, reason=problem)
        merged = fallback
    elif fallback.verdict == "fail" and merged.verdict == "pass":
        ctx.event("moderator_overruled", step.id, moderator, reason="a critic failed the work")
        merged = ReviewVerdict(verdict="fail", violations=merged.violations or fallback.violations,
                               scenarios=merged.scenarios)
    if not merged.scenarios:
        # The critics answered the scenarios; a moderator that drops the answers doesn't erase them.
        merged = merged.model_copy(update={"scenarios": fallback.scenarios})
    ctx.event("phase_end", step.id, moderator, model=model, verdict=merged.verdict,
              tokens=sum(r.total_tokens for r in result.replies), seconds=round(time.monotonic() - started, 2),
              violations=len(merged.violations))
    return merged


class _NoTools:
    """The moderator works from the critics' verdicts alone."""

    def specs(self) -> list[Any]:
        return []

    def call(self, name: str, arguments: dict[str, Any]) -> str:
        from orchestrator.errors import ToolError

        raise ToolError("the moderator has no tools; call submit_verdict")
