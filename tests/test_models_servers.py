"""Real servers per model: api_base, api_key_env, params and tool-call modes, against a fake server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai_server import FakeOpenAI, completion, error, fake_openai, timeout

from orchestrator.errors import ConfigError, RealRequestBlockedError
from orchestrator.models import catalog, gateway
from orchestrator.models.check import check_models, probe_servers
from orchestrator.models.failures import ModelCallError
from orchestrator.models.registry import load_registry, user_config_path
from orchestrator.models.tool_modes import parse_tool_call_text
from orchestrator.models.types import ToolSpec

CANARY = "sk-canary-7f3a9d2c41"
READ = ToolSpec("read_file", "Read a file.", {"type": "object", "properties": {"path": {"type": "string"}},
                                              "required": ["path"]})
FINISH = ToolSpec("finish", "Say you are done.", {"type": "object", "properties": {"summary": {"type": "string"}}})
HISTORY = [
    {"role": "system", "content": "You review code."},
    {"role": "user", "content": "Review calc.py."},
    {"role": "assistant", "content": None,
     "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a"}'}}]},
    {"role": "tool", "tool_call_id": "c1", "name": "read_file", "content": "def add(a, b): ..."},
]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Real requests blocked (loopback servers still answer); no registry entry outlives the test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("TEST_SERVER_CREDS", CANARY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-must-not-leave-00")
    previous = gateway.block_real_requests(True)
    yield
    gateway.block_real_requests(previous)
    catalog.publish_entries({})


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with fake_openai() as fake:
        yield fake


def registry(tmp_path: Path, models: dict[str, dict[str, Any]], roles: dict[str, str] | None = None) -> Any:
    """A registry whose user models.yaml describes these models (published to the gateway, as a run does).

    The user's file, not the repo's: a repository may not choose servers or keys (test_hostile_config_keys)."""
    path = user_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"models": models, "roles": roles or {}}))
    return load_registry(tmp_path / "repo")


def test_a_model_entry_sends_its_server_key_alias_and_params_to_that_server_only(tmp_path: Path,
                                                                                  server: FakeOpenAI) -> None:
    registry(tmp_path, {
        "critic-box": {"litellm_model": "openai/qwen-served", "api_base": server.api_base,
                       "api_key_env": "TEST_SERVER_CREDS", "params": {"top_p": 0.25, "seed": 7}},
        "openai/keyless-box": {"api_base": server.api_base + "/"},
    })
    server.push(completion("from the box"), completion("keyless"))
    reply = gateway.complete("critic-box", [{"role": "user", "content": "hi"}], persona="critic")
    assert (reply.model, reply.text) == ("critic-box", "from the box")
    first = server.requests[0]
    assert first["path"] == "/v1/chat/completions"
    assert first["headers"]["authorization"] == f"Bearer {CANARY}"
    assert first["body"]["model"] == "qwen-served"
    assert (first["body"]["top_p"], first["body"]["seed"]) == (0.25, 7)
    gateway.complete("openai/keyless-box", [{"role": "user", "content": "hi"}], persona="builder")
    # A server without api_key_env never gets the provider's default key (OPENAI_API_KEY here).
    assert server.requests[1]["headers"]["authorization"] == "Bearer no-key"


def test_two_roles_on_two_servers_while_a_third_stays_on_a_cloud_id(tmp_path: Path) -> None:
    with fake_openai(lambda body: completion("critic server")) as one, \
            fake_openai(lambda body: completion("builder server")) as two:
        reg = registry(tmp_path, {"openai/served": {"api_base": one.api_base},
                                  "builder-box": {"litellm_model": "openai/served", "api_base": two.api_base}},
                       roles={"critic": "openai/served", "builder": "builder-box", "tester": "openai/gpt-4o-mini"})
        critic = gateway.complete(reg.resolve("critic").model, [{"role": "user", "content": "x"}], persona="critic")
        builder = gateway.complete(reg.resolve("builder").model, [{"role": "user", "content": "x"}])
        assert (critic.text, builder.text) == ("critic server", "builder server")
        assert len(one.requests) == len(two.requests) == 1
    with pytest.raises(RealRequestBlockedError):  # the cloud id is still a real request, refused in tests
        gateway.complete(reg.resolve("tester").model, [{"role": "user", "content": "x"}])


def test_a_missing_key_variable_is_named_before_any_request(tmp_path: Path, server: FakeOpenAI,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    reg = registry(tmp_path, {"openai/locked": {"api_base": server.api_base, "api_key_env": "TEST_UNSET_KEY"}},
                   roles={"critic": "openai/locked"})
    monkeypatch.delenv("TEST_UNSET_KEY", raising=False)
    with pytest.raises(ModelCallError, match="Set TEST_UNSET_KEY in the environment") as caught:
        gateway.complete("openai/locked", [{"role": "user", "content": "x"}])
    assert not caught.value.retryable and server.requests == []
    problems = check_models(reg, personas=["critic"])
    assert problems == ["openai/locked (used by persona critic): missing in the environment: TEST_UNSET_KEY; "
                        "export TEST_UNSET_KEY=..."]


def test_a_server_elsewhere_is_still_blocked_in_tests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: attempts.append(address))
    registry(tmp_path, {"openai/far": {"api_base": "http://10.1.2.3:8000/v1"}})
    with pytest.raises(RealRequestBlockedError):
        gateway.complete("openai/far", [{"role": "user", "content": "x"}])
    assert attempts == []


def test_text_mode_sends_no_tools_and_reads_tool_call_blocks(tmp_path: Path, server: FakeOpenAI) -> None:
    registry(tmp_path, {"openai/qwen-text": {"api_base": server.api_base, "tool_calls": "text"}})
    server.push(completion('Reading it.\n<tool_call>\n{"name": "read_file", "arguments": {"path": "calc.py"}}'
                           "\n</tool_call>"))
    reply = gateway.complete("openai/qwen-text", HISTORY, tools=[READ, FINISH], require_tool=True, persona="critic")
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("read_file", {"path": "calc.py"})]
    assert reply.text == "Reading it." and reply.sampling["tool_calls"] == "text"
    body = server.requests[0]["body"]
    assert "tools" not in body and "tool_choice" not in body  # what makes a stock llama-cpp server answer 500
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    system = body["messages"][0]["content"]
    assert system.startswith("You review code.") and '"name": "read_file"' in system and "<tool_call>" in system
    assert '<tool_call>\n{"name": "read_file", "arguments": {"path": "a"}}' in body["messages"][2]["content"]
    assert body["messages"][3]["content"] == "<tool_response>\ndef add(a, b): ...\n</tool_response>"


@pytest.mark.parametrize("mode", ["json_object", "json_schema"])
def test_json_modes_constrain_the_reply_to_one_call_of_the_offered_tools(tmp_path: Path, server: FakeOpenAI,
                                                                         mode: str) -> None:
    registry(tmp_path, {"openai/constrained": {"api_base": server.api_base, "tool_calls": mode}})
    server.push(completion(json.dumps({"name": "finish", "arguments": {"summary": "done"}})))
    reply = gateway.complete("openai/constrained", HISTORY, tools=[READ, FINISH], max_tokens=512)
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("finish", {"summary": "done"})]
    assert reply.text == ""
    body = server.requests[0]["body"]
    assert "tools" not in body and all(m["role"] != "tool" for m in body["messages"])
    fmt = body["response_format"]
    if mode == "json_object":  # llama-cpp-python's extension, bounded like the embedded models' grammar
        schema = fmt["schema"]
        assert fmt["type"] == "json_object"
        assert schema["anyOf"][0]["properties"]["arguments"]["properties"]["path"]["maxLength"] == 200
    else:  # OpenAI's form, which vLLM, Ollama and LM Studio take
        schema = fmt["json_schema"]["schema"]
        assert fmt["type"] == "json_schema" and "maxLength" not in json.dumps(schema)
    assert [b["properties"]["name"]["const"] for b in schema["anyOf"]] == ["read_file", "finish"]


def test_a_reply_that_is_not_a_call_stays_text_for_the_agent_loop_to_remind(tmp_path: Path,
                                                                            server: FakeOpenAI) -> None:
    registry(tmp_path, {"openai/chatty": {"api_base": server.api_base, "tool_calls": "json_object"}})
    server.push(completion('{"name": "finish", "argu'))  # cut off by max_tokens
    reply = gateway.complete("openai/chatty", HISTORY, tools=[FINISH])
    assert reply.tool_calls == [] and reply.text == '{"name": "finish", "argu'


def test_tool_call_text_parsing_takes_every_block_and_skips_broken_ones() -> None:
    text = ('<tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call> and '
            '<tool_call>{"name": "b", "arguments": "{\\"y\\": 2}"}</tool_call>'
            '<tool_call>not json</tool_call><tool_call>\n{"name": "c", "arguments": {}}')
    assert [(c.name, c.arguments) for c in parse_tool_call_text(text)] == [("a", {"x": 1}), ("b", {"y": 2}),
                                                                           ("c", {})]
    assert parse_tool_call_text("no calls here") == []
    assert parse_tool_call_text('<tool_call>{"name": "a", "arguments": [1]}</tool_call>')[0].arguments == {
        "_raw": [1]}


def test_timeout_s_cuts_a_slow_server_off(tmp_path: Path, server: FakeOpenAI) -> None:
    registry(tmp_path, {"openai/slow": {"api_base": server.api_base, "timeout_s": 0.3}})
    server.push(timeout(3.0))
    with pytest.raises(ModelCallError) as caught:
        gateway.complete("openai/slow", [{"role": "user", "content": "x"}])
    assert caught.value.kind == "Timeout" and caught.value.retryable


def test_a_server_echoing_the_key_in_its_error_never_gets_it_into_the_message(
        tmp_path: Path, server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    registry(tmp_path, {"openai/echo": {"api_base": server.api_base, "api_key_env": "TEST_SERVER_CREDS"}})
    server.push(error(401, f"Incorrect API key provided: {CANARY}"))
    with pytest.raises(ModelCallError) as caught:
        gateway.complete("openai/echo", [{"role": "user", "content": "x"}])
    assert CANARY not in str(caught.value) and "[redacted TEST_SERVER_CREDS]" in str(caught.value)
    server.push(completion(f"your key is {CANARY}; region eu-central-1",
                           [{"name": "finish", "arguments": {"summary": CANARY}}]))
    reply = gateway.complete("openai/echo", [{"role": "user", "content": "x"}], tools=[FINISH])
    assert CANARY not in reply.text + json.dumps(reply.tool_calls[0].arguments)
    # A provider's plain setting is no credential: code or text that names the region is left alone.
    assert reply.text == "your key is [redacted TEST_SERVER_CREDS]; region eu-central-1"


def test_models_check_asks_each_server_once_and_reports_it(tmp_path: Path, server: FakeOpenAI) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    reg = registry(tmp_path, {"openai/up": {"api_base": server.api_base, "api_key_env": "TEST_SERVER_CREDS"},
                              "up-alias": {"litellm_model": "openai/up", "api_base": server.api_base},
                              "openai/down": {"api_base": f"http://127.0.0.1:{port}/v1"}},
                   roles={"critic": "openai/up", "builder": "up-alias", "tester": "openai/down"})
    results = dict(probe_servers(reg))
    assert results["openai/up"].ok and results["openai/up"].message == f"{server.api_base} reachable, serving fake"
    assert results["up-alias"] is results["openai/up"]
    assert not results["openai/down"].ok and "unreachable within 3s" in results["openai/down"].message


def test_models_check_command_reports_servers(tmp_path: Path, server: FakeOpenAI) -> None:
    from orchestrator.cli import main

    registry(tmp_path, {"openai/up": {"api_base": server.api_base}}, roles={"critic": "openai/up"})
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        main(["models", "--check", "--repo", str(tmp_path / "repo")])
    assert f"openai/up: {server.api_base} reachable, serving fake" in out.getvalue()
    assert server.requests == []  # a GET /models, not a chat request


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"api_key_env": CANARY}, "api_key_env names the environment variable holding the key"),
        ({"api_base": "http://user:pw@127.0.0.1:8/v1"}, "api_base holds credentials"),
        ({"api_base": "127.0.0.1:8080"}, "api_base must be an http:// or https:// URL"),
        ({"params": {"api_key": "x"}}, "params.api_key looks like a secret"),
        ({"params": {"extra_headers": {"Authorization": "Bearer x"}}},
         "params.extra_headers.Authorization looks like a secret"),
        ({"params": {"tools": []}}, "params.tools is set by the orchestrator"),
        ({"tool_calls": "xml"}, "Input should be 'native', 'json_schema', 'json_object' or 'text'"),
    ],
)
def test_bad_server_entries_are_refused_with_file_line_and_the_fix(tmp_path: Path, entry: dict[str, Any],
                                                                   message: str) -> None:
    with pytest.raises(ConfigError, match=r"models\.yaml:1: models\['openai/x'\]\.\w+: ") as caught:
        registry(tmp_path, {"openai/x": entry})
    assert message in str(caught.value) and CANARY not in str(caught.value)


def test_the_docs_server_example_loads(tmp_path: Path) -> None:
    from conftest import ROOT

    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "models.md").read_text(), re.S)
    example = next(b for b in blocks if "api_base:" in b and "tool_calls:" in b)
    user_config_path().parent.mkdir(parents=True)
    user_config_path().write_text(example)
    reg = load_registry(tmp_path / "repo")
    assert reg.resolve("tester").model == "team-gateway"
    assert catalog.published_entry("team-gateway")["litellm_model"] == "openai/gpt-4o-mini"


def test_the_init_scaffold_server_example_loads_once_uncommented(tmp_path: Path) -> None:
    from orchestrator.cli.scaffold import MODELS_YAML

    example = MODELS_YAML.split("(llama.cpp, vLLM, Ollama):\n")[1]
    user_config_path().parent.mkdir(parents=True)
    user_config_path().write_text("\n".join(line.removeprefix("# ") for line in example.splitlines()))
    reg = load_registry(tmp_path / "repo")
    assert reg.resolve("critic").model == "openai/qwen2.5-coder-7b"
    assert catalog.published_entry("openai/qwen2.5-coder-7b")["api_base"] == "http://127.0.0.1:8080/v1"
