"""LiteLLM exceptions -> ModelCallError: whether a retry can help, and what the user should do."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import ModelError, did_you_mean
from orchestrator.models import catalog
from orchestrator.models.ids import provider_of
from orchestrator.models.secrets import redact


@dataclass(frozen=True)
class Failure:
    """How to treat one LiteLLM exception class: retry it? does it count against the model's circuit breaker?"""

    retryable: bool
    hint: str
    # False when the failure belongs to the request (too long, refused content), not to the model's health.
    trips_breaker: bool = True


def _request_failure(hint: str) -> Failure:
    """A failure of this request, not of the model: no retry, and the breaker doesn't count it."""
    return Failure(False, hint, trips_breaker=False)


# Looked up along the exception's MRO, so a subclass (ContextWindowExceededError) wins over its base.
FAILURES: dict[str, Failure] = {
    "AuthenticationError": Failure(False, "The provider rejected the credentials; check the API key."),
    "PermissionDeniedError": Failure(False, "The key lacks access to this model; check the account's plan."),
    "NotFoundError": Failure(False, "The provider doesn't know this model id; run `orchestrator models --check`."),
    "PaymentRequiredError": Failure(
        False, "The provider account is out of credit or over its quota; top it up, or add a failover model."
    ),
    "ContextWindowExceededError": _request_failure(
        "The prompt is longer than the model's context window; bind the persona to massive_context."
    ),
    "ContentPolicyViolationError": _request_failure("The provider refused the content under its safety policy."),
    "UnsupportedParamsError": _request_failure("The model doesn't support a parameter sent (tools, temperature?)."),
    "BadRequestError": _request_failure("The provider rejected the request as malformed."),
    "UnprocessableEntityError": _request_failure("The provider could not process the request."),
    "BudgetExceededError": Failure(False, "A LiteLLM budget is exhausted; raise it or wait for the reset."),
    # Raised by the gateway itself (ratelimit.py) before a call over the model's rpm/tpm goes out.
    "LocalRateLimitError": Failure(
        True,
        "The model reached its models.yaml rpm/tpm for this minute; add a failover model or raise the limit.",
        trips_breaker=False,
    ),
    "RateLimitError": Failure(True, "Rate limited; wait, lower concurrency, or add a failover model to the profile."),
    "Timeout": Failure(True, "The provider did not answer in time; it may be overloaded."),
    "ServiceUnavailableError": Failure(True, "The provider is down or overloaded; try later or fail over."),
    "InternalServerError": Failure(True, "The provider had an internal error; try again."),
    "BadGatewayError": Failure(True, "A gateway between here and the provider failed; try again."),
    "APIConnectionError": Failure(True, "Could not reach the provider; check the network, proxy or api_base."),
    "APIResponseValidationError": Failure(True, "The provider's answer was malformed; try again."),
    "APIError": Failure(True, "The provider returned an error."),
}
_PREFIXES = re.compile(r"^(?:litellm\.\w+:\s*)?(?:\w+Error:\s*)?")
# Providers report an empty account in many shapes: OpenAI as a 429, Anthropic as a 400, others as 402.
_QUOTA = re.compile(
    r"insufficient[ _](?:credit|funds|balance|quota)|quota[ _]exceeded|exceeded your current quota|"
    r"credit balance|out of credits?|billing|payment required",
    re.IGNORECASE,
)
_UNKNOWN = Failure(False, "Run with --debug for the full traceback.")


class ModelCallError(ModelError):
    """A failed model call, with the LiteLLM exception kind, whether a retry can help, and a hint."""

    def __init__(
        self, model: str, kind: str, detail: str, failure: Failure, hint: str = "", retry_after_s: float | None = None
    ):
        self.model, self.kind, self.retryable = model, kind, failure.retryable
        self.trips_breaker, self.retry_after_s = failure.trips_breaker, retry_after_s
        self.hint = hint or failure.hint
        super().__init__(f"{model}: {kind}: {detail} {self.hint}".strip())


def describe_failure(exc: BaseException, model: str, missing_keys: list[str] | None = None,
                     server_hint: Callable[[], str] | None = None) -> ModelCallError:
    """Wrap any exception from litellm.completion as a ModelCallError for people.

    `server_hint()` is asked, for a failure a server that is down also gives, whether the model's own server
    answers (its words replace the provider hint when it doesn't)."""
    kind = failure_kind(exc)
    failure = FAILURES.get(kind, _UNKNOWN)
    hint = ""
    if missing_keys and (kind == "AuthenticationError" or _mentions_key(exc)):
        hint = key_hint(model, missing_keys)
        failure = Failure(False, hint)
        kind = "AuthenticationError"
    elif "provider not provided" in str(exc).lower() or kind == "NotFoundError":
        close = did_you_mean(model, catalog.known_litellm_ids(provider_of(model)))
        hint = f"Model ids are provider/name, e.g. openai/gpt-4o-mini.{close}"
    elif kind in SERVER_DOWN_KINDS and server_hint is not None:
        hint = server_hint()
    return ModelCallError(model, kind, _first_line(exc), failure, hint, _retry_after(exc))


SERVER_DOWN_KINDS = ("InternalServerError", "APIConnectionError", "ServiceUnavailableError", "BadGatewayError",
                     "Timeout")
"""Failures that a server of one's own that is not running also gives: its api_base is asked before blaming it."""


def failure_kind(exc: BaseException) -> str:
    """The FAILURES key for an exception: its LiteLLM class, unless the message says quota."""
    text = str(exc)
    if getattr(exc, "status_code", None) == 402 or _QUOTA.search(text):
        return "PaymentRequiredError"
    return next((cls.__name__ for cls in type(exc).__mro__ if cls.__name__ in FAILURES), type(exc).__name__)


def key_hint(model: str, missing_keys: list[str]) -> str:
    """'set OPENAI_API_KEY ...' naming every key LiteLLM says is missing for this model."""
    keys = ", ".join(missing_keys)
    return (
        f"Set {keys} in the environment (e.g. export {missing_keys[0]}=...) to use {provider_of(model) or model} "
        "models, or bind the persona to another model with --model."
    )


def _mentions_key(exc: BaseException) -> bool:
    """True when the provider's message is about a missing or bad API key."""
    text = str(exc).lower()
    return "api key" in text or "api_key" in text or "apikey" in text


def _retry_after(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait (a Retry-After header), if it said."""
    headers = getattr(exc, "litellm_response_headers", None) or getattr(getattr(exc, "response", None), "headers", None)
    try:
        value = float(headers.get("retry-after")) if headers else None
    except (TypeError, ValueError):  # an HTTP date or garbage: fall back to our own backoff
        return None
    return value if value is not None and value >= 0 else None


def _first_line(exc: Any) -> str:
    """The exception's message without LiteLLM's class-name prefixes and multi-line boilerplate, secrets redacted.

    Providers echo what they were sent ("Incorrect API key provided: sk-..."), and this text reaches the run log.
    """
    text = redact(str(getattr(exc, "message", None) or exc)).strip()
    line = (text.splitlines() or [type(exc).__name__])[0]
    return _PREFIXES.sub("", line)[:300]
