"""What is known about a model id: registry-published entries and LiteLLM's model map (`litellm.model_cost`).

LiteLLM is imported only for a network model's entry: in-process ids (local/, scripted:, function/) never
consult the map, so offline runs and `validate` don't pay for the import."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from orchestrator.models.ids import is_offline

_published: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()
_import_lock = threading.Lock()  # apart from _lock: the import takes seconds, published entries must not wait
_litellm: Any = None


def load_litellm() -> Any:
    """Import LiteLLM once, when a network model needs it: no cost-map fetch, no debug noise."""
    global _litellm
    with _import_lock:
        if _litellm is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before the import: no fetch
            import litellm

            litellm.suppress_debug_info = True
            for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx"):
                logging.getLogger(name).setLevel(logging.WARNING)
            _litellm = litellm
        return _litellm


def litellm_model_map() -> dict[str, dict[str, Any]]:
    """LiteLLM's public model map, `litellm.model_cost` (importing LiteLLM on first use)."""
    return load_litellm().model_cost


def litellm_entry(model_id: str) -> dict[str, Any] | None:
    """LiteLLM's map entry for an id, trying `provider/name` then `name` with a matching provider; None for an
    in-process id (LiteLLM knows none of them)."""
    if is_offline(model_id):
        return None
    table = litellm_model_map()
    if model_id in table:
        return table[model_id]
    provider, sep, name = model_id.partition("/")
    entry = table.get(name) if sep else None
    if entry and str(entry.get("litellm_provider", "")).startswith(provider):
        return entry
    return None


def litellm_info(model_id: str) -> dict[str, Any]:
    """The registry's ModelInfo fields that LiteLLM's map knows for this id."""
    entry = litellm_entry(model_id) or {}
    out: dict[str, Any] = {}
    window = entry.get("max_input_tokens") or entry.get("max_tokens")
    if isinstance(window, int) and window > 0:
        out["context_window"] = window
    for key in ("input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost"):
        if isinstance(entry.get(key), (int, float)):
            out[key] = float(entry[key])
    if "supports_function_calling" in entry:
        out["supports_tools"] = bool(entry["supports_function_calling"])
    return out


def known_litellm_ids(provider: str = "") -> list[str]:
    """Ids in LiteLLM's map as `provider/name` (only that provider's when given), for did-you-mean hints."""
    if provider and is_offline(f"{provider}/x"):  # an in-process provider (local, scripted, a plugin's)
        return []
    ids = []
    for key, entry in litellm_model_map().items():
        owner = str(entry.get("litellm_provider", ""))
        full = key if key.startswith(f"{owner}/") else f"{owner}/{key}"
        if key != "sample_spec" and (not provider or owner == provider):
            ids.append(full)
    return ids


def closest_model_id(model_id: str) -> str | None:
    """The id in LiteLLM's map (same provider) closest to a mistyped one, or None when none is close."""
    import difflib

    if litellm_entry(model_id) is not None:
        return None
    provider = model_id.partition("/")[0]
    matches = difflib.get_close_matches(model_id, known_litellm_ids(provider), n=1, cutoff=0.85)
    return matches[0] if matches else None


def publish_entries(entries: dict[str, dict[str, Any]]) -> None:
    """Make registry model metadata (prices above all) visible to the gateway for later calls."""
    with _lock:
        _published.clear()
        _published.update(entries)


def published_entry(model_id: str) -> dict[str, Any]:
    """The registry metadata last published for this id, or {}."""
    with _lock:
        return dict(_published.get(model_id, {}))


def registry_cost(model_id: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Cost from registry prices when both are set; None means 'ask LiteLLM'."""
    entry = published_entry(model_id)
    price_in, price_out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
    if price_in is None or price_out is None:
        return None
    return prompt_tokens * price_in + completion_tokens * price_out
