"""The embedded local model, driven through complete(): a schema-valid tool call and real llama-cpp token counts."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.models.gateway import complete
from orchestrator.models.providers import local
from orchestrator.models.types import ToolSpec

pytest.importorskip("llama_cpp")
import jsonschema  # noqa: E402  (a dev dependency: the check must not skip silently)

WRITE_FILE = ToolSpec(
    "write_file",
    "Write a file in the repository.",
    {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
)
ROUTE = ToolSpec(
    "route",
    "Choose the next step.",
    {
        "type": "object",
        "properties": {"step": {"type": "string", "enum": ["builder", "tester"]}, "attempts": {"type": "integer"}},
        "required": ["step", "attempts"],
    },
)


def test_tool_call_schema_offers_one_branch_per_tool() -> None:
    schema = local.tool_call_schema([WRITE_FILE, ROUTE])
    assert [branch["properties"]["name"] for branch in schema["anyOf"]] == [{"const": "write_file"}, {"const": "route"}]
    assert all(branch["required"] == ["name", "arguments"] for branch in schema["anyOf"])
    content = schema["anyOf"][0]["properties"]["arguments"]["properties"]["content"]
    assert content["type"] == "string" and content["maxLength"] > 0  # bounded, so the call fits max_tokens
    assert WRITE_FILE.parameters["properties"]["content"] == {"type": "string"}  # the caller's schema is untouched


@pytest.mark.local_model
def test_local_model_returns_a_schema_valid_tool_call_with_real_token_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    llama, usages = local.load_llama(), []
    original = llama.create_chat_completion

    def spy(**kwargs: Any) -> Any:
        out = original(**kwargs)
        usages.append(out["usage"])
        return out

    monkeypatch.setattr(llama, "create_chat_completion", spy)
    reply = complete(
        "local/smollm2",
        [
            {"role": "system", "content": "You are the builder. Work by calling tools."},
            {"role": "user", "content": "Create hello.py that prints hello."},
        ],
        tools=[WRITE_FILE, ROUTE],
        require_tool=True,
        persona="builder",
        max_tokens=96,
    )
    [call] = reply.tool_calls
    tool = {"write_file": WRITE_FILE, "route": ROUTE}[call.name]
    jsonschema.validate(call.arguments, tool.parameters)
    assert reply.prompt_tokens > 20 and reply.completion_tokens > 0
    [usage] = usages  # one generation, and the reply reports exactly llama-cpp's counts
    assert (reply.prompt_tokens, reply.completion_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert reply.provider_model_version == "SmolLM2-135M-Instruct.Q4_1"
    assert reply.cost_usd == 0.0
    assert reply.sampling["max_tokens"] == 96 and reply.sampling["seed"] == local.SEED


def test_agent_history_is_flattened_for_the_chat_template() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "write_file", "arguments": '{"path": "a.py"}'}}
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "wrote a.py"},
    ]
    out = local.prompt_messages(messages, [WRITE_FILE])
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert "write_file(path, content)" in out[0]["content"]
    assert out[2]["content"] == '{"name": "write_file", "arguments": {"path": "a.py"}}'
    assert out[3]["content"] == "Result of write_file: wrote a.py"
