"""Where one model's calls go: its server (api_base), its key's variable, timeout and extra LiteLLM parameters."""

from __future__ import annotations

import ipaddress
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from orchestrator.models import catalog
from orchestrator.models.failures import FAILURES, ModelCallError
from orchestrator.models.secrets import redact

NO_KEY = "no-key"
"""Sent to a server configured without api_key_env: never the provider's default key (e.g. OPENAI_API_KEY),
which a local or third-party server has no business seeing, and the OpenAI client refuses to send nothing."""
PROBE_TIMEOUT_S = 3.0


def litellm_id(model_id: str) -> str:
    """The id LiteLLM resolves: the entry's `litellm_model` for an alias, else the id itself."""
    return catalog.published_entry(model_id).get("litellm_model") or model_id


def api_base(model_id: str) -> str | None:
    """The model's server, when models.yaml names one."""
    return catalog.published_entry(model_id).get("api_base")


def tool_mode(model_id: str) -> str:
    """How tools reach this model: native, json_schema, json_object or text (models.yaml `tool_calls`)."""
    return catalog.published_entry(model_id).get("tool_calls") or "native"


def call_params(model_id: str) -> dict[str, Any]:
    """The per-call LiteLLM keyword arguments for this model: api_base, api_key, timeout and `params`.

    The key is read from its variable at each call (so a rotated key is picked up) and never stored.
    """
    entry = catalog.published_entry(model_id)
    out: dict[str, Any] = dict(entry.get("params") or {})
    if entry.get("api_base"):
        out["api_base"] = entry["api_base"]
    if entry.get("timeout_s"):
        out["timeout"] = entry["timeout_s"]
    variable = entry.get("api_key_env")
    if variable:
        if not os.environ.get(variable):
            raise ModelCallError(model_id, "AuthenticationError", f"{variable} is not set",
                                 FAILURES["AuthenticationError"], hint=key_hint(variable))
        out["api_key"] = os.environ[variable]
    elif entry.get("api_base"):
        out["api_key"] = NO_KEY
    return out


def key_hint(variable: str) -> str:
    """What to do about a missing key variable."""
    return f"Set {variable} in the environment (export {variable}=...), as models.yaml's api_key_env says."


def missing_keys(model_id: str) -> list[str] | None:
    """Variables this model needs and lacks; None means 'ask LiteLLM' (no api_base and no api_key_env)."""
    entry = catalog.published_entry(model_id)
    variable = entry.get("api_key_env")
    if variable:
        return [] if os.environ.get(variable) else [variable]
    return [] if entry.get("api_base") else None


def is_loopback(model_id: str) -> bool:
    """True when the model's server is this machine (127.0.0.0/8, ::1, localhost): calls don't leave it."""
    base = api_base(model_id)
    host = urlsplit(base).hostname if base else None
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def shown_base(url: str) -> str:
    """The api_base as shown to people and traces: scheme, host, port and path only."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


@dataclass(frozen=True)
class ProbeResult:
    """What `GET {api_base}/models` said: reachable or not, and a line for people."""

    ok: bool
    message: str


def probe(model_id: str, timeout_s: float = PROBE_TIMEOUT_S) -> ProbeResult:
    """Ask the model's server for its model list, with a short timeout; the key goes only to that server."""
    base = api_base(model_id)
    if not base:
        return ProbeResult(True, "no api_base")
    request = urllib.request.Request(f"{base}/models", headers={"Accept": "application/json"})
    variable = catalog.published_entry(model_id).get("api_key_env")
    if variable and os.environ.get(variable):
        request.add_header("Authorization", f"Bearer {os.environ[variable]}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - http(s) only (spec)
            served = _served_ids(response.read())
    except urllib.error.HTTPError as exc:
        return ProbeResult(False, f"{shown_base(base)} answered HTTP {exc.code} to GET /models")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return ProbeResult(False, redact(f"{shown_base(base)} unreachable within {timeout_s:g}s: {reason}"))
    listing = f", serving {', '.join(served[:5])}" if served else ""
    return ProbeResult(True, f"{shown_base(base)} reachable{listing}")


def _served_ids(body: bytes) -> list[str]:
    """Model ids of an OpenAI-style /models listing; [] for anything else."""
    try:
        data = json.loads(body)
    except ValueError:
        return []
    items = data.get("data") if isinstance(data, dict) else None
    return [str(item.get("id")) for item in items or [] if isinstance(item, dict) and item.get("id")]


def down_server_hint(model_id: str) -> str:
    """For a model served at an api_base that does not answer, say so as `models --check` would; else ""."""
    if not api_base(model_id):
        return ""
    result = probe(model_id)
    if result.ok:
        return ""
    return (f"The model's server does not answer: {result.message}. Start it, or bind the role to another model "
            "(`orchestrator models --check` asks every server).")
