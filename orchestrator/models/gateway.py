"""The one gateway every model call goes through: rate limits, accounting, listeners, the real-request switch.

In-process models (local/, scripted/, function/) are served directly; only a network model imports LiteLLM,
on its first call.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from orchestrator.errors import OrchestratorError, RealRequestBlockedError
from orchestrator.models import catalog, endpoints, tool_modes, tracing
from orchestrator.models.catalog import load_litellm
from orchestrator.models.failures import FAILURES, ModelCallError, describe_failure
from orchestrator.models.ids import SCRIPT_PREFIX, is_offline, is_script_path, normalise_model_id
from orchestrator.models.providers import offline
from orchestrator.models.providers.scripted import estimate_tokens, load_script
from orchestrator.models.ratelimit import Clock, Limits, RateLimiter
from orchestrator.models.scope import current_scope
from orchestrator.models.secrets import redact_data, secret_values
from orchestrator.models.types import ModelReply, ToolCall, ToolSpec

BLOCK_ENV = "ORCHESTRATOR_BLOCK_REAL_REQUESTS"
CallListener = Callable[[str, str, ModelReply, dict[str, Any]], None]

_blocked: bool | None = None  # None: follow the environment variable


def set_limits(model: str, rpm: int | None = None, tpm: int | None = None) -> None:
    """Give a model id its models.yaml rpm/tpm (None: unlimited); calls over them are refused before they go out."""
    current_scope().limiter.set_limits(_target(normalise_model_id(model)), rpm, tpm)


def reset_rate_limits(clock: Clock | None = None) -> None:
    """Forget the current scope's rpm/tpm counters and limits; `clock` (tests) gives the wall time in seconds."""
    current_scope().limiter = RateLimiter(clock or time.time)


def published_limits(model: str) -> Limits:
    """(rpm, tpm) from the models.yaml entries the last loaded registry published."""
    entry = catalog.published_entry(model) or catalog.published_entry(_target(model))
    return entry.get("rpm"), entry.get("tpm")


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
    current_scope().calls.add(fn)


def remove_call_listener(fn: CallListener) -> None:
    """Stop calling a listener; unknown listeners are ignored."""
    current_scope().calls.remove(fn)


def complete(
    model: str,
    messages: list[dict[str, Any]],
    *,
    tools: list[ToolSpec] | None = None,
    require_tool: bool = False,
    persona: str = "",
    temperature: float | None = None,
    max_tokens: int | None = None,
    seed: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> ModelReply:
    """Send one chat request and return the reply with tokens, cost, latency and sampling.

    In-process models answer directly; network models go through LiteLLM. Both take the same checks
    (real-request switch, rpm/tpm), the same error translation and the same listeners.
    """
    model = normalise_model_id(model)
    target = _target(model)
    # Whatever a packet, a file or a tool result carried, no known secret value leaves in a request.
    messages = redact_data(messages)
    # A server on this machine (api_base on loopback) is no network request: tests run against one.
    if not is_offline(target) and real_requests_blocked() and not endpoints.is_loopback(target):
        raise RealRequestBlockedError(
            f"real model call to {model!r} (persona {persona or '-'}) refused: real requests are switched off "
            f"(block_real_requests() or {BLOCK_ENV}=1). Bind the persona to local/smollm2 or a scripted model."
        )
    sampling = _sampling(tools, require_tool, temperature, max_tokens, seed)
    traced = {"metadata": metadata or {}, **sampling, "api_base": endpoints.api_base(target), "tools": tools}
    with tracing.model_span(model, endpoints.litellm_id(target), persona, traced) as span:
        _admit(model, target, messages)
        reply = _serve(model, target, messages, tools, sampling, persona, metadata)
        span.finish(reply)
    scope = current_scope()
    scope.limiter.record_tokens(target, reply.total_tokens)
    scope.notify_call(model, persona, reply, dict(metadata or {}))
    return reply


def _serve(
    model: str,
    target: str,
    messages: list[dict[str, Any]],
    tools: list[ToolSpec] | None,
    sampling: dict[str, Any],
    persona: str,
    metadata: dict[str, Any] | None,
) -> ModelReply:
    """The call itself, in-process or through LiteLLM, timed, with failures translated and tool calls read."""
    started = time.perf_counter()
    try:
        if is_offline(target):
            reply = _complete_offline(model, target, messages, tools or [], sampling, persona)
        else:
            reply = _complete_remote(model, target, messages, tools, sampling, persona, metadata)
    except OrchestratorError:
        raise
    except Exception as exc:
        raise _translate(exc, model, target) from exc
    reply.latency_s = time.perf_counter() - started
    return tool_modes.adapt_reply(reply, endpoints.tool_mode(target), tools)


def _target(model: str) -> str:
    """The id that serves a model: a `scripted:PATH` loads its script and becomes `scripted/file-...`."""
    return load_script(model[len(SCRIPT_PREFIX) :]) if is_script_path(model) else model


def _admit(model: str, target: str, messages: list[dict[str, Any]]) -> None:
    """Count the call against the model's rpm/tpm (published limits on first use), or refuse it before it goes out."""
    limiter = current_scope().limiter
    if not limiter.has_limits(target):
        limiter.set_limits(target, *published_limits(model))
    prompt = estimate_tokens("".join(str(m.get("content") or "") for m in messages))
    why = limiter.acquire(target, prompt)
    if why is not None:
        raise ModelCallError(model, "LocalRateLimitError", why, FAILURES["LocalRateLimitError"])


def _sampling(
    tools: list[ToolSpec] | None, require_tool: bool, temperature: float | None, max_tokens: int | None,
    seed: int | None = None,
) -> dict[str, Any]:
    """The sampling options sent; unset ones are left to the provider."""
    sampling: dict[str, Any] = {}
    if temperature is not None:
        sampling["temperature"] = temperature
    if seed is not None:
        sampling["seed"] = seed
    if max_tokens is not None:
        sampling["max_tokens"] = max_tokens
    if tools and require_tool:
        sampling["tool_choice"] = "required"
    return sampling


def _complete_offline(
    model: str,
    target: str,
    messages: list[dict[str, Any]],
    tools: list[ToolSpec],
    sampling: dict[str, Any],
    persona: str,
) -> ModelReply:
    """One in-process call: the embedded model or a registered fake, without LiteLLM."""
    answer = offline.serve(target, messages, tools, persona=persona, temperature=sampling.get("temperature"),
                           max_tokens=sampling.get("max_tokens"), seed=sampling.get("seed"))
    return ModelReply(
        model=model,
        text=answer.text,
        tool_calls=answer.tool_calls,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        cost_usd=_cost(model, target, None, answer.prompt_tokens, answer.completion_tokens),
        provider_model_version=answer.version,
        sampling={**sampling, **answer.sampling},
        cached_tokens=answer.cached_tokens,
    )


def _complete_remote(
    model: str,
    target: str,
    messages: list[dict[str, Any]],
    tools: list[ToolSpec] | None,
    sampling: dict[str, Any],
    persona: str,
    metadata: dict[str, Any] | None,
) -> ModelReply:
    """One network call through litellm.completion (imported here, on the first one)."""
    request: dict[str, Any] = {
        "model": target,
        "messages": messages,
        "metadata": {**(metadata or {}), "persona": persona},
        # Retries and failover belong to resilience.py, which sees every attempt.
        "num_retries": 0,
        # LiteLLM 1.106 imports its MCP bridge (and needs the `mcp` package) whenever tools are passed;
        # function tools never need it, so skip it.
        "_skip_mcp_handler": True,
        **sampling,
    }
    if tools:
        request["tools"] = [tool.as_openai() for tool in tools]
    _add_endpoint(request, target, tools, sampling.get("tool_choice") == "required")
    request["model"] = endpoints.litellm_id(target)  # an alias is sent as the id LiteLLM resolves
    litellm = load_litellm()
    tracing.apply_litellm_callbacks(litellm)
    response = litellm.completion(**request)
    # What was sent: a tool-call mode other than native drops tool_choice.
    sent = {key: request[key] for key in sampling if key in request}
    return _reply(model, target, response, sent)


def _add_endpoint(request: dict[str, Any], target: str, tools: list[ToolSpec] | None, require_tool: bool) -> None:
    """models.yaml's server, key, timeout and params for this model, and its way of taking tools."""
    request.update(endpoints.call_params(target))
    tool_modes.adapt_request(request, tools, require_tool, endpoints.tool_mode(target))


def _translate(exc: Exception, model: str, target: str) -> OrchestratorError:
    """Our own errors come back as themselves (also when wrapped); any other failure gets a kind and a hint."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OrchestratorError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return describe_failure(exc, model, [] if is_offline(target) else _missing_keys(target),
                            server_hint=lambda: endpoints.down_server_hint(target))


def _missing_keys(model: str) -> list[str]:
    """Environment keys this model needs and doesn't have: its api_key_env, else what LiteLLM says (no network)."""
    configured = endpoints.missing_keys(model)
    if configured is not None:
        return configured
    try:
        found = load_litellm().validate_environment(model=endpoints.litellm_id(model))
    except Exception:  # an id LiteLLM can't parse: the call's own error says more
        return []
    return list(found.get("missing_keys") or [])


def _reply(model: str, target: str, response: Any, sampling: dict[str, Any]) -> ModelReply:
    """LiteLLM's response as a ModelReply with the accounting the run log needs."""
    message = response.choices[0].message
    usage = getattr(response, "usage", None)
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    keys = secret_values(credentials_only=True)
    return ModelReply(
        model=model,
        # A server may echo what it was sent (a key, say): no credential goes further.
        text=redact_data(message.content or "", keys),
        tool_calls=[_tool_call(call, keys) for call in message.tool_calls or []],
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=_cost(model, target, response, prompt, completion),
        provider_model_version=getattr(response, "model", None),
        sampling={**sampling, **(getattr(response, "_hidden_params", {}).get("sampling") or {})},
    )


def _tool_call(call: Any, keys: dict[str, str]) -> ToolCall:
    """An OpenAI-style tool call; arguments that aren't a JSON object are kept under '_raw' for the caller to reject."""
    raw = call.function.arguments or "{}"
    try:
        arguments = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (ValueError, TypeError):
        arguments = {"_raw": raw}
    if not isinstance(arguments, dict):
        arguments = {"_raw": raw}
    return ToolCall(name=call.function.name or "", arguments=redact_data(arguments, keys), id=call.id or "")


def _cost(model: str, target: str, response: Any, prompt: int, completion: int) -> float:
    """Registry prices when set, else LiteLLM's cost map, else 0 (offline models are always free unless priced)."""
    priced = catalog.registry_cost(model, prompt, completion)
    if priced is None and target != model:
        priced = catalog.registry_cost(target, prompt, completion)
    if priced is not None:
        return priced
    if is_offline(target) or response is None:
        return 0.0
    try:
        return float(load_litellm().completion_cost(completion_response=response, model=endpoints.litellm_id(target)))
    except Exception:  # a model LiteLLM has no price for: record 0 rather than fail the call
        return 0.0
