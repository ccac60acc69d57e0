"""The agent loop: one persona, one model, tools in the worktree, until it calls its finishing tool."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.agents.redact import redact
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

    def handoff_lists(self) -> dict[str, list[str]]:
        """The typed handoff fields of the finishing call (decisions, constraints, open issues)."""
        args = self.final.arguments if self.final else {}
        return {key: [str(v) for v in args.get(key, []) if isinstance(v, str)][:10]
                for key in ("decisions", "constraints", "open_issues") if isinstance(args.get(key), list)}

    @property
    def summary(self) -> str:
        """The hand-off summary: the finishing tool's `summary`, or the model's last text."""
        if self.final and isinstance(self.final.arguments.get("summary"), str):
            return self.final.arguments["summary"]
        return self.text


@dataclass
class AgentLoop:
    """Runs one persona against a toolbox with a cap on tool calls."""

    complete: Complete
    model: str
    persona: str
    system_prompt: str
    toolbox: Any  # orchestrator.agents.tools.Toolbox (kept loose: critics get a read-only one)
    finish_tool: ToolSpec = FINISH_TOOL
    max_tool_calls: int = 12
    on_reply: Callable[[ModelReply], None] | None = None

    def run(self, packet: str) -> AgentResult:
        """Drive the model until it finishes, answers in plain text, or reaches the tool-call cap."""
        tools = [*self.toolbox.specs(), self.finish_tool]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": packet},
        ]
        result = AgentResult(final=None)
        while True:
            # The last allowed turn offers only the finishing tool, so a capped step still hands off.
            last_turn = result.tool_calls >= self.max_tool_calls
            reply = self.complete(self.model, messages, tools=[self.finish_tool] if last_turn else tools,
                                  require_tool=last_turn, persona=self.persona)
            result.replies.append(reply)
            if self.on_reply:
                self.on_reply(reply)
            if not reply.tool_calls:
                result.text = reply.text
                return result
            messages.append(_assistant_message(reply))
            for call in reply.tool_calls:
                if call.name == self.finish_tool.name:
                    result.final = call
                    result.capped = last_turn
                    return result
                # The cap counts calls, not replies: one reply carrying 200 calls runs only as many as remain.
                blocked = last_turn or result.tool_calls >= self.max_tool_calls
                result.tool_calls += 0 if blocked else 1
                output = self._call_tool(call, result, blocked=blocked)
                messages.append({"role": "tool", "tool_call_id": call.id or call.name, "name": call.name,
                                 "content": output})
            if last_turn:
                result.capped = True
                return result

    def _call_tool(self, call: ToolCall, result: AgentResult, blocked: bool) -> str:
        if blocked:
            output = f"refused: tool-call cap of {self.max_tool_calls} reached; call {self.finish_tool.name} now"
        else:
            try:
                output = self.toolbox.call(call.name, call.arguments)
            except ToolError as exc:
                output = redact(f"refused: {exc}")
        result.trace.append(f"{call.name}({_short(call.arguments)}) -> {_short(output)}")
        return output


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
