"""The one gateway every model call goes through: litellm.completion, accounting, listeners, the real-request switch."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from orchestrator.errors import OrchestratorError, RealRequestBlockedError
from orchestrator.models import catalog
from orchestrator.models.failures import describe_failure
from orchestrator.models.ids import SCRIPT_PREFIX, is_offline, is_script_path, normalise_model_id
from orchestrator.models.scripted import load_script
from orchestrator.models.types import ModelReply, ToolCall, ToolSpec

BLOCK_ENV = "ORCHESTRATOR_BLOCK_REAL_REQUESTS"
CallListener = Callable[[str, str, ModelReply, dict[str, Any]], None]

_listeners: list[CallListener] = []
_blocked: bool | None = None  # None: follow the environment variable
_lock = threading.Lock()
_litellm: Any = None


def load_litellm() -> Any:
    """Import LiteLLM once (no network, no noise) with the in-process providers registered."""
    global _litellm
    with _lock:
        if _litellm is None:
            from orchestrator.models.providers import register_providers

            _litellm = register_providers()
        return _litellm


def block_real_requests(enabled: bool | None = True) -> bool | None:
    """Refuse network model calls (True), allow them (False) or follow the env var (None); returns the old setting."""
    global _blocked
    previous, _blocked = _blocked, enabled
    return previous


def real_requests_blocked() -> bool:
    """Whether a call to a network model would be refused now."""
    if _blocked is not None:
        return _blocked
    return os.environ.get(BLOCK_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def add_call_listener(fn: CallListener) -> None:
    """Call `fn(model, persona, reply, metadata)` after every successful model call (e.g. the run log)."""
    with _lock:
        _listeners.append(fn)


def remove_call_listener(fn: CallListener) -> None:
    """Stop calling a listener; unknown listeners are ignored."""
    with _lock:
        if fn in _listeners:
            _listeners.remove(fn)


def complete(
    model: str,
    messages: list[dict[str, Any]],
    *,
    tools: list[ToolSpec] | None = None,
    require_tool: bool = False,
    persona: str = "",
    temperature: float | None = None,
    max_tokens: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> ModelReply:
    """Send one chat request through LiteLLM and return the reply with tokens, cost, latency and sampling."""
    model = normalise_model_id(model)
    target = load_script(model[len(SCRIPT_PREFIX) :]) if is_script_path(model) else model
    if not is_offline(target) and real_requests_blocked():
        raise RealRequestBlockedError(
            f"real model call to {model!r} (persona {persona or '-'}) refused: real requests are switched off "
            f"(block_real_requests() or {BLOCK_ENV}=1). Bind the persona to local/smollm2 or a scripted model."
        )
    litellm = load_litellm()
    request = _request(target, messages, tools, require_tool, persona, temperature, max_tokens, metadata)
    started = time.perf_counter()
    try:
        response = litellm.completion(**request)
    except Exception as exc:
        raise _translate(exc, model, target) from exc
    reply = _reply(model, target, response, time.perf_counter() - started, request)
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(model, persona, reply, dict(metadata or {}))
    return reply


def _request(
    target: str,
    messages: list[dict[str, Any]],
    tools: list[ToolSpec] | None,
    require_tool: bool,
    persona: str,
    temperature: float | None,
    max_tokens: int | None,
    metadata: dict[str, Any] | None,
) -> dict[str, Any]:
    """The litellm.completion keyword arguments; unset sampling options are left to the provider."""
    request: dict[str, Any] = {
        "model": target,
        "messages": messages,
        "metadata": {**(metadata or {}), "persona": persona},
        # LiteLLM 1.106 imports its MCP bridge (and needs the `mcp` package) whenever tools are passed;
        # function tools never need it, so skip it.
        "_skip_mcp_handler": True,
    }
    if tools:
        request["tools"] = [tool.as_openai() for tool in tools]
        if require_tool:
            request["tool_choice"] = "required"
    if temperature is not None:
        request["temperature"] = temperature
    if max_tokens is not None:
        request["max_tokens"] = max_tokens
    return request


def _translate(exc: Exception, model: str, target: str) -> OrchestratorError:
    """Our own errors raised inside a provider come back as themselves; LiteLLM's get a hint."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OrchestratorError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return describe_failure(exc, model, [] if is_offline(target) else _missing_keys(target))


def _missing_keys(model: str) -> list[str]:
    """Environment keys LiteLLM says this model needs and doesn't have (no network)."""
    try:
        found = load_litellm().validate_environment(model=model)
    except Exception:  # an id LiteLLM can't parse: the call's own error says more
        return []
    return list(found.get("missing_keys") or [])


def _reply(model: str, target: str, response: Any, latency: float, request: dict[str, Any]) -> ModelReply:
    """LiteLLM's response as a ModelReply with the accounting the run log needs."""
    message = response.choices[0].message
    usage = getattr(response, "usage", None)
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    sampling = {key: request[key] for key in ("temperature", "max_tokens", "tool_choice") if key in request}
    sampling.update(getattr(response, "_hidden_params", {}).get("sampling") or {})
    return ModelReply(
        model=model,
        text=message.content or "",
        tool_calls=[_tool_call(call) for call in message.tool_calls or []],
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=_cost(model, target, response, prompt, completion),
        latency_s=latency,
        provider_model_version=getattr(response, "model", None),
        sampling=sampling,
    )


def _tool_call(call: Any) -> ToolCall:
    """An OpenAI-style tool call; arguments that aren't a JSON object are kept under '_raw' for the caller to reject."""
    raw = call.function.arguments or "{}"
    try:
        arguments = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (ValueError, TypeError):
        arguments = {"_raw": raw}
    if not isinstance(arguments, dict):
        arguments = {"_raw": raw}
    return ToolCall(name=call.function.name or "", arguments=arguments, id=call.id or "")


def _cost(model: str, target: str, response: Any, prompt: int, completion: int) -> float:
    """Registry prices when set, else LiteLLM's cost map, else 0 (offline models are always free unless priced)."""
    priced = catalog.registry_cost(model, prompt, completion)
    if priced is None and target != model:
        priced = catalog.registry_cost(target, prompt, completion)
    if priced is not None:
        return priced
    if is_offline(target):
        return 0.0
    try:
        return float(load_litellm().completion_cost(completion_response=response, model=target))
    except Exception:  # a model LiteLLM has no price for: record 0 rather than fail the call
        return 0.0
