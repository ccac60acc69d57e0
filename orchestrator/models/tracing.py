"""Tracing users already have: one OpenTelemetry span per model call, and LiteLLM callbacks for remote calls.

Both are off unless models.yaml (`tracing:`), the environment (ORCHESTRATOR_OTEL=1,
ORCHESTRATOR_LITELLM_CALLBACKS=langfuse,...) or an embedding program (`enable_otel(provider)`) switches them on.
Spans carry the GenAI semantic-convention attributes (model, provider, tokens, server) and the orchestrator's
persona, run, step and cost; never message content, keys or headers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from orchestrator.errors import ConfigError
from orchestrator.models.ids import provider_of
from orchestrator.models.secrets import redact
from orchestrator.models.types import ModelReply

OTEL_ENV = "ORCHESTRATOR_OTEL"
CALLBACKS_ENV = "ORCHESTRATOR_LITELLM_CALLBACKS"
TRACER_NAME = "orchestrator"
_lock = threading.Lock()
_configured: dict[str, Any] = {"otel": None, "litellm_callbacks": None}  # from the last loaded registry
_provider: Any = None  # a TracerProvider given by enable_otel(), else the global one
_forced: bool | None = None  # enable_otel() / disable_otel() win over config and environment
_applied_callbacks: tuple[str, ...] = ()


def configure(otel: bool | None = None, litellm_callbacks: list[str] | None = None) -> None:
    """The registry's `tracing:` settings (None: leave it to the environment)."""
    with _lock:
        _configured.update(otel=otel, litellm_callbacks=litellm_callbacks)


def enable_otel(tracer_provider: Any = None) -> None:
    """Emit spans to this TracerProvider (default: the global one), whatever config and environment say."""
    global _provider, _forced
    with _lock:
        _provider, _forced = tracer_provider, True


def disable_otel() -> None:
    """Back to config and environment deciding, with the global TracerProvider."""
    global _provider, _forced
    with _lock:
        _provider, _forced = None, None


def otel_enabled() -> bool:
    """Whether model calls make spans now."""
    with _lock:
        forced, configured = _forced, _configured["otel"]
    if forced is not None:
        return forced
    if configured is not None:
        return bool(configured)
    return os.environ.get(OTEL_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class CallSpan:
    """The span of one model call (or nothing, when tracing is off): `finish(reply)` records the answer."""

    def __init__(self, span: Any = None):
        self.span = span

    def finish(self, reply: ModelReply) -> None:
        """Record tokens, cost, the provider's model version and the tools called."""
        if self.span is None:
            return
        self.span.set_attributes(_drop_none({
            "gen_ai.response.model": reply.provider_model_version,
            "gen_ai.usage.input_tokens": reply.prompt_tokens,
            "gen_ai.usage.output_tokens": reply.completion_tokens,
            "orchestrator.cost_usd": reply.cost_usd,
            "orchestrator.answered_by": reply.model,
            "orchestrator.tool_calls": [call.name for call in reply.tool_calls],
        }))


@contextmanager
def model_span(model: str, sent_model: str, persona: str, request: dict[str, Any]) -> Iterator[CallSpan]:
    """A CLIENT span around one model call; an exception marks it failed (with a redacted message) and goes on."""
    if not otel_enabled():
        yield CallSpan()
        return
    try:
        from opentelemetry.trace import SpanKind, Status, StatusCode
    except ImportError as exc:
        raise ConfigError("tracing is on but OpenTelemetry is not installed: pip install opentelemetry-sdk") from exc
    with _tracer().start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT, record_exception=False,
                                         set_status_on_exception=False) as span:
        span.set_attributes(_request_attributes(model, sent_model, persona, request))
        try:
            yield CallSpan(span)
        except BaseException as exc:
            span.set_attribute("error.type", getattr(exc, "kind", type(exc).__name__))
            span.set_status(Status(StatusCode.ERROR, redact(str(exc))[:500]))
            raise


def _request_attributes(model: str, sent_model: str, persona: str, request: dict[str, Any]) -> dict[str, Any]:
    """What the span says about the request: no messages, no key, no headers."""
    metadata = request.get("metadata") or {}
    base = urlsplit(request["api_base"]) if request.get("api_base") else None
    return _drop_none({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider_of(sent_model) or None,
        "gen_ai.request.model": sent_model,
        "gen_ai.request.temperature": request.get("temperature"),
        "gen_ai.request.max_tokens": request.get("max_tokens"),
        "server.address": base.hostname if base else None,
        "server.port": base.port if base else None,
        "orchestrator.model": model,
        "orchestrator.persona": persona or None,
        "orchestrator.run_id": metadata.get("run_id"),
        "orchestrator.step": metadata.get("step"),
        "orchestrator.tools": len(request.get("tools") or []) or None,
    })


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _tracer() -> Any:
    """The tracer of the given provider, else of the global one (set up from OTEL_* variables when unset)."""
    with _lock:
        provider = _provider
    if provider is None:
        provider = _global_provider()
    return provider.get_tracer(TRACER_NAME)


def _global_provider() -> Any:
    """The global TracerProvider; when nobody set one, an SDK provider exporting as OTEL_TRACES_EXPORTER says."""
    from opentelemetry import trace

    current = trace.get_tracer_provider()
    if hasattr(current, "add_span_processor"):  # an SDK provider someone configured: use theirs
        return current
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    exporter = _exporter(os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower())
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return trace.get_tracer_provider()


def _exporter(name: str) -> Any:
    """The span exporter named by OTEL_TRACES_EXPORTER (otlp, console or none)."""
    if name == "none":
        return None
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise ConfigError(f"OTEL_TRACES_EXPORTER={name!r}: use otlp, console or none")
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ConfigError("tracing to OTLP needs its exporter: pip install opentelemetry-exporter-otlp-proto-http "
                          "(or set OTEL_TRACES_EXPORTER=console)") from exc
    return OTLPSpanExporter()  # endpoint and headers from OTEL_EXPORTER_OTLP_* variables


def litellm_callbacks() -> list[str]:
    """LiteLLM callback names to switch on: models.yaml's, else ORCHESTRATOR_LITELLM_CALLBACKS (comma-separated)."""
    with _lock:
        configured = _configured["litellm_callbacks"]
    if configured is not None:
        return list(configured)
    return [name.strip() for name in os.environ.get(CALLBACKS_ENV, "").split(",") if name.strip()]


def apply_litellm_callbacks(litellm: Any) -> None:
    """Add the configured callbacks to LiteLLM's success and failure callbacks (once per distinct setting)."""
    global _applied_callbacks
    names = tuple(litellm_callbacks())
    with _lock:
        if names == _applied_callbacks:
            return
        _applied_callbacks = names
    for attribute in ("success_callback", "failure_callback"):
        current = list(getattr(litellm, attribute, []) or [])
        setattr(litellm, attribute, list(dict.fromkeys([*current, *names])))
