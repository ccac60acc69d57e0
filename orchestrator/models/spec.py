"""The models.yaml schema (pydantic specs) and its loader, with file:line on every error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.errors import ConfigError, did_you_mean
from orchestrator.located_yaml import LocatedYaml, load_located_file, load_located_yaml


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelEntrySpec(_Spec):
    """Metadata for one LiteLLM model id; unset fields fall back to LiteLLM's cost map, then defaults."""

    description: str = Field("", description="A short note for people reading `orchestrator models`.")
    context_window: int | None = Field(None, gt=0, description="Maximum input tokens the model accepts.")
    input_cost_per_token: float | None = Field(
        None, ge=0, description="US dollars per prompt token; set it to override LiteLLM's price."
    )
    output_cost_per_token: float | None = Field(
        None, ge=0, description="US dollars per completion token; set it to override LiteLLM's price."
    )
    cache_read_input_token_cost: float | None = Field(
        None, ge=0, description="US dollars per prompt token read from the provider's prompt cache (affinity)."
    )
    typical_latency_s: float | None = Field(None, ge=0, description="Typical seconds for one call, for routing.")
    tokens_per_s: float | None = Field(
        None, gt=0, description="Generation speed in completion tokens per second (measured; for local models)."
    )
    parameters: int | None = Field(
        None, gt=0, description="Parameter count (e.g. 494_000_000), for the compute figure tokens x parameters."
    )
    supports_tools: bool | None = Field(None, description="Whether the model can make tool (function) calls.")
    rpm: int | None = Field(None, gt=0, description="Requests-per-minute limit for this deployment.")
    tpm: int | None = Field(None, gt=0, description="Tokens-per-minute limit for this deployment.")
    tags: list[str] = Field(default_factory=list, description="Free labels, e.g. 'local', 'eu-residency'.")


class ProfileSpec(_Spec):
    """A capability profile: an ordered model list, where the order is the failover order."""

    description: str = Field("", description="What this profile is for.")
    models: list[str] = Field(min_length=1, description="Model ids, first preferred; later ones are failovers.")

    @model_validator(mode="before")
    @classmethod
    def _accept_bare_list(cls, data: Any) -> Any:
        """Allow `high_reasoning: [model, ...]` as shorthand for `{models: [...]}`."""
        return {"models": data} if isinstance(data, list) else data


class PolicySpec(_Spec):
    """Role-binding policy."""

    critic_differs_from_builder: bool = Field(
        True, description="Check that the critic resolves to a different model than the builder."
    )
    strict_roles: bool = Field(False, description="Fail (instead of warn) when a role policy is violated.")


class RegistrySpec(_Spec):
    """One models.yaml layer; every section is optional and overrides earlier layers by name."""

    models: dict[str, ModelEntrySpec] = Field(default_factory=dict, description="Model id -> metadata.")
    profiles: dict[str, ProfileSpec] = Field(default_factory=dict, description="Capability profile -> models.")
    ladder: list[str] | None = Field(
        None, description="Escalation ladder of profile names, weakest first; replaces earlier ladders."
    )
    roles: dict[str, str] = Field(default_factory=dict, description="Persona -> profile name or model id.")
    default_profile: str | None = Field(None, description="Profile for personas that no layer binds.")
    policy: PolicySpec | None = Field(None, description="Role-binding policy; set fields override earlier layers.")

    @field_validator("models", "profiles", "roles")
    @classmethod
    def _names_are_words(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Names must be non-empty and free of spaces, since they appear on command lines."""
        for name in value:
            if not str(name).strip() or " " in str(name):
                raise ValueError(f"bad name {name!r}: use a non-empty name without spaces")
        return value


_ALL_FIELDS = sorted(
    {name for spec in (ModelEntrySpec, ProfileSpec, PolicySpec, RegistrySpec) for name in spec.model_fields}
)


@dataclass(frozen=True)
class LoadedSpec:
    """A parsed layer plus what is needed to point at its lines in later errors."""

    spec: RegistrySpec
    where: str
    located: LocatedYaml | None = None

    def place(self, *loc: Any) -> str:
        """`file:line` of the given field path, or just the file when the line is unknown."""
        return self.located.where(loc) if self.located else self.where


def load_spec_file(path: Path) -> LoadedSpec:
    """Read one models.yaml layer; raise ConfigError naming file:line and the field path."""
    located = load_located_file(path)
    return _validate(located)


def parse_spec_text(text: str, where: str) -> LoadedSpec:
    """Parse models.yaml text; `where` names the source in error messages."""
    return _validate(load_located_yaml(text, where))


def _validate(located: LocatedYaml) -> LoadedSpec:
    where, data = located.source, located.data
    if data is None:
        return LoadedSpec(RegistrySpec(), where)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}:1: expected a mapping with models/profiles/ladder/roles, got {type(data).__name__}")
    try:
        return LoadedSpec(RegistrySpec.model_validate(data), where, located)
    except ValidationError as exc:
        raise ConfigError("\n".join(_describe(located, err) for err in exc.errors())) from exc


def _describe(located: LocatedYaml, err: Any) -> str:
    """One error line: `file:line: field.path: message (Did you mean ...?)`."""
    loc = tuple(err["loc"])
    field = _field_path(loc)
    if err["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}.{did_you_mean(str(loc[-1]), _ALL_FIELDS)}"
    else:
        message = err["msg"]
    place = located.where(loc)
    return f"{place}: {field}: {message}" if field else f"{place}: {message}"


def _field_path(loc: tuple[Any, ...]) -> str:
    """Render a pydantic loc as `profiles.fast.models[0]` (names with dots or slashes are quoted)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "/" in str(part) or "." in str(part):
            out += f"[{str(part)!r}]"
        else:
            out += f".{part}" if out else str(part)
    return out
