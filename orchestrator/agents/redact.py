"""Secret values of the orchestrator's own environment, scrubbed out of text before a model or a database sees it."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

SECRET_NAME = re.compile(
    r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE)"
    r"|^(AWS|OPENAI|ANTHROPIC|GEMINI|GOOGLE|AZURE|HF|HUGGING|COHERE|MISTRAL|GROQ|LITELLM)_",
    re.IGNORECASE,
)
MIN_SECRET_CHARS = 8
"""Shorter values ("1", "true", a region) are not secrets worth hiding and would garble ordinary text."""


def secret_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """value -> variable name for every secret-named variable of `environ` (default os.environ)."""
    source = os.environ if environ is None else environ
    found = {value: name for name, value in source.items()
             if SECRET_NAME.search(name) and len(value.strip()) >= MIN_SECRET_CHARS}
    return dict(sorted(found.items(), key=lambda item: -len(item[0])))  # longest first: no partial leftovers


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every known secret value replaced by `[redacted NAME]`."""
    for value, name in secret_values(environ).items():
        if value in text:
            text = text.replace(value, f"[redacted {name}]")
    return text
