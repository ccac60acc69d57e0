"""Plain data types shared by the model layer, the agents and the router (no heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolSpec:
    """A tool an agent may call: its name, a description and the JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]

    def as_openai(self) -> dict[str, Any]:
        """The OpenAI/LiteLLM `tools=[...]` entry for this tool."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass(frozen=True)
class ToolCall:
    """One tool call a model asked for."""

    name: str
    arguments: dict[str, Any]
    id: str = ""


@dataclass
class ModelReply:
    """What one model call returned, with the accounting the run log needs."""

    model: str
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    provider_model_version: str | None = None
    sampling: dict[str, Any] = field(default_factory=dict)
    cached_tokens: int = 0
    """Prompt tokens the provider served from its cache instead of processing them (0 when it doesn't say)."""

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens
