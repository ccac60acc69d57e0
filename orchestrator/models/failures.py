"""LiteLLM exceptions -> ModelCallError: whether a retry can help, and what the user should do."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from orchestrator.errors import ModelError, did_you_mean
from orchestrator.models import catalog
from orchestrator.models.ids import provider_of


@dataclass(frozen=True)
class Failure:
    """How to treat one LiteLLM exception class."""

    retryable: bool
    hint: str


# Looked up along the exception's MRO, so a subclass (ContextWindowExceededError) wins over its base.
FAILURES: dict[str, Failure] = {
    "AuthenticationError": Failure(False, "The provider rejected the credentials; check the API key."),
    "PermissionDeniedError": Failure(False, "The key lacks access to this model; check the account's plan."),
    "NotFoundError": Failure(False, "The provider doesn't know this model id; run `orchestrator models --check`."),
    "ContextWindowExceededError": Failure(
        False, "The prompt is longer than the model's context window; bind the persona to massive_context."
    ),
    "ContentPolicyViolationError": Failure(False, "The provider refused the content under its safety policy."),
    "UnsupportedParamsError": Failure(False, "The model doesn't support a parameter sent (tools, temperature?)."),
    "BadRequestError": Failure(False, "The provider rejected the request as malformed."),
    "UnprocessableEntityError": Failure(False, "The provider could not process the request."),
    "BudgetExceededError": Failure(False, "A LiteLLM budget is exhausted; raise it or wait for the reset."),
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
_UNKNOWN = Failure(False, "Run with --debug for the full traceback.")


class ModelCallError(ModelError):
    """A failed model call, with the LiteLLM exception kind, whether a retry can help, and a hint."""

    def __init__(self, model: str, kind: str, detail: str, failure: Failure, hint: str = ""):
        self.model, self.kind, self.retryable = model, kind, failure.retryable
        self.hint = hint or failure.hint
        super().__init__(f"{model}: {kind}: {detail} {self.hint}".strip())


def describe_failure(exc: BaseException, model: str, missing_keys: list[str] | None = None) -> ModelCallError:
    """Wrap any exception from litellm.completion as a ModelCallError for people."""
    kind = next((cls.__name__ for cls in type(exc).__mro__ if cls.__name__ in FAILURES), type(exc).__name__)
    failure = FAILURES.get(kind, _UNKNOWN)
    hint = ""
    if missing_keys and (kind == "AuthenticationError" or _mentions_key(exc)):
        hint = key_hint(model, missing_keys)
        failure = Failure(False, hint)
        kind = "AuthenticationError"
    elif "provider not provided" in str(exc).lower() or kind == "NotFoundError":
        close = did_you_mean(model, catalog.known_litellm_ids(provider_of(model)))
        hint = f"Model ids are provider/name, e.g. openai/gpt-4o-mini.{close}"
    return ModelCallError(model, kind, _first_line(exc), failure, hint)


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


def _first_line(exc: Any) -> str:
    """The exception's message without LiteLLM's class-name prefixes and multi-line boilerplate."""
    text = str(getattr(exc, "message", None) or exc).strip()
    line = (text.splitlines() or [type(exc).__name__])[0]
    return _PREFIXES.sub("", line)[:300]
