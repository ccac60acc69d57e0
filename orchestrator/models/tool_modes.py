"""Tool calls for servers without native function calling: JSON-schema-constrained output or `<tool_call>` text.

A stock llama-cpp-python server ignores `tools` under `chatml-function-calling` and answers HTTP 500 when
`tool_choice` is set or a `tool` message is in the history. For such a model (`tool_calls:` in models.yaml) the
request carries no tools: they are described in the system prompt, the history is plain turns, and the reply's
JSON object or `<tool_call>` blocks become the reply's tool calls.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from orchestrator.models.providers.local import _json_or_str, _text_of, tool_call_schema
from orchestrator.models.types import ModelReply, ToolCall, ToolSpec

JSON_HINT = 'Answer with exactly one tool call as a JSON object: {"name": <tool>, "arguments": {...}}.'
# The wording of Qwen2.5's (Hermes-style) chat template, which its models were trained to follow.
TEXT_HINT = """# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tools}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>"""
REQUIRED_HINT = "You must answer with a tool call."
_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def adapt_request(request: dict[str, Any], tools: list[ToolSpec] | None, require_tool: bool, mode: str) -> None:
    """Rewrite a LiteLLM request in place for the model's tool-call mode; `native` leaves it as it is."""
    if mode == "native":
        return
    request.pop("tools", None)
    request.pop("tool_choice", None)
    request["messages"] = plain_messages(request["messages"], tools or [], mode, require_tool)
    if not tools or mode == "text":
        return
    if mode == "json_object":
        # llama-cpp-python's own extension, compiled to the same llama.cpp grammar as the embedded models:
        # bounded the same way (its grammar parser crashed on long strings), sized to the reply budget.
        schema = tool_call_schema(tools, request.get("max_tokens") or 2048)
        request["response_format"] = {"type": "json_object", "schema": schema}
    else:
        request["response_format"] = {"type": "json_schema",
                                      "json_schema": {"name": "tool_call", "schema": _call_schema(tools)}}


def _call_schema(tools: list[ToolSpec]) -> dict[str, Any]:
    """Every instance is one call {name, arguments} of one of the tools (unbounded: the server has no such limit)."""
    branches = [{"type": "object", "required": ["name", "arguments"],
                 "properties": {"name": {"const": tool.name},
                                "arguments": tool.parameters or {"type": "object", "properties": {}}}}
                for tool in tools]
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


def plain_messages(messages: list[dict[str, Any]], tools: list[ToolSpec], mode: str,
                   require_tool: bool = False) -> list[dict[str, str]]:
    """System, user and assistant turns only: earlier calls written as the mode writes them, results as user turns."""
    names: dict[str, str] = {}
    out: list[dict[str, str]] = []
    for message in messages:
        role, text = message.get("role", "user"), _text_of(message.get("content"))
        for call in message.get("tool_calls") or []:
            function = call.get("function", call)
            names[call.get("id", "")] = function.get("name", "")
            text += _written_call(function.get("name", ""), _json_or_str(function.get("arguments")), mode)
        if role == "tool":
            tool = message.get("name") or names.get(message.get("tool_call_id", ""), "tool")
            role = "user"
            text = f"<tool_response>\n{text}\n</tool_response>" if mode == "text" else f"Result of {tool}: {text}"
        out.append({"role": role if role in ("system", "user", "assistant") else "user", "content": text})
    if tools:
        _add_to_system(out, _hint(tools, mode) + (f"\n{REQUIRED_HINT}" if require_tool else ""))
    return out


def _written_call(name: str, arguments: Any, mode: str) -> str:
    """An earlier call as the model would have written it."""
    call = json.dumps({"name": name, "arguments": arguments})
    return f"\n<tool_call>\n{call}\n</tool_call>" if mode == "text" else call


def _hint(tools: list[ToolSpec], mode: str) -> str:
    """The tools, described for the model."""
    if mode == "text":
        return TEXT_HINT.format(tools="\n".join(json.dumps(tool.as_openai()) for tool in tools))
    lines = [JSON_HINT, "Tools:"]
    lines += [f"- {tool.name}({', '.join((tool.parameters or {}).get('properties', {}))}): {tool.description}"
              for tool in tools]
    return "\n".join(lines)


def _add_to_system(messages: list[dict[str, str]], hint: str) -> None:
    """Append the hint to the system turn (or open with one)."""
    if messages and messages[0]["role"] == "system":
        messages[0] = {"role": "system", "content": f"{messages[0]['content']}\n\n{hint}"}
    else:
        messages.insert(0, {"role": "system", "content": hint})


def adapt_reply(reply: ModelReply, mode: str, tools: list[ToolSpec] | None) -> ModelReply:
    """The reply with the tool calls its text holds; a reply that already carries calls is kept as it is."""
    if mode == "native" or not tools or reply.tool_calls:
        return reply
    calls = parse_json_call(reply.text) if mode in ("json_schema", "json_object") else parse_tool_call_text(reply.text)
    sampling = {**reply.sampling, "tool_calls": mode}
    if not calls:
        return replace(reply, sampling=sampling)
    text = "" if mode != "text" else _BLOCK.sub("", reply.text).strip()
    return replace(reply, text=text, tool_calls=calls, sampling=sampling)


def parse_json_call(text: str) -> list[ToolCall]:
    """A JSON object {name, arguments} as one tool call; anything else (cut off, not JSON) is no call."""
    call = _as_call(text.strip(), 0)
    return [call] if call else []


def parse_tool_call_text(text: str) -> list[ToolCall]:
    """Every `<tool_call>{"name": ..., "arguments": ...}</tool_call>` block, in order; a last unclosed one counts."""
    return [call for index, match in enumerate(_BLOCK.finditer(text)) if (call := _as_call(match.group(1), index))]


def _as_call(raw: str, index: int) -> ToolCall | None:
    """One call from JSON text; arguments given as a JSON string are decoded, other shapes are no call."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    arguments = _json_or_str(data.get("arguments", data.get("parameters", {})))
    if not isinstance(arguments, dict):
        arguments = {"_raw": arguments}  # the caller rejects it as it rejects any malformed call
    return ToolCall(name=data["name"], arguments=arguments, id=f"call_text_{index}")

