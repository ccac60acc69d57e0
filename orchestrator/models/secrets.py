"""Secret values of the orchestrator's environment, scrubbed from text before a model, trace or database sees it."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

CREDENTIAL_NAME = re.compile(
    r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|HEADERS", re.IGNORECASE
)
"""Names of variables holding credentials; HEADERS covers OTEL_EXPORTER_OTLP_HEADERS, which carries tracing keys."""
SECRET_NAME = re.compile(
    CREDENTIAL_NAME.pattern + r"|^(AWS|OPENAI|ANTHROPIC|GEMINI|GOOGLE|AZURE|HF|HUGGING|COHERE|MISTRAL|GROQ|LITELLM)_",
    re.IGNORECASE,
)
"""Names kept out of child processes and tool output: credentials, and all of a provider's settings."""
MIN_SECRET_CHARS = 8
"""Shorter values ("1", "true", a region) are not secrets worth hiding and would garble ordinary text."""

_named: set[str] = set()  # variables models.yaml names as keys (api_key_env), whatever their names look like
_lock = threading.Lock()


def register_secret_names(names: Iterable[str]) -> None:
    """Treat these variables as secrets too (the registry passes every `api_key_env`)."""
    with _lock:
        _named.update(names)


def is_secret_name(name: str, *, credentials_only: bool = False) -> bool:
    """True for a variable whose value must never leave the process unredacted.

    With credentials_only, a provider's plain settings (AWS_REGION, OPENAI_BASE_URL) don't count: model
    output is redacted that way, so code that happens to contain "us-east-1" is not rewritten.
    """
    with _lock:
        named = name in _named
    return named or bool((CREDENTIAL_NAME if credentials_only else SECRET_NAME).search(name))


def secret_values(environ: Mapping[str, str] | None = None, *, credentials_only: bool = False) -> dict[str, str]:
    """value -> variable name for every secret variable of `environ` (default os.environ)."""
    source = os.environ if environ is None else environ
    found = {value: name for name, value in source.items()
             if len(value.strip()) >= MIN_SECRET_CHARS and is_secret_name(name, credentials_only=credentials_only)}
    return dict(sorted(found.items(), key=lambda item: -len(item[0])))  # longest first: no partial leftovers


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every known secret value replaced by `[redacted NAME]`."""
    for value, name in secret_values(environ).items():
        if value in text:
            text = text.replace(value, f"[redacted {name}]")
    return text


def redact_data(value: Any, secrets: Mapping[str, str] | None = None) -> Any:
    """A copy of JSON-like data (dicts, lists, strings) with every secret value redacted in its strings."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(value, str):
        for secret, name in secrets.items():
            value = value.replace(secret, f"[redacted {name}]") if secret in value else value
        return value
    if isinstance(value, dict):
        return {key: redact_data(sub, secrets) for key, sub in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(sub, secrets) for sub in value]
    return value
