"""Model id conventions: providers, offline ids and the `scripted:PATH` form (no heavy imports)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.models.weights import LOCAL_WEIGHTS

SCRIPT_PREFIX = "scripted:"
LOCAL_MODELS = tuple(LOCAL_WEIGHTS)  # the embedded models, cheapest first


def provider_of(model_id: str) -> str:
    """The provider part of a LiteLLM-style id ('openai/gpt-4o' -> 'openai'; bare ids -> '')."""
    if model_id.startswith(SCRIPT_PREFIX):
        return "scripted"
    head, sep, _ = model_id.partition("/")
    return head if sep else ""


def is_offline(model_id: str) -> bool:
    """True for ids a registered in-process provider serves (local, scripted, function, a plugin's): no network,
    no key, no cost."""
    from orchestrator.models.providers.registry import provider_names

    return provider_of(model_id) in provider_names()


def is_script_path(model_id: str) -> bool:
    """True for the `scripted:PATH` form users type to replay replies from a YAML or JSONL file."""
    return model_id.startswith(SCRIPT_PREFIX)


def normalise_model_id(value: str, base: Path | None = None) -> str:
    """Strip whitespace and make a `scripted:PATH` absolute (relative to `base`, default the cwd)."""
    value = value.strip()
    if not is_script_path(value):
        return value
    try:
        path = Path(value[len(SCRIPT_PREFIX) :]).expanduser()
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        return SCRIPT_PREFIX + str(path.resolve())
    except (RuntimeError, ValueError, OSError):  # `~nobody/x`, a NUL character: no such file, said where it's used
        return value
