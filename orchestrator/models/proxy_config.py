"""A LiteLLM proxy `config.yaml` from the registry: model list, fallbacks, rpm/tpm and, optionally, Redis.

For teams that run one proxy in front of their providers: the proxy shares provider-side rate limits and
cooldowns across workers (with Redis). It is a backstop: the orchestrator's own reservation in the store
stays the hard spend cap. Keys are written as `os.environ/VARIABLE` references, never as values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.models import catalog, endpoints
from orchestrator.models.ids import is_offline

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry

REDIS_SETTINGS = {"redis_host": "os.environ/REDIS_HOST", "redis_port": "os.environ/REDIS_PORT",
                  "redis_password": "os.environ/REDIS_PASSWORD"}


def proxy_config(registry: Registry, redis: bool = False) -> dict[str, Any]:
    """The proxy's config as data: every network model the profiles or roles use, in failover order."""
    models = [m for m in registry.referenced_models() if not is_offline(m)]
    config: dict[str, Any] = {
        "model_list": [_deployment(registry, model) for model in models],
        "router_settings": {"num_retries": 0},  # the orchestrator retries and fails over itself
        "litellm_settings": {"drop_params": True},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    fallbacks = _fallbacks(registry, set(models))
    if fallbacks:
        config["router_settings"]["fallbacks"] = fallbacks
    if redis:
        config["router_settings"].update(REDIS_SETTINGS)
    return config


def _deployment(registry: Registry, model: str) -> dict[str, Any]:
    """One model_list entry: the model's LiteLLM id, server, key variable, timeout and limits."""
    entry = catalog.published_entry(model)
    params: dict[str, Any] = {"model": endpoints.litellm_id(model)}
    if entry.get("api_base"):
        params["api_base"] = entry["api_base"]
    if entry.get("api_key_env"):
        params["api_key"] = f"os.environ/{entry['api_key_env']}"
    if entry.get("timeout_s"):
        params["timeout"] = entry["timeout_s"]
    info = registry.model_info(model)
    params.update({k: v for k, v in (("rpm", info.rpm), ("tpm", info.tpm)) if v is not None})
    return {"model_name": model, "litellm_params": params}


def _fallbacks(registry: Registry, served: set[str]) -> list[dict[str, list[str]]]:
    """Each model's failover list: the models after it in the first profile listing it (served ones only)."""
    seen: dict[str, list[str]] = {}
    for profile in registry.profiles:
        listed = [m for m in registry.models_for_profile(profile) if m in served]
        for index, model in enumerate(listed):
            if index + 1 < len(listed):
                seen.setdefault(model, listed[index + 1:])
    return [{model: rest} for model, rest in seen.items()]
