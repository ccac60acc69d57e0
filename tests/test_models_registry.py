"""Model registry: the five layers, role resolution, policy, ladder, errors people can act on, and a light import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError, UnknownNameError
from orchestrator.models.registry import (
    OverrideSyntaxError,
    load_registry,
    parse_model_overrides,
    user_config_path,
)

ROOT = Path(__file__).resolve().parent.parent
PERSONAS = ("surveyor", "spec_writer", "tester", "builder", "critic", "moderator", "dispatcher")


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty XDG config home and HOME, so only this test's files count."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg"


def write(path: Path, text: str) -> Path:
    """Write a file, creating its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


EMBEDDED = {
    "dispatcher": ("cheapest", "local/smollm2"),
    "surveyor": ("massive_context", "local/qwen2.5-coder-0.5b"),
    "tester": ("high_throughput", "local/qwen2.5-coder-0.5b"),
    "builder": ("high_throughput", "local/qwen2.5-coder-0.5b"),
    "spec_writer": ("high_reasoning", "local/qwen2.5-coder-1.5b"),
    "critic": ("high_reasoning", "local/qwen2.5-coder-1.5b"),
    "moderator": ("high_reasoning", "local/qwen2.5-coder-1.5b"),
}


def test_shipped_default_binds_every_persona_to_an_embedded_model_on_the_ladder(config_home: Path) -> None:
    registry = load_registry()
    assert registry.layers == ("shipped",)
    for persona in PERSONAS:
        role = registry.resolve(persona)
        assert (role.profile, role.models, role.source) == (*EMBEDDED[persona][:1], EMBEDDED[persona][1:], "shipped")
    rungs = [registry.models_for_profile(rung) for rung in registry.ladder]
    assert rungs == [["local/smollm2"], ["local/qwen2.5-coder-0.5b"], ["local/qwen2.5-coder-1.5b"]]
    assert all(m.startswith("local/") for p in registry.profiles for m in registry.models_for_profile(p))


def test_later_layers_override_earlier_ones_by_name(config_home: Path, tmp_path: Path) -> None:
    write(
        config_home / "orchestrator" / "models.yaml",
        "profiles:\n  high_reasoning: [anthropic/claude-sonnet-4-5, openai/gpt-4o]\nroles:\n  tester: high_reasoning\n",
    )
    repo = tmp_path / "repo"
    write(repo / ".orchestrator" / "models.yaml", "roles:\n  tester: openai/gpt-4o-mini\n  spec_writer: cheapest\n")
    registry = load_registry(
        repo, workflow_models={"spec_writer": "high_reasoning", "moderator": "cheapest"}, overrides={"moderator": "x/y"}
    )
    assert registry.layers == ("shipped", "user", "repo", "workflow", "cli")
    tester = registry.resolve("tester")
    assert (tester.profile, tester.models, tester.source) == (None, ("openai/gpt-4o-mini",), "repo")
    spec_writer = registry.resolve("spec_writer")
    assert spec_writer.models == ("anthropic/claude-sonnet-4-5", "openai/gpt-4o") and spec_writer.source == "workflow"
    assert registry.resolve("moderator").models == ("x/y",) and registry.resolve("moderator").source == "cli"
    assert registry.resolve("critic").source == "shipped"


def test_xdg_config_home_wins_over_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", "")
    assert user_config_path() == tmp_path / "home" / ".config" / "orchestrator" / "models.yaml"
    write(user_config_path(), "roles:\n  builder: cheapest\n")
    assert load_registry().resolve("builder").source == "user"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert user_config_path() == tmp_path / "xdg" / "orchestrator" / "models.yaml"
    assert load_registry().resolve("builder").source == "shipped"


def test_a_profile_name_in_a_binding_means_the_profile(config_home: Path) -> None:
    registry = load_registry(overrides={"builder": "high_reasoning"})
    assert registry.resolve("builder").profile == "high_reasoning"


def test_unknown_persona_falls_back_to_default_profile(config_home: Path) -> None:
    role = load_registry().resolve("security_reviewer")
    assert (role.profile, role.source) == ("high_throughput", "default")


def test_typo_in_a_profile_name_says_did_you_mean(config_home: Path) -> None:
    with pytest.raises(UnknownNameError, match=r"--model critic=high_reasonin: .*Did you mean 'high_reasoning'\?"):
        load_registry(overrides={"critic": "high_reasonin"})
    with pytest.raises(UnknownNameError, match="Did you mean 'local/smollm2'"):
        load_registry(overrides={"critic": "local/smolm2"})


def test_repo_file_errors_name_file_line_and_field(config_home: Path, tmp_path: Path) -> None:
    models = write(tmp_path / ".orchestrator" / "models.yaml", "models:\n  openai/gpt-4o-mini:\n    context_windw: 9\n")
    with pytest.raises(ConfigError) as bad_key:
        load_registry(tmp_path)
    assert f"{models}:3: models['openai/gpt-4o-mini'].context_windw: unknown key" in str(bad_key.value)
    assert "Did you mean 'context_window'?" in str(bad_key.value)
    write(models, "roles:\n  builder: fast\n  critic: high_reasonin\n")
    with pytest.raises(ConfigError) as bad_roles:
        load_registry(tmp_path)
    assert f"{models}:2: roles.builder: unknown profile or model 'fast'" in str(bad_roles.value)
    assert f"{models}:3: roles.critic: unknown profile or model 'high_reasonin'" in str(bad_roles.value)
    write(models, "roles: [builder\n")
    with pytest.raises(ConfigError, match=r"models.yaml:2: YAML syntax error"):
        load_registry(tmp_path)
    write(models, "ladder: [cheapest, fastest]\n")
    with pytest.raises(UnknownNameError, match=r"models.yaml:1: ladder: unknown profile 'fastest'"):
        load_registry(tmp_path)


def test_the_shipped_default_keeps_critic_and_builder_apart_offline(config_home: Path) -> None:
    registry = load_registry()
    assert registry.resolve("critic").model != registry.resolve("builder").model
    assert registry.check_roles(strict=True) == []


def test_critic_on_the_builders_model_warns_or_fails_when_strict(config_home: Path) -> None:
    registry = load_registry(overrides={"critic": "high_throughput"})
    [warning] = registry.check_roles(strict=False)
    assert "critic and builder both resolve to 'local/qwen2.5-coder-0.5b'" in warning
    with pytest.raises(ConfigError, match="role policy violated"):
        registry.check_roles(strict=True)
    separated = load_registry(overrides={"critic": "anthropic/claude-sonnet-4-5"})
    assert separated.check_roles(strict=True) == []


def test_strict_policy_can_come_from_models_yaml(config_home: Path) -> None:
    user = "policy:\n  strict_roles: true\nroles:\n  critic: high_throughput\n"  # critic on the builder's model
    write(config_home / "orchestrator" / "models.yaml", user)
    registry = load_registry()
    assert registry.policy.critic_differs_from_builder is True  # unset fields keep earlier layers' values
    with pytest.raises(ConfigError):
        registry.check_roles()


def test_ladder_and_next_rung(config_home: Path) -> None:
    registry = load_registry()
    assert registry.ladder == ("cheapest", "high_throughput", "high_reasoning")
    assert registry.next_rung("cheapest") == "high_throughput"
    assert registry.next_rung("high_throughput") == "high_reasoning"
    assert registry.next_rung("high_reasoning") is None
    assert registry.next_rung("massive_context") is None
    with pytest.raises(UnknownNameError, match="Did you mean 'high_reasoning'"):
        registry.next_rung("high_reasonning")


def test_model_info_merges_registry_litellm_map_and_defaults(config_home: Path) -> None:
    registry = load_registry()
    local = registry.model_info("local/smollm2")
    assert (local.context_window, local.input_cost_per_token, local.source) == (8192, 0.0, "registry")
    for model in ("local/qwen2.5-coder-0.5b", "local/qwen2.5-coder-1.5b"):
        qwen = registry.model_info(model)
        assert (qwen.context_window, qwen.output_cost_per_token, qwen.supports_tools) == (16384, 0.0, True)
        assert qwen.tokens_per_s and qwen.typical_latency_s  # measured figures, shown by `orchestrator models`
    faster, stronger = (registry.model_info(f"local/qwen2.5-coder-{size}b") for size in ("0.5", "1.5"))
    assert faster.tokens_per_s > stronger.tokens_per_s
    mini = registry.model_info("openai/gpt-4o-mini")
    assert mini.context_window == 128000 and mini.input_cost_per_token > 0  # price from LiteLLM's map
    unknown = registry.model_info("openai/some-future-model")
    assert unknown.source == "default" and unknown.context_window > 0 and unknown.supports_tools


def test_table_has_one_row_per_persona(config_home: Path) -> None:
    rows = load_registry(overrides={"critic": "anthropic/claude-sonnet-4-5"}).table()
    assert [row["persona"] for row in rows] == list(PERSONAS)
    critic = next(row for row in rows if row["persona"] == "critic")
    assert critic["model"] == "anthropic/claude-sonnet-4-5" and critic["source"] == "cli" and critic["profile"] == ""


def test_model_overrides_parse_and_refuse_bad_syntax() -> None:
    assert parse_model_overrides(["builder=openai/gpt-4o-mini", "critic = high_reasoning"]) == {
        "builder": "openai/gpt-4o-mini",
        "critic": "high_reasoning",
    }
    for bad in ("builder", "=x", "builder=", "two words=x"):
        with pytest.raises(OverrideSyntaxError, match="expected ROLE=MODEL_OR_PROFILE") as error:
            parse_model_overrides([bad])
        assert error.value.exit_code == 2


def test_override_for_an_unknown_persona_is_a_warning_or_an_error(config_home: Path) -> None:
    warnings = load_registry(overrides={"buider": "cheapest"}).check_roles(strict=False)
    assert any("Did you mean 'builder'?" in w for w in warnings)
    with pytest.raises(UnknownNameError, match="--model: unknown persona 'buider'. Did you mean 'builder'"):
        load_registry(overrides={"buider": "cheapest"}, known_personas=["builder", "critic"])


def test_scripted_path_bindings_resolve_against_cwd_or_repo(
    config_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "replies" / "builder.yaml", "- hello\n")
    monkeypatch.chdir(tmp_path)
    role = load_registry(overrides={"builder": "scripted:replies/builder.yaml"}).resolve("builder")
    assert role.model == f"scripted:{(tmp_path / 'replies' / 'builder.yaml').resolve()}"
    write(tmp_path / ".orchestrator" / "models.yaml", "roles:\n  critic: scripted:replies/builder.yaml\n")
    assert load_registry(tmp_path).resolve("critic").model == role.model
    with pytest.raises(ConfigError, match="script file not found"):
        load_registry(overrides={"builder": "scripted:missing.yaml"})


def test_the_registry_imports_litellm_only_for_a_network_models_entry() -> None:
    code = (
        "import sys\n"
        "from orchestrator.models.registry import load_registry\n"
        "import orchestrator.models.gateway, orchestrator.models.providers.scripted\n"
        "r = load_registry(); r.model_info('local/smollm2'); r.check_roles()\n"
        "print(sorted(m for m in ('litellm', 'llama_cpp') if m in sys.modules))\n"
        "r.model_info('openai/gpt-4o-mini')\n"
        "print(sorted(m for m in ('litellm', 'llama_cpp') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split("\n")[:2] == ["[]", "['litellm']"]


def test_a_near_miss_model_id_gets_did_you_mean_and_a_new_id_passes() -> None:
    with pytest.raises(ConfigError) as error:
        load_registry(overrides={"builder": "openai/gpt-4o-mnii"})
    assert "--model builder=openai/gpt-4o-mnii: unknown model id 'openai/gpt-4o-mnii'. Did you mean " \
           "'openai/gpt-4o-mini'?" in str(error.value)
    registry = load_registry(overrides={"builder": "openai/some-model-from-next-year"})
    assert registry.resolve("builder").model == "openai/some-model-from-next-year"
    assert not registry.model_info("openai/some-model-from-next-year").price_known


def test_a_network_models_price_comes_from_litellms_public_model_map() -> None:
    # litellm.model_cost is LiteLLM's public map; a model registered there at run time is seen too.
    from orchestrator.models import gateway

    litellm = gateway.load_litellm()
    expected = litellm.model_cost["gpt-4o"]["input_cost_per_token"]
    info = load_registry().model_info("openai/gpt-4o")
    assert info.price_known and info.input_cost_per_token == expected > 0
    litellm.register_model({"openai/next-year-model": {"input_cost_per_token": 2e-6, "output_cost_per_token": 8e-6,
                                                        "litellm_provider": "openai", "mode": "chat"}})
    try:
        assert load_registry().model_info("openai/next-year-model").output_cost_per_token == 8e-6
    finally:
        litellm.model_cost.pop("openai/next-year-model", None)
