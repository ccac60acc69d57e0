"""The models.yaml schema (pydantic specs) and its loader, with file:line on every error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.errors import ConfigError, did_you_mean
from orchestrator.located_yaml import LocatedYaml, field_path, load_located_file, load_located_yaml

ENDPOINT_FIELDS = {"litellm_model", "api_base", "api_key_env", "timeout_s", "tool_calls", "params"}
"""Where a model's calls go, not what it is: read from the published entries by endpoints.py, not by routing."""
ToolCallMode = Literal["native", "json_schema", "json_object", "text"]
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Keys whose values are secrets (api_key, aws_secret_access_key, azure_ad_token, an Authorization header), not
# max_tokens or top_k: they are checked at any depth, so extra_headers can't smuggle one in either.
_SECRET_PARAM = re.compile(r"key$|secret|password|credential|(^|_)token$|^authorization$|cookie", re.IGNORECASE)
RESERVED_PARAMS = {
    "model": "use litellm_model.",
    "messages": "the agents write them.",
    "tools": "the agents' tools are sent for each call; use tool_calls to choose how.",
    "tool_choice": "use tool_calls to choose how tools are sent.",
    "response_format": "use tool_calls: json_schema or json_object.",
    "api_base": "use the entry's api_base.",
    "base_url": "use the entry's api_base.",
    "timeout": "use timeout_s.",
    "metadata": "the gateway uses it for accounting.",
    "stream": "replies are read whole.",
}


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
    litellm_model: str | None = Field(
        None, description="The LiteLLM id sent to the provider, when this entry's name is an alias "
        "(e.g. two servers that both serve `openai/qwen`). Default: the entry's name."
    )
    api_base: str | None = Field(
        None, description="Base URL of the server for this model, e.g. http://127.0.0.1:8080/v1 for a local "
        "llama.cpp, vLLM or Ollama server. Calls to it never get the provider's default key."
    )
    api_key_env: str | None = Field(
        None, description="Name of the environment variable holding this model's API key (never the key itself)."
    )
    timeout_s: float | None = Field(None, gt=0, description="Seconds before one call to this model times out.")
    tool_calls: ToolCallMode | None = Field(
        None, description="How tool calls reach the model: `native` (the API's `tools`, the default), "
        "`json_schema` (OpenAI-style `response_format` with a JSON schema: vLLM, Ollama, LM Studio), "
        "`json_object` (llama-cpp-python's `{type: json_object, schema}`) or `text` (tools described in the "
        "prompt, `<tool_call>{...}</tool_call>` parsed from the reply, as Qwen and Hermes templates write them)."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Extra LiteLLM completion parameters for this model, e.g. "
        "{top_p: 0.9, extra_headers: {...}}; no secrets (use api_key_env)."
    )

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        """An api_base is an http(s) URL; a trailing slash is dropped so paths join cleanly."""
        if value is None:
            return value
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"api_base must be an http:// or https:// URL, got {value!r}")
        if "@" in value.split("/")[2]:
            raise ValueError("api_base holds credentials (user:password@): keep secrets out of models.yaml and "
                             "name the key's variable with api_key_env")
        return value.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _variable_name(cls, value: str | None) -> str | None:
        """The variable's name, not its value: a key pasted here would be committed with the file."""
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("api_key_env names the environment variable holding the key (e.g. LLAMA_API_KEY), "
                             "not the key itself")
        return value

    @field_validator("params")
    @classmethod
    def _no_reserved_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Parameters the gateway sets itself, or secrets, can't be set here."""
        for key in value:
            if key in RESERVED_PARAMS:
                raise ValueError(f"params.{key} is set by the orchestrator; {RESERVED_PARAMS[key]}")
        for path in _secret_keys(value, "params"):
            raise ValueError(f"{path} looks like a secret: keep secrets out of models.yaml "
                             "(name the key's variable with api_key_env)")
        return value


def _secret_keys(value: Any, path: str) -> list[str]:
    """Paths of mapping keys, at any depth, that name a secret."""
    if not isinstance(value, dict):
        return []
    found = []
    for key, sub in value.items():
        where = f"{path}.{key}"
        found += [where] if _SECRET_PARAM.search(str(key)) else _secret_keys(sub, where)
    return found


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


class TracingSpec(_Spec):
    """Where model calls are traced, besides the run log (the environment can switch these on too)."""

    otel: bool | None = Field(
        None, description="One OpenTelemetry span per model call (also ORCHESTRATOR_OTEL=1); exported as the "
        "standard OTEL_* variables say, e.g. OTLP to Langfuse, LangSmith or a collector."
    )
    litellm_callbacks: list[str] | None = Field(
        None, description="LiteLLM callbacks for remote calls, e.g. [langfuse] (also ORCHESTRATOR_LITELLM_CALLBACKS)."
    )


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
    tracing: TracingSpec | None = Field(None, description="Tracing of model calls; set fields override earlier layers.")

    @field_validator("models", "profiles", "roles")
    @classmethod
    def _names_are_words(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Names must be non-empty and free of spaces, since they appear on command lines."""
        for name in value:
            if not str(name).strip() or " " in str(name):
                raise ValueError(f"bad name {name!r}: use a non-empty name without spaces")
        return value


_SPECS = (ModelEntrySpec, ProfileSpec, PolicySpec, TracingSpec, RegistrySpec)
_ALL_FIELDS = sorted({name for spec in _SPECS for name in spec.model_fields})


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
    field = field_path(loc)
    if err["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}.{did_you_mean(str(loc[-1]), _ALL_FIELDS)}"
    else:
        message = err["msg"].removeprefix("Value error, ")
    place = located.where(loc)
    return f"{place}: {field}: {message}" if field else f"{place}: {message}"

