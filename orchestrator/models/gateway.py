"""The one gateway every model call goes through: the LiteLLM Router, accounting, listeners, the real-request switch."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from orchestrator.errors import OrchestratorError, RealRequestBlockedError
from orchestrator.models import catalog, endpoints, tool_modes, tracing
from orchestrator.models.failures import describe_failure
from orchestrator.models.ids import OFFLINE_PROVIDERS, SCRIPT_PREFIX, is_offline, is_script_path, normalise_model_id
from orchestrator.models.listeners import Listeners
from orchestrator.models.providers.scripted import load_script
from orchestrator.models.secrets import redact_data, secret_values
from orchestrator.models.types import ModelReply, ToolCall, ToolSpec

BLOCK_ENV = "ORCHESTRATOR_BLOCK_REAL_REQUESTS"
ATTEMPT_KEY = "orchestrator_attempt"
CallListener = Callable[[str, str, ModelReply, dict[str, Any]], None]
Limits = tuple[int | None, int | None]

_listeners = Listeners()
_blocked: bool | None = None  # None: follow the environment variable
_lock = threading.Lock()
_deploy_lock = threading.Lock()
_litellm: Any = None
_router: Any = None
_deployed: dict[str, tuple[Any, ...]] = {}  # Router model group -> the (rpm, tpm, LiteLLM id) it was deployed with
_raised: dict[str, OrchestratorError] = {}  # attempt id -> our own error an offline provider raised


def load_litellm() -> Any:
    """Import LiteLLM once (no network, no noise) with the in-process providers registered."""
    global _litellm
    with _lock:
        if _litellm is None:
            from orchestrator.models.providers.offline import register_providers

            _litellm = register_providers()
            _record_provider_errors(_litellm)
        return _litellm


def load_router() -> Any:
    """The process's LiteLLM Router: one model group per model id, holding its rpm/tpm counters."""
    global _router
    litellm = load_litellm()
    with _lock:
        if _router is None:
            # Retries, fallbacks and health belong to resilience.py and breaker.py, which see every attempt;
            # the Router keeps what it does best and can later share through Redis: rpm/tpm accounting.
            _router = litellm.Router(
                model_list=[], routing_strategy="usage-based-routing-v2", num_retries=0, disable_cooldowns=True
            )
        return _router


def deploy(model: str, rpm: int | None = None, tpm: int | None = None) -> None:
    """Give a model id its Router model group with these limits (no-op when already deployed with them)."""
    target = _target(normalise_model_id(model))
    router = load_router()
    # One lock over check and upsert: a concurrent call must not reach the Router before its group exists.
    with _deploy_lock:
        if _deployed.get(target) != (rpm, tpm, endpoints.litellm_id(target)):
            router.upsert_deployment(_deployment(target, rpm, tpm))
            _deployed[target] = (rpm, tpm, endpoints.litellm_id(target))


def _deployment(target: str, rpm: int | None, tpm: int | None) -> Any:
    """A Router deployment serving one model id under its own name."""
    from litellm.types.router import Deployment

    params: dict[str, Any] = {"model": endpoints.litellm_id(target)}  # an alias's group serves its real id
    if rpm is not None:
        # usage-based-routing-v2 skips a deployment once `used + 1 >= rpm`, i.e. after rpm - 1 calls.
        params["rpm"] = rpm + 1
    if tpm is not None:
        params["tpm"] = tpm
    return Deployment(model_name=target, litellm_params=params)


def reset_rate_limits() -> None:
    """Forget the rpm/tpm counters and the limits deployed so far (for tests)."""
    with _deploy_lock:
        _deployed.clear()
        router = _router
    if router is not None:
        router.cache.flush_cache()


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
    _listeners.add(fn)


def remove_call_listener(fn: CallListener) -> None:
    """Stop calling a listener; unknown listeners are ignored."""
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
    """Send one chat request through the LiteLLM Router and return the reply with tokens, cost, latency and sampling."""
    model = normalise_model_id(model)
    target = _target(model)
    # A server on this machine (api_base on loopback) is no network request: tests run against one.
    if not is_offline(target) and real_requests_blocked() and not endpoints.is_loopback(target):
        raise RealRequestBlockedError(
            f"real model call to {model!r} (persona {persona or '-'}) refused: real requests are switched off "
            f"(block_real_requests() or {BLOCK_ENV}=1). Bind the persona to local/smollm2 or a scripted model."
        )
    request = _request(target, messages, tools, require_tool, persona, temperature, max_tokens, metadata)
    with tracing.model_span(model, endpoints.litellm_id(target), persona, request) as span:
        started = time.perf_counter()
        response = _send(model, target, request)
        reply = _reply(model, target, response, time.perf_counter() - started, request)
        reply = tool_modes.adapt_reply(reply, endpoints.tool_mode(target), tools)
        span.finish(reply)
    _listeners.notify(model, persona, reply, dict(metadata or {}))
    return reply


def _target(model: str) -> str:
    """The id LiteLLM serves: a `scripted:PATH` loads its script and becomes `scripted/file-...`."""
    return load_script(model[len(SCRIPT_PREFIX) :]) if is_script_path(model) else model


def _send(model: str, target: str, request: dict[str, Any]) -> Any:
    """One Router call (deploying the model on first use), with failures translated for people."""
    router = load_router()
    with _deploy_lock:
        deployed = target in _deployed
    if not deployed:
        deploy(model, *published_limits(model))
    attempt = uuid.uuid4().hex
    request["metadata"][ATTEMPT_KEY] = attempt
    if not is_offline(target):
        tracing.apply_litellm_callbacks(load_litellm())
    try:
        return router.completion(**request)
    except Exception as exc:
        raise _translate(exc, model, target, attempt) from exc
    finally:
        with _lock:
            _raised.pop(attempt, None)


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
    if not is_offline(target):
        _add_endpoint(request, target, tools, require_tool)
    return request


def _add_endpoint(request: dict[str, Any], target: str, tools: list[ToolSpec] | None, require_tool: bool) -> None:
    """models.yaml's server, key, timeout and params for this model, and its way of taking tools."""
    request.update(endpoints.call_params(target))
    tool_modes.adapt_request(request, tools, require_tool, endpoints.tool_mode(target))


def _translate(exc: Exception, model: str, target: str, attempt: str = "") -> OrchestratorError:
    """Our own errors raised inside a provider come back as themselves; LiteLLM's get a hint."""
    with _lock:
        own = _raised.pop(attempt, None)
    if own is not None:
        return own
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OrchestratorError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return describe_failure(exc, model, [] if is_offline(target) else _missing_keys(target))


def _record_provider_errors(litellm: Any) -> None:
    """Keep the offline providers' own errors by attempt id, so ScriptExhaustedError & co. surface unchanged.

    The Router's sync path runs each call in a fresh event loop inside an `except RuntimeError:` block,
    which overwrites the exception chain that `_translate` would otherwise follow back to our error.
    """
    for entry in litellm.custom_provider_map:
        handler = entry["custom_handler"]
        if entry["provider"] in OFFLINE_PROVIDERS and not getattr(handler, "records_errors", False):
            handler.completion = _recording(handler.completion)
            handler.records_errors = True


def _recording(completion: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a provider's completion so an OrchestratorError it raises is kept under the call's attempt id."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return completion(*args, **kwargs)
        except OrchestratorError as exc:
            attempt = ((kwargs.get("litellm_params") or {}).get("metadata") or {}).get(ATTEMPT_KEY)
            if attempt:
                with _lock:
                    _raised[attempt] = exc
            raise

    return wrapper


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


def _reply(model: str, target: str, response: Any, latency: float, request: dict[str, Any]) -> ModelReply:
    """LiteLLM's response as a ModelReply with the accounting the run log needs."""
    message = response.choices[0].message
    usage = getattr(response, "usage", None)
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    sampling = {key: request[key] for key in ("temperature", "max_tokens", "tool_choice") if key in request}
    sampling.update(getattr(response, "_hidden_params", {}).get("sampling") or {})
    keys = secret_values(credentials_only=True)
    return ModelReply(
        model=model,
        # A server may echo what it was sent (a key, say): no credential goes further.
        text=redact_data(message.content or "", keys),
        tool_calls=[_tool_call(call, keys) for call in message.tool_calls or []],
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=_cost(model, target, response, prompt, completion),
        latency_s=latency,
        provider_model_version=getattr(response, "model", None),
        sampling=sampling,
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
    if is_offline(target):
        return 0.0
    try:
        return float(load_litellm().completion_cost(completion_response=response, model=endpoints.litellm_id(target)))
    except Exception:  # a model LiteLLM has no price for: record 0 rather than fail the call
        return 0.0
