"""The in-process providers registry: a provider is a name (the `name/` of its model ids) and a serve function,
registered through the plugin hook `register_providers(register)` by the built-ins and by plugins alike.

An in-process provider answers without LiteLLM, a network or a key; every call still takes the gateway's
path (rate limits, accounting, the decision log)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import PluginError
from orchestrator.models.types import ToolCall, ToolSpec

PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class ProviderRequest:
    """One chat request for an in-process provider."""

    messages: list[dict[str, Any]]
    tools: list[ToolSpec]
    persona: str
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None


@dataclass(frozen=True)
class OfflineAnswer:
    """What an in-process provider answered, with its own token counts and model version."""

    text: str
    tool_calls: list[ToolCall]
    prompt_tokens: int
    completion_tokens: int
    version: str
    sampling: dict[str, Any] = field(default_factory=dict)
    cached_tokens: int = 0


Serve = Callable[[str, ProviderRequest], OfflineAnswer]
"""(the model id, e.g. `local/qwen-0.5b`, the request) -> the answer."""


@functools.cache
def providers() -> dict[str, Serve]:
    """{name: serve} of every registered in-process provider, built-ins first."""
    from orchestrator.plugins import call_hook

    found: dict[str, Serve] = {}

    def register(name: str, serve: Serve) -> None:
        if not isinstance(name, str) or not PROVIDER_NAME.match(name):
            raise PluginError(f"provider name must be lower-case letters, digits, _ and -, got {name!r}")
        if not callable(serve):
            raise PluginError(f"provider {name!r}: `serve` must be callable, got {serve!r}")
        found[name] = serve

    call_hook("register_providers", register)
    return found


def provider_names() -> list[str]:
    """The providers served in-process (model ids `name/...`)."""
    return list(providers())
