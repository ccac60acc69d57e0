"""`orchestrator gateway config`: a LiteLLM proxy config.yaml from the registry, keys as references only."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from conftest import make_repo
from typer.testing import CliRunner

from orchestrator.cli import app

MODELS = {
    "models": {
        "openai/gpt-4o-mini": {"rpm": 500, "tpm": 200000, "api_key_env": "TEAM_OPENAI_KEY"},
        "openai/qwen-box": {"api_base": "http://10.0.0.5:8000/v1", "litellm_model": "openai/qwen", "timeout_s": 30},
    },
    "profiles": {"high_throughput": ["openai/gpt-4o-mini", "openai/qwen-box", "local/smollm2"]},
}


def test_the_proxy_config_lists_network_models_with_limits_fallbacks_and_redis(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TEAM_OPENAI_KEY", "sk-secret-value")
    # Endpoints and key variables live in the user's own config (a repo's may not set them: docs/security.md).
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "orchestrator" / "models.yaml"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(yaml.safe_dump(MODELS))
    repo = make_repo(tmp_path / "app", {"README.md": "app\n"})
    out = tmp_path / "config.yaml"
    result = CliRunner().invoke(app, ["gateway", "config", "--repo", str(repo), "-o", str(out), "--redis"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "sk-secret-value" not in text  # a key is a reference the proxy resolves, never its value
    config = yaml.safe_load(text)
    deployments = {d["model_name"]: d["litellm_params"] for d in config["model_list"]}
    assert deployments["openai/gpt-4o-mini"] == {"model": "openai/gpt-4o-mini", "api_key": "os.environ/TEAM_OPENAI_KEY",
                                                 "rpm": 500, "tpm": 200000}
    assert deployments["openai/qwen-box"] == {"model": "openai/qwen", "api_base": "http://10.0.0.5:8000/v1",
                                              "timeout": 30}
    assert not any(name.startswith("local/") for name in deployments)  # in-process models need no proxy
    router = config["router_settings"]
    assert {"openai/gpt-4o-mini": ["openai/qwen-box"]} in router["fallbacks"]
    assert router["redis_host"] == "os.environ/REDIS_HOST" and router["num_retries"] == 0
    again = CliRunner().invoke(app, ["gateway", "config", "--repo", str(repo), "-o", str(out)])
    assert again.exit_code == 1 and "--force" in str(again.exception) + again.output  # never overwritten silently
