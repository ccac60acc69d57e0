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
_names_version = 0  # goes up with every register_secret_names
_found: dict[bool, tuple[Any, dict[str, str]]] = {}
"""credentials_only -> (the names' version and environment it was computed from, its secret values): every
tool call and model reply is redacted, and neither changes often, so the environment is scanned when one did."""


def register_secret_names(names: Iterable[str]) -> None:
    """Treat these variables as secrets too (the registry passes every `api_key_env`)."""
    global _names_version
    with _lock:
        _named.update(names)
        _names_version += 1


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
    if environ is not None:
        return _scan(environ, credentials_only)
    # A snapshot of os.environ's own storage is a cheap, exact key: any set, unset or change makes a new one.
    snapshot = (_names_version, tuple(getattr(os.environ, "_data", os.environ).items()))
    cached = _found.get(credentials_only)
    if cached is not None and cached[0] == snapshot:
        return dict(cached[1])
    found = _scan(os.environ, credentials_only)
    with _lock:
        _found[credentials_only] = (snapshot, found)
    return dict(found)


def _scan(environ: Mapping[str, str], credentials_only: bool) -> dict[str, str]:
    found = {value: name for name, value in environ.items()
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
