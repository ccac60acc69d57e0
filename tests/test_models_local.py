"""The embedded local model, driven through complete(): a schema-valid tool call and real llama-cpp token counts."""

from __future__ import annotations

import json
import threading
import time
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
    out = local.prompt_messages([{"role": "system", "content": "You build."}, *messages], [WRITE_FILE])
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    # This turn's tools go in the system turn: with them last, the demo's 0.5B tester never wrote a new test.
    assert out[0]["content"].startswith("You build.") and "write_file(path, content)" in out[0]["content"]
    assert out[2]["content"] == '{"name": "write_file", "arguments": {"path": "a.py"}}'
    assert out[3]["content"] == "Result of write_file: wrote a.py"


QWEN = {"local/qwen2.5-coder-0.5b": "qwen2.5-coder-0.5b", "local/qwen2.5-coder-1.5b": "qwen2.5-coder-1.5b"}


@pytest.mark.local_model
@pytest.mark.parametrize("model", list(QWEN))
def test_each_qwen_model_makes_a_schema_valid_tool_call_through_the_gateway(model: str) -> None:
    name = QWEN[model]
    reply = complete(
        model,
        [
            {"role": "system", "content": "You are the builder. Work by calling tools."},
            {"role": "user", "content": "Create hello.py with one line that prints hello."},
        ],
        tools=[WRITE_FILE, ROUTE],
        require_tool=True,
        persona="builder",
        max_tokens=64,
        temperature=0.0,
    )
    [call] = reply.tool_calls
    tool = {"write_file": WRITE_FILE, "route": ROUTE}[call.name]
    jsonschema.validate(call.arguments, tool.parameters)
    assert reply.prompt_tokens > 20 and reply.completion_tokens > 0 and reply.cost_usd == 0.0
    assert reply.provider_model_version == f"{name}-instruct-q4_k_m"
    llama = local.load_llama(name)
    # The GGUF's own chat template (Qwen's ChatML with its default system text), not a stock llama-cpp format.
    assert llama.chat_format == "chat_template.default" and "<|im_start|>" in llama.metadata["tokenizer.chat_template"]
    assert llama.n_ctx() == local.N_CTX[name]
    assert len(llama.cache.cache_state) >= 1  # the prompt's state was saved for a later call sharing its prefix


@pytest.mark.local_model
def test_the_three_models_load_once_and_stay_shared() -> None:
    loaded = {name: local.load_llama(name) for name in local.N_CTX}
    assert all(local.load_llama(name) is llama for name, llama in loaded.items())
    assert len({id(llama) for llama in loaded.values()}) == 3
    assert set(local.loaded_models()) == set(local.N_CTX)


class FakeLlama:
    """Stands in for llama_cpp.Llama: records how many calls overlap."""

    active = 0
    peak = 0
    guard = threading.Lock()

    def __init__(self, name: str) -> None:
        self.name, self.closed = name, False

    def create_chat_completion(self, **kwargs: Any) -> dict[str, Any]:
        with FakeLlama.guard:
            FakeLlama.active += 1
            FakeLlama.peak = max(FakeLlama.peak, FakeLlama.active)
        time.sleep(0.05)
        with FakeLlama.guard:
            FakeLlama.active -= 1
        usage = {"prompt_tokens": 3, "completion_tokens": 1}
        return {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}], "usage": usage}

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace model loading with FakeLlama, in a fresh set of slots; returns the names loaded, in order."""
    loads: list[str] = []

    def load(name: str) -> FakeLlama:
        loads.append(name)
        time.sleep(0.02)  # widen the window in which a second loader could slip in
        return FakeLlama(name)

    monkeypatch.setattr(local, "_slots", {})
    monkeypatch.setattr(local, "_exit_hook", True)
    monkeypatch.setattr(local, "_load", load)
    FakeLlama.active = FakeLlama.peak = 0
    return loads


def run_threads(*targets: Any) -> None:
    """Start every target in its own thread and wait for all."""
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_each_model_loads_once_however_many_threads_ask(fake_loads: list[str]) -> None:
    run_threads(*[lambda: local.load_llama("qwen2.5-coder-0.5b")] * 4)
    assert fake_loads == ["qwen2.5-coder-0.5b"]
    assert local.loaded_models() == ["qwen2.5-coder-0.5b"]


def test_calls_to_one_model_are_serialised_but_two_models_run_side_by_side(fake_loads: list[str]) -> None:
    def call(name: str) -> Any:
        return lambda: local.generate([{"role": "user", "content": "hi"}], [], model=name)

    run_threads(call("qwen2.5-coder-0.5b"), call("qwen2.5-coder-0.5b"), call("qwen2.5-coder-0.5b"))
    assert FakeLlama.peak == 1
    local.load_llama("qwen2.5-coder-1.5b")  # loaded outside the timed part, so the calls below overlap
    FakeLlama.peak = 0
    run_threads(call("qwen2.5-coder-0.5b"), call("qwen2.5-coder-1.5b"))
    assert FakeLlama.peak == 2  # a lock per model, not one for all


def test_prompt_tokens_served_from_the_kv_cache_are_reported(fake_loads: list[str], monkeypatch) -> None:
    # llama-cpp's usage counts the whole prompt; what it really processed is what it passes to eval (the first eval
    # of a call: the prompt after the cached prefix; later evals are one sampled token each).
    def reply(self: FakeLlama, **kwargs: Any) -> dict[str, Any]:
        self.eval(list(range(3)))  # 97 of 100 prompt tokens were cached
        self.eval([7])
        usage = {"prompt_tokens": 100, "completion_tokens": 2}
        return {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}], "usage": usage}

    monkeypatch.setattr(FakeLlama, "create_chat_completion", reply)
    monkeypatch.setattr(FakeLlama, "eval", lambda self, tokens: None, raising=False)
    result = local.generate([{"role": "user", "content": "go"}], [], model="smollm2")
    assert (result.prompt_tokens, result.cached_tokens) == (100, 97)


def test_unload_frees_a_model_and_the_next_call_loads_it_again(fake_loads: list[str]) -> None:
    first = local.load_llama("smollm2")
    local.unload("smollm2")
    assert first.closed and local.loaded_models() == []
    assert local.load_llama("smollm2") is not first and fake_loads == ["smollm2", "smollm2"]


def test_a_string_argument_cut_at_its_length_cap_is_reported(fake_loads: list[str], monkeypatch) -> None:
    cap = local.tool_call_schema([WRITE_FILE])["properties"]["arguments"]["properties"]["content"]["maxLength"]
    replies = iter([{"path": "calc.py", "content": "x" * cap}, {"path": "calc.py", "content": "def f(): pass\n"}])

    def reply(self: FakeLlama, **kwargs: Any) -> dict[str, Any]:
        text = json.dumps({"name": "write_file", "arguments": next(replies)})
        return {"choices": [{"message": {"content": text}}], "usage": {"prompt_tokens": 9, "completion_tokens": 9}}

    monkeypatch.setattr(FakeLlama, "create_chat_completion", reply)
    cut, whole = (local.generate([{"role": "user", "content": "go"}], [WRITE_FILE], model="smollm2") for _ in "ab")
    assert cut.tool_calls[0].arguments["content"] == "x" * cap and cut.sampling["capped_arguments"] == ["content"]
    assert whole.sampling["capped_arguments"] == []


def test_the_run_summary_gives_the_share_of_prompt_tokens_from_the_cache() -> None:
    from orchestrator.cli.render import cache_note

    assert cache_note([{"prompt_tokens": 800, "cached_tokens": 600}, {"prompt_tokens": 200}]) == (
        "; prompt tokens from the KV cache: 600 of 1000 (60%)")
    assert cache_note([{"prompt_tokens": 800, "cached_tokens": 0}]) == ""  # remote and scripted models say nothing


def test_the_prompt_cache_counts_each_states_logits_and_stays_inside_its_capacity() -> None:
    """llama-cpp-python sizes its RAM cache by the llama.cpp state alone; each state also holds its logits."""
    import numpy as np

    from orchestrator.models.providers.local import counted_cache

    class Base:  # LlamaRAMCache's shape: an ordered dict of states, evicting while cache_size > capacity
        def __init__(self, capacity_bytes: int) -> None:
            from collections import OrderedDict
            self.capacity_bytes, self.cache_state = capacity_bytes, OrderedDict()

        def __setitem__(self, key: tuple, value: object) -> None:
            self.cache_state[key] = value
            while self.cache_size > self.capacity_bytes and self.cache_state:
                self.cache_state.popitem(last=False)

    class State:
        def __init__(self) -> None:
            self.llama_state_size, self.scores = 1000, np.zeros((512, 1000), dtype=np.single)  # 2 MB of logits

    cache = counted_cache(Base)(capacity_bytes=5 << 20)
    for n in range(10):
        cache[(n,)] = State()
    assert len(cache.cache_state) == 2 and cache.cache_size <= 5 << 20  # uncounted, all 10 (20 MB) would stay
