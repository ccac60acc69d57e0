"""The agent loop: one persona, one model, tools in the worktree, until it calls its finishing tool."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.agents.redact import redact
from orchestrator.agents.tool_registry import tool_names
from orchestrator.errors import ToolError
from orchestrator.models.schema import tool_spec
from orchestrator.models.types import ModelReply, ToolCall, ToolSpec


class Finish(BaseModel):
    """The finishing call of an agent step: the typed handoff to the next phase."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(description="What you did and what the next phase must know.")
    decisions: list[str] = Field(default_factory=list, description="Decisions you took.")
    constraints: list[str] = Field(default_factory=list, description="Constraints you found.")
    open_issues: list[str] = Field(default_factory=list, description="Questions left open.")


FINISH_TOOL = tool_spec("finish", "Call when your work for this step is done; the summary is handed to the next "
                        "phase.", Finish)

Complete = Callable[..., ModelReply]
"""Signature of orchestrator.models.gateway.complete, injected so the loop stays testable."""


@dataclass
class AgentResult:
    """What an agent step produced: its final tool call (or text) and a trace of what it did."""

    final: ToolCall | None
    text: str = ""
    tool_calls: int = 0
    replies: list[ModelReply] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    capped: bool = False
    delivered: list[str] = field(default_factory=list)
    missing: str = ""  # what the step still lacked when it ended; "" when it delivered

    def handoff_lists(self) -> dict[str, list[str]]:
        """The typed handoff fields of the finishing call (decisions, constraints, open issues)."""
        args = self.final.arguments if self.final else {}
        return {key: [str(v) for v in args.get(key, []) if isinstance(v, str)][:10]
                for key in ("decisions", "constraints", "open_issues") if isinstance(args.get(key), list)}

    @property
    def summary(self) -> str:
        """The hand-off summary: the finishing tool's `summary`, what was delivered, or the model's last text."""
        if self.final and isinstance(self.final.arguments.get("summary"), str):
            return self.final.arguments["summary"]
        if self.delivered:
            return "Delivered: " + "; ".join(self.delivered)
        return self.text


REPEAT_TEMPERATURE = 0.8
REMINDER = "Your reply had no tool call. Answer with exactly one tool call as JSON."


@dataclass
class _Turns:
    """Bookkeeping of one run of the loop: reminders sent, calls seen, repeats caught, writes made."""

    reminders: int = 0
    repeats: int = 0
    writes: int = 0
    seen: set[str] = field(default_factory=set)


@dataclass
class AgentLoop:
    """Runs one persona against a toolbox with a cap on tool calls.

    `deliverable` says what the step still lacks ("" once its deliverable exists): it is named in reminders
    and refusals, a step with `stop_when_delivered` ends as soon as it is there, and the last turn at the cap
    never makes it up.
    """

    complete: Complete
    model: str
    persona: str
    system_prompt: str
    toolbox: Any  # orchestrator.agents.tools.Toolbox (kept loose: critics get a read-only one)
    finish_tool: ToolSpec = FINISH_TOOL
    max_tool_calls: int = 12
    on_reply: Callable[[ModelReply], None] | None = None
    on_tool_call: Callable[[ToolCall, str | None], None] | None = None
    """Hears each tool call with what the model was answered (None for the finishing call), as it happens."""
    deliverable: Callable[[], str] | None = None
    stop_when_delivered: bool = False
    handoff_turn: bool = True
    """False: a delivered step ends at once instead of taking one more turn for its handoff summary."""
    max_reminders: int = 2
    opening_tools: tuple[str, ...] = ()  # the first turn offers only these and requires a call of one
    max_repeats: int = 3

    def run(self, packet: str) -> AgentResult:
        """Drive the model until it finishes, delivers, gives up, or reaches the tool-call cap."""
        tools = [*self.toolbox.specs(), self.finish_tool]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": packet},
        ]
        result, turns = AgentResult(final=None), _Turns()
        while True:
            # Once the deliverable exists, one last turn hands off: the gate after the step judges the work.
            delivered = self._delivered_now(turns)
            if delivered and not self.handoff_turn:
                return self._end(result, capped=False)
            last_turn = result.tool_calls >= self.max_tool_calls or delivered
            if last_turn and not self._may_hand_off():
                return self._end(result, capped=True)
            # The last allowed turn offers only the finishing tool, so a capped step that delivered still hands off.
            # After a caught repeat, sample hotter: at low temperature the same context gives the same call.
            hot = {"temperature": REPEAT_TEMPERATURE} if turns.repeats else {}
            offered, required = self._offer(tools, last_turn, opening=not result.replies)
            reply = self.complete(self.model, messages, tools=offered, require_tool=required,
                                  persona=self.persona, **hot)
            result.replies.append(reply)
            if self.on_reply:
                self.on_reply(reply)
            if not reply.tool_calls:
                result.text = reply.text
                if last_turn or turns.reminders >= self.max_reminders:
                    return self._end(result, capped=result.tool_calls >= self.max_tool_calls)
                turns.reminders += 1
                messages += [{"role": "assistant", "content": reply.text},
                             {"role": "user", "content": self._reminder()}]
                continue
            messages.append(_assistant_message(reply))
            if self._run_calls(reply, messages, result, turns, last_turn):
                return self._end(result, capped=False)
            if last_turn or turns.repeats >= self.max_repeats:
                return self._end(result, capped=last_turn and result.tool_calls >= self.max_tool_calls)

    def _offer(self, tools: list[ToolSpec], last_turn: bool, opening: bool) -> tuple[list[ToolSpec], bool]:
        """The tools of this turn and whether a call is required: the last turn only finishes, the first may
        be narrowed to the persona's opening tools (measured: a 0.5B offered everything explored until the cap)."""
        if last_turn:
            return [self.finish_tool], True
        by_name = {t.name: t for t in tools}
        narrowed = [by_name[name] for name in self.opening_tools if name in by_name] if opening else []
        return (narrowed, True) if narrowed else (tools, False)

    def _run_calls(self, reply: ModelReply, messages: list[dict[str, Any]], result: AgentResult,
                   turns: _Turns, last_turn: bool) -> bool:
        """Run the reply's calls in order; True once the finishing tool was called."""
        for call in reply.tool_calls:
            if call.name == self.finish_tool.name:
                result.final = call
                self._heard(call, None)
                return True
            # The cap counts calls, not replies: one reply carrying 200 calls runs only as many as remain.
            blocked = last_turn or result.tool_calls >= self.max_tool_calls
            result.tool_calls += 0 if blocked else 1
            output = self._answer(call, reply, result, turns, blocked)
            messages.append({"role": "tool", "tool_call_id": call.id or call.name, "name": call.name,
                             "content": output})
        return False

    def _answer(self, call: ToolCall, reply: ModelReply, result: AgentResult, turns: _Turns, blocked: bool) -> str:
        """What the model sees for one call: the tool's output, or why it was refused and what to do instead."""
        # A file's version is part of the key: reading or testing again after a write is not a repeat.
        # A write is keyed by its arguments alone: writing the same content again changes nothing.
        version = "" if call.name in tool_names("write") else turns.writes
        key = f"{version}:{call.name}:{json.dumps(call.arguments, sort_keys=True, default=str)}"
        capped = [a for a in (reply.sampling or {}).get("capped_arguments", []) if a != "path"]
        if blocked:
            output = f"refused: this step's last turn; call {self.finish_tool.name} now"
        elif key in turns.seen:
            turns.repeats += 1
            output = "refused: you already made this exact call and nothing has changed since. " + self._options()
        elif call.name in tool_names("write") and capped:
            output = (f"refused: {', '.join(capped)} reached its length limit, so the file would be cut short. "
                      "Use edit to change only the lines that must change.")
        else:
            output = self._call_tool(call)
            turns.writes += call.name in tool_names("write") and not output.startswith("refused:")
            if call.name in tool_names("write") and not output.startswith("refused:"):
                result.delivered.append(output)
        turns.seen.add(key)
        self._heard(call, output)
        result.trace.append(f"{call.name}({_short(call.arguments)}) -> {_short(output)}")
        return output

    def _heard(self, call: ToolCall, output: str | None) -> None:
        if self.on_tool_call:
            self.on_tool_call(call, output)

    def _call_tool(self, call: ToolCall) -> str:
        try:
            return self.toolbox.call(call.name, call.arguments)
        except ToolError as exc:
            return redact(f"refused: {exc}")

    def _missing(self) -> str:
        return self.deliverable() if self.deliverable else ""

    def _may_hand_off(self) -> bool:
        """The forced last turn is for the handoff only: never when the finishing call is the deliverable."""
        return self.finish_tool.name == FINISH_TOOL.name and not self._missing()

    def _delivered_now(self, turns: _Turns) -> bool:
        return self.stop_when_delivered and turns.writes > 0 and not self._missing()

    def _reminder(self) -> str:
        missing = self._missing()
        return REMINDER + (f" Still missing: {missing}." if missing else "") + f" Tools: {self._tool_names()}."

    def _options(self) -> str:
        """The valid options after a stuck call: files that exist, the tools, the deliverable still missing."""
        files = ""
        if hasattr(self.toolbox, "all_files"):
            listed = self.toolbox.all_files()
            files = "Files: " + ", ".join(listed[:30]) + (" ..." if len(listed) > 30 else "") + ". "
        missing = self._missing()
        return (files + f"Tools: {self._tool_names()}." + (f" Still missing: {missing}." if missing else "")
                + " Call a different tool or change the arguments.")

    def _tool_names(self) -> str:
        return ", ".join([*(t.name for t in self.toolbox.specs()), self.finish_tool.name])

    def _end(self, result: AgentResult, capped: bool) -> AgentResult:
        """Close the step: a finished step is judged by its finishing call, any other by its deliverable."""
        result.capped = capped
        if self.finish_tool.name != FINISH_TOOL.name:  # submit_spec, submit_verdict: the call is the deliverable
            result.missing = "" if result.final is not None else f"no {self.finish_tool.name} call"
        else:  # a plain `finish` proves nothing: "Tests pass." from a phase that wrote no test is no test
            result.missing = self._missing()
        return result


def _assistant_message(reply: ModelReply) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": reply.text or None,
        "tool_calls": [
            {"id": c.id or c.name, "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for c in reply.tool_calls
        ],
    }


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
