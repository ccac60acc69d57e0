"""The gateway: scripted and function models through the real litellm.completion path, accounting, blocking, errors."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import ConfigError, ModelError, RealRequestBlockedError, ScriptExhaustedError
from orchestrator.models import gateway
from orchestrator.models.check import check_models
from orchestrator.models.failures import FAILURES, ModelCallError, describe_failure
from orchestrator.models.providers.scripted import (
    FunctionModel,
    ScriptedModel,
    load_script,
    register_scripted,
    reset_fakes,
)
from orchestrator.models.registry import load_registry
from orchestrator.models.types import ModelReply, ToolSpec

HELLO = [{"role": "user", "content": "hello"}]
FINISH = ToolSpec("finish", "Say you are done.", {"type": "object", "properties": {"summary": {"type": "string"}}})


@pytest.fixture(autouse=True)
def clean_fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """No fakes, scripts or listeners leak between tests; real requests stay blocked; no user config."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    reset_fakes()
    previous = gateway.block_real_requests(True)
    yield
    gateway.block_real_requests(previous)
    reset_fakes()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record (and refuse) every attempt to open a socket connection."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_scripted_replies_come_back_per_persona_with_tool_calls() -> None:
    model = ScriptedModel(
        {
            "builder": ["first", {"tool": "finish", "arguments": {"summary": "done"}}],
            "critic": [{"text": "looks fine", "tool_calls": [{"name": "finish", "arguments": {"summary": "ok"}}]}],
        },
        name="team",
    )
    model_id = register_scripted(model)
    assert model_id == "scripted/team"
    assert gateway.complete(model_id, HELLO, persona="builder").text == "first"
    critic = gateway.complete(model_id, HELLO, persona="critic", tools=[FINISH])
    assert critic.text == "looks fine" and critic.tool_calls[0].arguments == {"summary": "ok"}
    builder = gateway.complete(model_id, HELLO, persona="builder", tools=[FINISH], require_tool=True)
    assert [(c.name, c.arguments) for c in builder.tool_calls] == [("finish", {"summary": "done"})]
    assert [call.persona for call in model.calls] == ["builder", "critic", "builder"]
    assert model.calls[1].tools == [FINISH] and model.calls[0].messages == HELLO


def test_exhausted_script_names_model_persona_and_call_number() -> None:
    model_id = register_scripted(ScriptedModel({"builder": ["one", "two"]}, name="x"))
    gateway.complete(model_id, HELLO, persona="builder")
    gateway.complete(model_id, HELLO, persona="builder")
    expected = r"scripted model 'x': no reply left for persona 'builder' \(call #3\)"
    with pytest.raises(ScriptExhaustedError, match=expected):
        gateway.complete(model_id, HELLO, persona="builder")


def test_flat_reply_list_is_shared_by_every_persona() -> None:
    model_id = register_scripted(ScriptedModel(["a", "b"], name="flat"))
    assert [gateway.complete(model_id, HELLO, persona=p).text for p in ("builder", "critic")] == ["a", "b"]


def test_bad_reply_shapes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown reply key 'tools'. Did you mean 'tool'"):
        ScriptedModel([{"tools": "finish"}])
    with pytest.raises(ConfigError, match="a reply is text or a mapping"):
        ScriptedModel([42])


def test_yaml_script_file_keeps_one_queue_per_persona_across_roles(tmp_path: Path) -> None:
    script = tmp_path / "replies.yaml"
    script.write_text("builder:\n  - built\n  - tool: finish\n    arguments: {summary: s}\ncritic:\n  - reviewed\n")
    model_id = f"scripted:{script}"
    assert gateway.complete(model_id, HELLO, persona="builder").text == "built"
    assert gateway.complete(model_id, HELLO, persona="critic").text == "reviewed"
    assert gateway.complete(model_id, HELLO, persona="builder").tool_calls[0].name == "finish"
    assert load_script(script) == load_script(str(script))  # loaded once per process
    with pytest.raises(ScriptExhaustedError, match=r"persona 'critic' \(call #2\)"):
        gateway.complete(model_id, HELLO, persona="critic")


def test_jsonl_script_groups_by_persona_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [{"persona": "tester", "text": "t1"}, "shared", {"tool": "finish", "arguments": {}, "persona": "tester"}]
    (tmp_path / "replies.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    monkeypatch.chdir(tmp_path)
    assert gateway.complete("scripted:replies.jsonl", HELLO, persona="tester").text == "t1"
    assert gateway.complete("scripted:replies.jsonl", HELLO, persona="tester").tool_calls[0].name == "finish"
    assert gateway.complete("scripted:replies.jsonl", HELLO, persona="builder").text == "shared"
    (tmp_path / "bad.jsonl").write_text('"ok"\n{not json\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:2: invalid JSON"):
        gateway.complete("scripted:bad.jsonl", HELLO)


def test_scripted_path_bound_through_the_registry_is_callable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "builder.yaml").write_text("- from the file\n")
    monkeypatch.chdir(tmp_path)
    role = load_registry(overrides={"builder": "scripted:builder.yaml"}).resolve("builder")
    reply = gateway.complete(role.model, HELLO, persona="builder")
    assert reply.text == "from the file" and reply.model == role.model


def test_function_model_sees_messages_tools_and_persona() -> None:
    def reply(messages: list[dict[str, Any]], tools: list[ToolSpec], persona: str) -> Any:
        return {"tool": tools[0].name, "arguments": {"summary": f"{persona}: {messages[-1]['content']}"}}

    model = FunctionModel(reply, name="echo")
    model_id = register_scripted(model)
    assert model_id == "function/echo"
    result = gateway.complete(model_id, HELLO, tools=[FINISH], persona="dispatcher")
    assert result.tool_calls[0].arguments == {"summary": "dispatcher: hello"}
    assert model.calls[0].persona == "dispatcher"


def test_unregistered_fake_says_how_to_register() -> None:
    register_scripted(ScriptedModel(["x"], name="team"))
    with pytest.raises(ModelError, match="Did you mean 'scripted/team'.*register_scripted"):
        gateway.complete("scripted/teem", HELLO)


def test_blocked_real_request_raises_before_any_network_io(no_network: list[Any]) -> None:
    with pytest.raises(RealRequestBlockedError, match="'openai/gpt-4o-mini' \\(persona builder\\) refused"):
        gateway.complete("openai/gpt-4o-mini", HELLO, persona="builder")
    assert no_network == []


def test_block_switch_follows_the_environment_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway.block_real_requests(None)
    monkeypatch.setenv(gateway.BLOCK_ENV, "1")
    assert gateway.real_requests_blocked()
    monkeypatch.setenv(gateway.BLOCK_ENV, "0")
    assert not gateway.real_requests_blocked()
    gateway.block_real_requests(True)
    assert gateway.real_requests_blocked()


def test_missing_key_becomes_a_model_error_with_the_fix(monkeypatch: pytest.MonkeyPatch, no_network: list[Any]) -> None:
    gateway.block_real_requests(False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9")  # belt and braces: nowhere to go anyway
    with pytest.raises(ModelCallError, match="Set OPENAI_API_KEY in the environment") as error:
        gateway.complete("openai/gpt-4o-mini", HELLO, persona="builder")
    assert error.value.retryable is False


def test_exception_table_says_retryable_and_hints() -> None:
    litellm = gateway.load_litellm()
    limited = litellm.RateLimitError("slow down", llm_provider="openai", model="gpt-4o-mini")
    assert describe_failure(limited, "openai/gpt-4o-mini").retryable is True
    too_long = litellm.ContextWindowExceededError("too long", model="gpt-4o-mini", llm_provider="openai")
    error = describe_failure(too_long, "openai/gpt-4o-mini")
    assert error.kind == "ContextWindowExceededError" and "massive_context" in str(error) and not error.retryable
    assert set(FAILURES) >= {"AuthenticationError", "RateLimitError", "Timeout", "APIConnectionError"}


def test_listener_records_tokens_and_registry_priced_cost(tmp_path: Path) -> None:
    (tmp_path / ".orchestrator").mkdir()
    (tmp_path / ".orchestrator" / "models.yaml").write_text(
        "models:\n  scripted/priced:\n    input_cost_per_token: 0.001\n    output_cost_per_token: 0.002\n"
    )
    load_registry(tmp_path)
    model_id = register_scripted(
        ScriptedModel([{"text": "hi", "usage": {"prompt_tokens": 100, "completion_tokens": 10}}], name="priced")
    )
    seen: list[tuple[str, str, ModelReply, dict[str, Any]]] = []

    def listener(model: str, persona: str, reply: ModelReply, metadata: dict[str, Any]) -> None:
        seen.append((model, persona, reply, metadata))

    gateway.add_call_listener(listener)
    try:
        reply = gateway.complete(model_id, HELLO, persona="tester", metadata={"step": "test"}, temperature=0.0)
    finally:
        gateway.remove_call_listener(listener)
    assert (reply.prompt_tokens, reply.completion_tokens, reply.total_tokens) == (100, 10, 110)
    assert reply.cost_usd == pytest.approx(0.12)
    assert reply.latency_s > 0 and reply.sampling == {"temperature": 0.0}
    assert seen == [(model_id, "tester", reply, {"step": "test"})]


def test_cost_of_a_real_model_comes_from_litellms_cost_map() -> None:
    litellm = gateway.load_litellm()
    response = litellm.ModelResponse(model="gpt-4o-mini")
    response.usage = litellm.Usage(prompt_tokens=1000, completion_tokens=1000, total_tokens=2000)
    cost = gateway._cost("openai/gpt-4o-mini", "openai/gpt-4o-mini", response, 1000, 1000)
    assert 0 < cost < 0.01


def test_check_models_reports_missing_keys_and_unknown_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert check_models(load_registry()) == []  # the embedded default needs nothing
    with pytest.raises(ConfigError, match="Did you mean 'openai/gpt-4o-mini'"):  # a near miss: refused at load
        load_registry(overrides={"critic": "openai/gpt-4o-minii"})
    problems = check_models(load_registry(overrides={"critic": "openai/house-model-x"}))  # near nothing: accepted
    assert any("unknown to LiteLLM's model map and not in models.yaml" in p for p in problems)
    assert any("missing in the environment: OPENAI_API_KEY" in p and "persona critic" in p for p in problems)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert check_models(load_registry(overrides={"critic": "openai/gpt-4o-mini"})) == []


def test_a_scripted_feature_run_never_imports_litellm(tmp_path: Path) -> None:
    import subprocess
    import sys

    import yaml
    from conftest import EXAMPLE, make_repo
    from scripts import feature_critic, feature_team

    repo = make_repo(tmp_path / "app", source=EXAMPLE)
    replies = tmp_path / "replies.yaml"
    replies.write_text(yaml.safe_dump({**feature_team(), **feature_critic()}, sort_keys=False))
    models = [a for role in ("surveyor", "spec_writer", "tester", "builder", "dispatcher", "critic")
              for a in ("--model", f"{role}=scripted:{replies}")]
    code = ("import sys\nfrom orchestrator.cli import main\ntry:\n    main()\nfinally:\n"
            "    print('LITELLM', 'litellm' in sys.modules, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code, "run", "feature", "--repo", str(repo), "--task",
                           "Add subtract(a, b) to calc.py", *models, "--approve", "auto"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "LITELLM False" in done.stderr
