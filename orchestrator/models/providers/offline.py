"""The in-process providers (local/, scripted/, function/), served directly: no LiteLLM, no network, no key."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from orchestrator.models.failures import FAILURES, ModelCallError
from orchestrator.models.providers import local
from orchestrator.models.providers.scripted import estimate_tokens, lookup_fake
from orchestrator.models.types import ToolCall, ToolSpec


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


def serve(
    target: str,
    messages: list[dict[str, Any]],
    tools: list[ToolSpec],
    *,
    persona: str,
    temperature: float | None,
    max_tokens: int | None,
    seed: int | None = None,
) -> OfflineAnswer:
    """Answer one chat request in-process: the embedded model for local/, the registered fake otherwise."""
    provider, _, name = target.partition("/")
    if provider == "local":
        return _serve_local(name, messages, tools, temperature, max_tokens, seed)
    # A fake keeps what it was sent: a copy, as a network provider gets, so later turns don't rewrite it.
    reply = lookup_fake(target).respond(persona, copy.deepcopy(messages), tools)
    reply.simulate_latency()
    prompt, completion = reply.usage or (estimate_tokens(_prompt_text(messages)), estimate_tokens(reply.text))
    return OfflineAnswer(
        text=reply.text,
        tool_calls=_numbered(reply.tool_calls),
        prompt_tokens=prompt,
        completion_tokens=completion or len(reply.tool_calls),
        version=target,
    )


def _serve_local(
    name: str, messages: list[dict[str, Any]], tools: list[ToolSpec], temperature: float | None, max_tokens: int | None,
    seed: int | None = None,
) -> OfflineAnswer:
    """Run the embedded model and report llama-cpp's token counts and sampling."""
    try:
        result = local.generate(messages, tools, max_tokens=max_tokens, temperature=temperature, model=name,
                                seed=seed)
    except ValueError as exc:  # llama-cpp says "Requested tokens (...) exceed context window of ..."
        if "context window" not in str(exc):
            raise
        raise ModelCallError(
            f"local/{name}", "ContextWindowExceededError", str(exc), FAILURES["ContextWindowExceededError"]
        ) from exc
    return OfflineAnswer(
        text=result.text,
        tool_calls=_numbered(result.tool_calls),
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        version=local.model_version(name),
        sampling=dict(result.sampling),
        cached_tokens=result.cached_tokens,
    )


def _numbered(calls: Any) -> list[ToolCall]:
    """Tool calls with an id each and arguments copied through JSON, as a network provider's would arrive."""
    return [
        ToolCall(name=call.name, arguments=json.loads(json.dumps(call.arguments)), id=call.id or f"call_{index}")
        for index, call in enumerate(calls)
    ]


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    """All message text, for estimating a fake's prompt tokens."""
    return "".join(str(m.get("content") or "") for m in messages)
