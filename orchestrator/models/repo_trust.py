"""A repository's models.yaml is untrusted: it binds roles among the user's models, never chooses an endpoint or key."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.errors import ConfigError
from orchestrator.models.spec import ENDPOINT_FIELDS, LoadedSpec, ModelEntrySpec, load_spec_file

REPO_MODELS = Path(".orchestrator") / "models.yaml"
TRUST_HINT = ("Move it to your own ~/.config/orchestrator/models.yaml, or pass --trust-repo-config if you trust "
              "this repository with your keys.")


def user_config_path() -> Path:
    """`$XDG_CONFIG_HOME/orchestrator/models.yaml`, defaulting to `~/.config/orchestrator/models.yaml`."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "orchestrator" / "models.yaml"


def repo_models_file(repo: Path) -> Path | None:
    """The repo's `.orchestrator/models.yaml`, or None; a link that leaves the repository is refused."""
    path = Path(repo) / REPO_MODELS
    if not path.is_file():
        return None
    real_repo = Path(repo).resolve()
    if not path.resolve().is_relative_to(real_repo) or path.stat().st_nlink > 1:
        raise ConfigError(f"{path}: a link to a file outside the repository (or a hard link); a repository's "
                          "models.yaml must be a plain file in it. Remove the link.")
    return path


def load_repo_layer(repo: Path, trusted: bool) -> LoadedSpec | None:
    """The repo's models.yaml layer; unless trusted, any field that steers a request is a located error."""
    path = repo_models_file(repo)
    if path is None:
        return None
    loaded = load_spec_file(path)
    if not trusted:
        problems = steering_fields(loaded)
        if problems:
            raise ConfigError("\n".join(problems) + f"\n{TRUST_HINT}")
    return loaded


def steering_fields(loaded: LoadedSpec) -> list[str]:
    """`file:line: field: reason` for every field of a layer that decides where a request goes or what it carries."""
    problems = []
    for model_id, entry in loaded.spec.models.items():
        for name in sorted(entry.model_fields_set & ENDPOINT_FIELDS):
            problems.append(f"{loaded.place('models', model_id, name)}: models.{model_id}.{name}: a repository's "
                            "models.yaml may not choose where a model's requests go, which key they carry or how "
                            "they are sent")
    if loaded.spec.tracing is not None:
        problems.append(f"{loaded.place('tracing')}: tracing: a repository's models.yaml may not send copies of "
                        "requests to a tracing service")
    return problems


def keep_endpoint(earlier: ModelEntrySpec | None, entry: ModelEntrySpec) -> ModelEntrySpec:
    """A repo entry over a user's entry of the same id: the repo's metadata, the user's endpoint and key."""
    if earlier is None:
        return entry
    kept = {name: getattr(earlier, name) for name in ENDPOINT_FIELDS if name in earlier.model_fields_set}
    return entry.model_copy(update=kept)
