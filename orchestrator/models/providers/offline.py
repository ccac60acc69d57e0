"""LiteLLM bridge of the in-process providers (local/, scripted/, function/): they take the real call path."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before the import: no cost-map fetch

import litellm  # noqa: E402
from litellm import CustomLLM  # noqa: E402

from orchestrator.models.failures import FAILURES, ModelCallError  # noqa: E402
from orchestrator.models.ids import OFFLINE_PROVIDERS  # noqa: E402
from orchestrator.models.providers import local  # noqa: E402
from orchestrator.models.providers.scripted import estimate_tokens, lookup_fake  # noqa: E402
from orchestrator.models.types import ToolCall, ToolSpec  # noqa: E402


class OfflineLLM(CustomLLM):
    """One LiteLLM custom provider serving a prefix in-process: the embedded model or the registered fakes."""

    def __init__(self, provider: str):
        super().__init__()
        self.provider = provider

    def completion(self, *args: Any, **kwargs: Any) -> litellm.ModelResponse:
        """LiteLLM calls this with the model name after the prefix, the messages and the optional params."""
        model, messages, response = kwargs["model"], kwargs["messages"], kwargs["model_response"]
        optional = kwargs.get("optional_params") or {}
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        tools = [_tool_spec(tool) for tool in optional.get("tools") or []]
        if self.provider == "local":
            return _serve_local(model, messages, tools, optional, response)
        fake = lookup_fake(f"{self.provider}/{model}")
        reply = fake.respond(str(metadata.get("persona", "")), messages, tools)
        reply.simulate_latency()
        prompt, completion = reply.usage or (estimate_tokens(_prompt_text(messages)), estimate_tokens(reply.text))
        completion = completion or len(reply.tool_calls)
        return fill_response(
            response, reply.text, list(reply.tool_calls), prompt, completion, f"{self.provider}/{model}"
        )

    async def acompletion(self, *args: Any, **kwargs: Any) -> litellm.ModelResponse:
        """Async callers get the same in-process answer."""
        return self.completion(*args, **kwargs)


def _serve_local(
    model: str, messages: list[dict[str, Any]], tools: list[ToolSpec], optional: dict[str, Any], response: Any
) -> Any:
    """Run the embedded model and report llama-cpp's token counts and sampling."""
    try:
        result = local.generate(
            messages,
            tools,
            max_tokens=optional.get("max_tokens"),
            temperature=optional.get("temperature"),
            model=model,
        )
    except ValueError as exc:  # llama-cpp says "Requested tokens (...) exceed context window of ..."
        if "context window" not in str(exc):
            raise
        raise ModelCallError(
            f"local/{model}", "ContextWindowExceededError", str(exc), FAILURES["ContextWindowExceededError"]
        ) from exc
    filled = fill_response(
        response,
        result.text,
        result.tool_calls,
        result.prompt_tokens,
        result.completion_tokens,
        local.model_version(model),
        result.finish_reason,
    )
    filled._hidden_params["sampling"] = result.sampling
    return filled


def fill_response(
    response: Any,
    text: str,
    calls: list[ToolCall],
    prompt_tokens: int,
    completion_tokens: int,
    version: str,
    finish_reason: str | None = None,
) -> Any:
    """Write text, OpenAI-style tool calls and usage into LiteLLM's ModelResponse."""
    tool_calls = [
        {
            "id": call.id or f"call_{index}",
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
        }
        for index, call in enumerate(calls)
    ]
    message = litellm.Message(content=text or None, role="assistant", tool_calls=tool_calls or None)
    reason = finish_reason or ("tool_calls" if tool_calls else "stop")
    response.choices = [litellm.Choices(index=0, message=message, finish_reason=reason)]
    response.usage = litellm.Usage(
        prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, total_tokens=prompt_tokens + completion_tokens
    )
    response.model = version
    return response


def _tool_spec(tool: dict[str, Any]) -> ToolSpec:
    """An OpenAI `tools=[...]` entry back as a ToolSpec."""
    function = tool.get("function", tool)
    return ToolSpec(function["name"], function.get("description", ""), function.get("parameters") or {})


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    """All message text, for estimating a fake's prompt tokens."""
    return "".join(str(m.get("content") or "") for m in messages)


def register_providers() -> Any:
    """Add local/, scripted/ and function/ to LiteLLM (keeping other custom providers) and quiet its logging."""
    litellm.suppress_debug_info = True
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    others = [p for p in litellm.custom_provider_map if p.get("provider") not in OFFLINE_PROVIDERS]
    litellm.custom_provider_map = others + [
        {"provider": name, "custom_handler": OfflineLLM(name)} for name in OFFLINE_PROVIDERS
    ]
    litellm.utils.custom_llm_setup()
    return litellm
