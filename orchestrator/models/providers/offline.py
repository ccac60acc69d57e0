"""In-process providers, served directly (no LiteLLM, no network, no key): the registered one a model id names,
and the built-ins local/ (the embedded models) and scripted/ and function/ (the fakes)."""

from __future__ import annotations

import copy
import json
from typing import Any

from orchestrator.errors import ModelError, did_you_mean
from orchestrator.models.failures import FAILURES, ModelCallError
from orchestrator.models.providers import local
from orchestrator.models.providers.registry import OfflineAnswer, ProviderRequest, providers
from orchestrator.models.providers.scripted import estimate_tokens, lookup_fake
from orchestrator.models.types import ToolCall, ToolSpec


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
    """Answer one chat request in-process, by the registered provider the id names (`local/...` -> local)."""
    provider = target.partition("/")[0]
    serving = providers()
    if provider not in serving:
        raise ModelError(f"{target}: no in-process provider {provider!r}.{did_you_mean(provider, serving)}")
    request = ProviderRequest(messages, tools, persona, temperature, max_tokens, seed)
    return serving[provider](target, request)


def serve_fake(target: str, request: ProviderRequest) -> OfflineAnswer:
    """A registered fake's next reply (scripted/ and function/ ids)."""
    # A fake keeps what it was sent: a copy, as a network provider gets, so later turns don't rewrite it.
    reply = lookup_fake(target).respond(request.persona, copy.deepcopy(request.messages), request.tools)
    reply.simulate_latency()
    prompt, completion = reply.usage or (estimate_tokens(_prompt_text(request.messages)), estimate_tokens(reply.text))
    return OfflineAnswer(
        text=reply.text,
        tool_calls=_numbered(reply.tool_calls),
        prompt_tokens=prompt,
        completion_tokens=completion or len(reply.tool_calls),
        version=target,
    )


def serve_local(target: str, request: ProviderRequest) -> OfflineAnswer:
    """Run the embedded model and report llama-cpp's token counts and sampling."""
    name = target.partition("/")[2]
    try:
        result = local.generate(request.messages, request.tools, max_tokens=request.max_tokens,
                                temperature=request.temperature, model=name, seed=request.seed)
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
