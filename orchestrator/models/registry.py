"""The model registry: five layers of models.yaml merged by name, role resolution and the role policy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError, UnknownNameError, did_you_mean
from orchestrator.models import catalog, tracing
from orchestrator.models.ids import LOCAL_MODELS, is_offline, is_script_path, normalise_model_id, provider_of
from orchestrator.models.repo_trust import keep_endpoint, load_repo_layer, user_config_path
from orchestrator.models.secrets import register_secret_names
from orchestrator.models.spec import (
    ENDPOINT_FIELDS,
    LoadedSpec,
    ModelEntrySpec,
    PolicySpec,
    ProfileSpec,
    RegistrySpec,
    TracingSpec,
    load_spec_file,
    parse_spec_text,
)

_DEFAULT_INFO = {"context_window": 8192, "typical_latency_s": 5.0, "supports_tools": True}


class OverrideSyntaxError(ConfigError):
    """A `--model ROLE=MODEL_OR_PROFILE` argument that doesn't parse: a usage mistake (exit code 2)."""

    exit_code = 2


@dataclass(frozen=True)
class ResolvedRole:
    """Where a persona's calls go: its profile (None for a direct model id), ordered models, and which layer said so."""

    persona: str
    profile: str | None
    models: tuple[str, ...]
    source: str

    @property
    def model(self) -> str:
        """The first (preferred) model; the rest are failovers."""
        return self.models[0]


@dataclass(frozen=True)
class ModelInfo:
    """Metadata for one model id, merged from the registry, LiteLLM's cost map and defaults."""

    id: str
    context_window: int
    input_cost_per_token: float
    output_cost_per_token: float
    typical_latency_s: float
    supports_tools: bool
    rpm: int | None = None
    tpm: int | None = None
    tokens_per_s: float | None = None
    parameters: int | None = None  # for the compute figure tokens x parameters; None when nobody said
    tags: tuple[str, ...] = ()
    description: str = ""
    source: str = "default"
    price_known: bool = True  # False for a network model nobody prices: its cost would read $0
    cache_read_input_token_cost: float | None = None


@dataclass(frozen=True)
class _Binding:
    value: str
    source: str
    where: str


@dataclass
class _Merged:
    models: dict[str, ModelEntrySpec] = field(default_factory=dict)
    profiles: dict[str, tuple[ProfileSpec, str]] = field(default_factory=dict)
    roles: dict[str, _Binding] = field(default_factory=dict)
    ladder: tuple[list[str], str] = ([], "")
    default_profile: tuple[str | None, str] = (None, "")
    policy: dict[str, Any] = field(default_factory=dict)
    tracing: dict[str, Any] = field(default_factory=dict)
    new_cli_personas: list[str] = field(default_factory=list)


class Registry:
    """Merged model registry: profiles, ladder, role bindings and model metadata."""

    def __init__(self, merged: _Merged, layers: list[str]):
        self._models = merged.models
        self._profiles = {name: spec for name, (spec, _) in merged.profiles.items()}
        self._roles = merged.roles
        self._ladder = tuple(merged.ladder[0])
        self._default_profile = merged.default_profile[0]
        self.policy = PolicySpec(**merged.policy)
        self.tracing = TracingSpec(**merged.tracing)
        self.layers = tuple(layers)
        self._new_cli_personas = tuple(merged.new_cli_personas)
        self._info: dict[str, ModelInfo] = {}  # model_info's answers: nothing it reads changes after loading

    @property
    def ladder(self) -> tuple[str, ...]:
        """Escalation ladder of profile names, weakest first."""
        return self._ladder

    @property
    def profiles(self) -> tuple[str, ...]:
        """Every profile name."""
        return tuple(self._profiles)

    @property
    def personas(self) -> tuple[str, ...]:
        """Every persona that some layer binds."""
        return tuple(self._roles)

    def models_for_profile(self, name: str) -> list[str]:
        """The profile's models in failover order."""
        if name not in self._profiles:
            raise UnknownNameError("profile", name, self._profiles)
        return list(self._profiles[name].models)

    def resolve(self, persona: str) -> ResolvedRole:
        """Persona -> profile and ordered models, naming the layer that decided."""
        binding = self._roles.get(persona)
        if binding is None and self._default_profile:
            binding = _Binding(self._default_profile, "default", "default_profile")
        if binding is None:
            raise UnknownNameError("persona", persona, self._roles)
        if binding.value in self._profiles:
            models = tuple(self.models_for_profile(binding.value))
            return ResolvedRole(persona, binding.value, models, binding.source)
        return ResolvedRole(persona, None, (binding.value,), binding.source)

    def next_rung(self, profile: str) -> str | None:
        """The next stronger profile on the ladder, or None at the top or off the ladder."""
        if profile not in self._profiles:
            raise UnknownNameError("profile", profile, self._profiles)
        if profile not in self._ladder:
            return None
        index = self._ladder.index(profile)
        return self._ladder[index + 1] if index + 1 < len(self._ladder) else None

    def model_info(self, model_id: str) -> ModelInfo:
        """Metadata for a model id: registry first, then LiteLLM's cost map, then defaults."""
        model_id = normalise_model_id(model_id)
        return self._info.get(model_id) or self._info.setdefault(model_id, self._model_info(model_id))

    def _model_info(self, model_id: str) -> ModelInfo:
        entry = self._models.get(model_id)
        values: dict[str, Any] = entry.model_dump(exclude_none=True, exclude=ENDPOINT_FIELDS) if entry else {}
        source = "registry" if entry else "default"
        if is_offline(model_id):
            values = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0, **values}
            values.setdefault("typical_latency_s", 0.0 if provider_of(model_id) != "local" else 3.0)
            values.setdefault("tags", ["offline"])
            if provider_of(model_id) != "local":
                values.setdefault("context_window", 1_000_000)
        litellm_values = catalog.litellm_info(entry.litellm_model or model_id if entry else model_id)
        if litellm_values and not entry:
            source = "litellm"
        merged: dict[str, Any] = {**_DEFAULT_INFO, "input_cost_per_token": 0.0, "output_cost_per_token": 0.0}
        merged.update(litellm_values)
        merged.update(values)
        merged["tags"] = tuple(merged.get("tags", ()))
        priced = {"input_cost_per_token", "output_cost_per_token"} <= {*values, *litellm_values}
        return ModelInfo(id=model_id, source=source, price_known=priced, **merged)

    def check_roles(self, strict: bool | None = None, *, critics: Iterable[str] = ("critic",),
                    builders: Iterable[str] = ("builder",), used: Iterable[str] = ()) -> list[str]:
        """Policy warnings (every critic vs every builder); with strict (default: the policy's), raise instead.

        `used` names the personas the workflow uses: `--model` may bind any of them without a warning.
        """
        bound = [p for p in self._roles if p not in self._new_cli_personas]
        known = set(used)
        warnings = [
            f"--model binds {p!r}, which no models.yaml layer or workflow binds.{did_you_mean(p, [*bound, *known])}"
            for p in self._new_cli_personas if p not in known
        ]
        if self.policy.critic_differs_from_builder:
            warnings += self._shared_models(list(dict.fromkeys(critics)), list(dict.fromkeys(builders)))
        strict = self.policy.strict_roles if strict is None else strict
        if strict and warnings:
            raise ConfigError("role policy violated: " + "\n".join(warnings))
        return warnings

    def _shared_models(self, critics: list[str], builders: list[str]) -> list[str]:
        """One warning per critic (or moderator) that resolves to a builder's model."""
        warnings = []
        for critic_name in critics:
            for builder_name in builders:
                if critic_name == builder_name or not self._resolvable(critic_name, builder_name):
                    continue
                critic, builder = self.resolve(critic_name), self.resolve(builder_name)
                if critic.model == builder.model:
                    warnings.append(
                        f"{critic_name} and {builder_name} both resolve to {critic.model!r} ({critic_name} from "
                        f"{critic.source}, {builder_name} from {builder.source}); a critic on the builder's model "
                        f"reviews its own blind spots. Bind the {critic_name} to another model, e.g. "
                        f"--model {critic_name}=anthropic/claude-sonnet-4-5"
                    )
        return warnings

    def _resolvable(self, *personas: str) -> bool:
        return all(p in self._roles or self._default_profile for p in personas)

    def table(self) -> list[dict[str, Any]]:
        """One row per persona for `orchestrator models`: binding, models and the primary model's metadata."""
        rows = []
        for persona in self._roles:
            role = self.resolve(persona)
            info = self.model_info(role.model)
            rows.append(
                {
                    "persona": persona,
                    "profile": role.profile or "",
                    "model": role.model,
                    "fallbacks": list(role.models[1:]),
                    "source": role.source,
                    "context_window": info.context_window,
                    "input_cost_per_token": info.input_cost_per_token,
                    "output_cost_per_token": info.output_cost_per_token,
                    "supports_tools": info.supports_tools,
                    "tokens_per_s": info.tokens_per_s,
                    "typical_latency_s": info.typical_latency_s,
                    "next_rung": self.next_rung(role.profile) if role.profile else None,
                }
            )
        return rows

    def referenced_models(self) -> dict[str, list[str]]:
        """Model id -> the personas and profiles that use it (what `models --check` must verify)."""
        users: dict[str, list[str]] = {}
        for name, spec in self._profiles.items():
            for model_id in spec.models:
                users.setdefault(model_id, []).append(f"profile {name}")
        for persona in self._roles:
            role = self.resolve(persona)
            if role.profile is None:
                users.setdefault(role.model, []).append(f"persona {persona}")
        return users

    def has_model_entry(self, model_id: str) -> bool:
        """True when some layer gives metadata for this id."""
        return model_id in self._models


def load_registry(
    repo: Path | None = None,
    workflow_models: dict[str, str] | None = None,
    overrides: dict[str, str] | None = None,
    *,
    known_personas: Iterable[str] | None = None,
    trust_repo: bool = False,
) -> Registry:
    """Merge the five layers (shipped, user, repo, workflow, --model) and validate every name (the repo's layer
    may set no endpoint, key or tracing unless `trust_repo`, --trust-repo-config)."""
    # With known_personas (e.g. the workflow's), a --model for any other persona is an error, not a warning.
    shipped = resources.files("orchestrator").joinpath("defaults/models.yaml")
    layers: list[tuple[str, LoadedSpec, Path | None]] = [
        ("shipped", parse_spec_text(shipped.read_text(encoding="utf-8"), "orchestrator/defaults/models.yaml"), None)
    ]
    user_file = user_config_path()
    if user_file.is_file():
        layers.append(("user", load_spec_file(user_file), user_file.parent))
    if (repo_layer := load_repo_layer(repo, trust_repo) if repo is not None else None) is not None:
        layers.append(("repo", repo_layer, repo))
    if workflow_models:
        layers.append(("workflow", _roles_layer(workflow_models, "workflow models:"), None))
    if overrides:
        layers.append(("cli", _roles_layer(overrides, "--model"), None))
    merged = _Merged()
    for name, loaded, base in layers:
        _merge(merged, name, loaded, base, keep_endpoints=name == "repo" and not trust_repo)
    _validate(merged)
    if known_personas is not None:
        known = {*known_personas, *(p for p in merged.roles if p not in merged.new_cli_personas)}
        for persona in merged.new_cli_personas:
            if persona not in known:
                raise UnknownNameError("persona", persona, known, where="--model")
    _publish(merged)
    return Registry(merged, [name for name, _, _ in layers])


def _publish(merged: _Merged) -> None:
    """Hand the gateway what later calls need: entries (prices, servers), key variables, tracing settings."""
    catalog.publish_entries({key: spec.model_dump(exclude_none=True) for key, spec in merged.models.items()})
    register_secret_names(spec.api_key_env for spec in merged.models.values() if spec.api_key_env)
    tracing.configure(**merged.tracing)


def _roles_layer(bindings: dict[str, str], where: str) -> LoadedSpec:
    """A layer made only of persona bindings (the workflow's `models:` or `--model`)."""
    if not isinstance(bindings, dict) or not all(isinstance(v, str) for v in bindings.values()):
        raise ConfigError(f"{where}: expected a mapping of persona -> profile or model id, got {bindings!r}")
    return LoadedSpec(RegistrySpec(roles={str(k): v for k, v in bindings.items()}), where)


def _merge(merged: _Merged, layer: str, loaded: LoadedSpec, base: Path | None, keep_endpoints: bool = False) -> None:
    """Apply one layer on top of the merged state, later names replacing earlier ones (with keep_endpoints, an
    untrusted repo's, an entry replaces an earlier one's metadata, never its endpoint)."""
    spec = loaded.spec
    for model_id, entry in spec.models.items():
        key = normalise_model_id(model_id, base)
        merged.models[key] = keep_endpoint(merged.models.get(key), entry) if keep_endpoints else entry
    for name, profile in spec.profiles.items():
        models = [normalise_model_id(m, base) for m in profile.models]
        merged.profiles[name] = (profile.model_copy(update={"models": models}), loaded.place("profiles", name))
    for persona, value in spec.roles.items():
        if layer == "cli" and persona not in merged.roles:
            merged.new_cli_personas.append(persona)
        merged.roles[persona] = _Binding(normalise_model_id(value, base), layer, _role_place(layer, loaded, persona))
    if spec.ladder is not None:
        merged.ladder = (spec.ladder, loaded.place("ladder"))
    if spec.default_profile is not None:
        merged.default_profile = (spec.default_profile, loaded.place("default_profile"))
    if spec.policy is not None:
        merged.policy.update(spec.policy.model_dump(include=spec.policy.model_fields_set))
    if spec.tracing is not None:
        merged.tracing.update(spec.tracing.model_dump(include=spec.tracing.model_fields_set))


def _role_place(layer: str, loaded: LoadedSpec, persona: str) -> str:
    """Where a binding came from, for error messages: `file:line: roles.x`, `--model x` or the workflow."""
    if layer == "cli":
        return f"--model {persona}={loaded.spec.roles[persona]}"
    if layer == "workflow":
        return f"workflow models.{persona}"
    return f"{loaded.place('roles', persona)}: roles.{persona}"


def _validate(merged: _Merged) -> None:
    """Every profile entry, ladder rung, default and role value must name something real; report them all."""
    problems: list[ConfigError] = []
    profiles = merged.profiles
    for name, (spec, where) in profiles.items():
        for index, model_id in enumerate(spec.models):
            place = f"{where}: profiles.{name}.models[{index}]"
            problems += model_id_problems(model_id, merged.models, profiles, place)
    rungs, where = merged.ladder
    problems += [UnknownNameError("profile", r, profiles, where=f"{where}: ladder") for r in rungs if r not in profiles]
    if len(set(rungs)) != len(rungs):
        problems.append(ConfigError(f"{where}: ladder: a profile appears twice in {rungs}"))
    default, where = merged.default_profile
    if default is not None and default not in profiles:
        problems.append(UnknownNameError("profile", default, profiles, where=f"{where}: default_profile"))
    for binding in merged.roles.values():
        if binding.value not in profiles:
            problems += model_id_problems(binding.value, merged.models, profiles, binding.where)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ConfigError("\n".join(str(p) for p in problems))


def model_id_problems(model_id: str, models: Any, profiles: Any, where: str) -> list[ConfigError]:
    """Refuse ids that can't work; leave plausible LiteLLM ids (provider/name) to `models --check`."""
    if is_script_path(model_id):
        path = Path(model_id.partition(":")[2])
        return [] if path.is_file() else [ConfigError(f"{where}: script file not found: {path}")]
    provider, _, name = model_id.partition("/")
    if provider == "local" and name not in LOCAL_MODELS:
        return [UnknownNameError("local model", model_id, [f"local/{m}" for m in LOCAL_MODELS], where=where)]
    if model_id in models or catalog.litellm_entry(model_id):
        return []
    if provider_of(model_id):
        near = catalog.closest_model_id(model_id)
        # Only a near-miss of a known id is refused: a new id LiteLLM doesn't list yet may be right.
        return [ConfigError(f"{where}: unknown model id {model_id!r}. Did you mean {near!r}? (To use an id "
                            "LiteLLM doesn't list, describe it under `models:` in models.yaml.)")] if near else []
    known = [*profiles, *models]
    error = UnknownNameError("profile or model", model_id, known, where=where)
    if not did_you_mean(model_id, known):
        error.args = (f"{error} Use a profile ({', '.join(profiles)}) or a provider/model id.",)
    return [error]


def parse_model_overrides(items: list[str]) -> dict[str, str]:
    """Parse `--model ROLE=MODEL_OR_PROFILE` arguments into {persona: value}; later ones win."""
    out: dict[str, str] = {}
    for item in items:
        role, sep, value = item.partition("=")
        role, value = role.strip(), value.strip()
        if not sep or not role or not value or " " in role:
            raise OverrideSyntaxError(
                f"--model {item!r}: expected ROLE=MODEL_OR_PROFILE, "
                "e.g. --model builder=openai/gpt-4o-mini or --model critic=high_reasoning"
            )
        out[role] = value
    return out
