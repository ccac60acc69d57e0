"""Fake models that ship with the package: ScriptedModel replays queued replies, FunctionModel calls a function."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import ConfigError, ModelError, ScriptExhaustedError, did_you_mean
from orchestrator.models.ids import SCRIPT_PREFIX, normalise_model_id
from orchestrator.models.types import ToolCall, ToolSpec

ANY_PERSONA = "*"
_REPLY_KEYS = {"text", "tool_calls", "tool", "arguments", "usage", "delay_s", "pause_once"}


@dataclass(frozen=True)
class ScriptedReply:
    """One queued reply: text and/or tool calls, with optional token usage to report."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: tuple[int, int] | None = None
    delay_s: float = 0.0
    pause_once: str | None = None

    def simulate_latency(self) -> None:
        """Sleep `delay_s` like a slow provider; with `pause_once`, only while that sentinel file is absent.

        The sentinel is created when the pause starts, so a test can act (e.g. kill the run) while a
        call is in flight, and a rerun of the same script answers at once.
        """
        if self.pause_once:
            sentinel = Path(self.pause_once)
            if sentinel.exists():
                return
            sentinel.touch()
        if self.delay_s > 0:
            time.sleep(self.delay_s)


@dataclass(frozen=True)
class ScriptedCall:
    """What a fake model was asked: who asked, the messages and the tools offered."""

    persona: str
    messages: list[dict[str, Any]]
    tools: list[ToolSpec] = field(default_factory=list)


def parse_reply(raw: Any, where: str = "reply") -> ScriptedReply:
    """Accept 'text', {'text', 'tool_calls': [{'name', 'arguments'}]} or {'tool', 'arguments'}."""
    if isinstance(raw, ScriptedReply):
        return raw
    if isinstance(raw, str):
        return ScriptedReply(text=raw)
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a reply is text or a mapping, got {type(raw).__name__}")
    unknown = set(raw) - _REPLY_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"{where}: unknown reply key {key!r}.{did_you_mean(key, _REPLY_KEYS)}")
    calls = [{"name": raw["tool"], "arguments": raw.get("arguments", {})}] if "tool" in raw else []
    calls += list(raw.get("tool_calls") or [])
    usage = raw.get("usage")
    return ScriptedReply(
        text=str(raw.get("text") or ""),
        tool_calls=tuple(_parse_call(call, f"{where}: tool_calls[{i}]") for i, call in enumerate(calls)),
        usage=(int(usage["prompt_tokens"]), int(usage["completion_tokens"])) if usage else None,
        delay_s=float(raw.get("delay_s") or 0.0),
        pause_once=str(raw["pause_once"]) if raw.get("pause_once") else None,
    )


def _parse_call(call: Any, where: str) -> ToolCall:
    """A {'name', 'arguments'} mapping (arguments may be a JSON string) as a ToolCall."""
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        raise ConfigError(f"{where}: a tool call needs a 'name' and an 'arguments' mapping")
    arguments = call.get("arguments") or {}
    if isinstance(arguments, str):
        arguments = json.loads(arguments)
    if not isinstance(arguments, dict):
        raise ConfigError(f"{where}: 'arguments' must be a mapping, got {type(arguments).__name__}")
    return ToolCall(name=call["name"], arguments=arguments, id=str(call.get("id", "")))


class FakeModel:
    """Base of the in-process fakes: a name, a provider prefix and a record of every call."""

    provider = "scripted"

    def __init__(self, name: str):
        self.name = name
        self.calls: list[ScriptedCall] = []
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """The id to pass to complete() or bind to a role."""
        return f"{self.provider}/{self.name}"

    def respond(self, persona: str, messages: list[dict[str, Any]], tools: list[ToolSpec]) -> ScriptedReply:
        """Produce the next reply for this call."""
        raise NotImplementedError


class ScriptedModel(FakeModel):
    """Replays queued replies, per persona or from one shared queue, and fails loudly when they run out."""

    def __init__(self, replies: dict[str, list[Any]] | list[Any], name: str = "scripted", source: str = ""):
        super().__init__(name)
        self.source = source
        grouped = replies if isinstance(replies, dict) else {ANY_PERSONA: replies}
        self._queues = {
            persona: deque(parse_reply(r, f"{source or name}: {persona}[{i}]") for i, r in enumerate(items))
            for persona, items in grouped.items()
        }
        self._counts: Counter[str] = Counter()

    def respond(self, persona: str, messages: list[dict[str, Any]], tools: list[ToolSpec]) -> ScriptedReply:
        """Pop the persona's next reply (falling back to the shared '*' queue)."""
        with self._lock:
            self._counts[persona] += 1
            self.calls.append(ScriptedCall(persona, messages, tools))
            for key in (persona, ANY_PERSONA):
                if self._queues.get(key):
                    return self._queues[key].popleft()
        origin = f" ({self.source})" if self.source else ""
        raise ScriptExhaustedError(
            f"scripted model {self.name!r}{origin}: no reply left for persona {persona!r} "
            f"(call #{self._counts[persona]})"
        )

    def remaining(self, persona: str | None = None) -> int:
        """Replies still queued for a persona (its own plus shared), or in total."""
        if persona is None:
            return sum(len(q) for q in self._queues.values())
        return len(self._queues.get(persona, ())) + len(self._queues.get(ANY_PERSONA, ()))


class FunctionModel(FakeModel):
    """Calls `fn(messages, tools, persona)` for each reply; the function returns any reply form."""

    provider = "function"

    def __init__(self, fn: Callable[[list[dict[str, Any]], list[ToolSpec], str], Any], name: str = "function"):
        super().__init__(name)
        self.fn = fn

    def respond(self, persona: str, messages: list[dict[str, Any]], tools: list[ToolSpec]) -> ScriptedReply:
        """Record the call and ask the function."""
        with self._lock:
            self.calls.append(ScriptedCall(persona, messages, tools))
        return parse_reply(self.fn(messages, tools, persona), f"function model {self.name!r}")


_fakes: dict[str, FakeModel] = {}
_scripts: dict[str, str] = {}
_registry_lock = threading.Lock()


def register_scripted(model: FakeModel) -> str:
    """Make a fake callable through LiteLLM; returns its id ('scripted/<name>' or 'function/<name>')."""
    with _registry_lock:
        _fakes[model.model_id] = model
    return model.model_id


def lookup_fake(model_id: str) -> FakeModel:
    """The registered fake for an id; `scripted:PATH` ids load (once per process) from the file."""
    if model_id.startswith(SCRIPT_PREFIX):
        model_id = load_script(model_id[len(SCRIPT_PREFIX) :])
    with _registry_lock:
        fake = _fakes.get(model_id)
        known = list(_fakes)
    if fake is None:
        raise ModelError(
            f"no scripted model registered as {model_id!r}.{did_you_mean(model_id, known)} "
            "Register it with register_scripted(), or use scripted:PATH to replay a YAML/JSONL file."
        )
    return fake


def load_script(path: str | Path) -> str:
    """Load a reply script once per process and register it; returns its 'scripted/file-...' id."""
    resolved = normalise_model_id(SCRIPT_PREFIX + str(path))[len(SCRIPT_PREFIX) :]
    with _registry_lock:
        if resolved in _scripts:
            return _scripts[resolved]
    file = Path(resolved)
    replies = _read_script(file)
    digest = hashlib.sha1(resolved.encode()).hexdigest()[:8]
    model = ScriptedModel(replies, name=f"file-{file.stem}-{digest}", source=str(path))
    with _registry_lock:
        if resolved not in _scripts:  # another thread may have loaded it meanwhile: keep the first queue
            _fakes[model.model_id] = model
            _scripts[resolved] = model.model_id
        return _scripts[resolved]


def _read_script(file: Path) -> dict[str, list[Any]] | list[Any]:
    """YAML (persona -> replies, or a flat list) or JSONL (one reply a line, optional 'persona' key)."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read reply script: {exc.strerror}") from exc
    if file.suffix == ".jsonl":
        return _read_jsonl(text, file)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{file}{f':{mark.line + 1}' if mark else ''}: invalid YAML in reply script") from exc
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
        return {str(k): v for k, v in data.items()}
    raise ConfigError(f"{file}: a reply script is a list of replies or a mapping of persona -> list of replies")


def _read_jsonl(text: str, file: Path) -> dict[str, list[Any]]:
    """Group JSONL replies by their optional 'persona' key (no key: the shared queue)."""
    grouped: dict[str, list[Any]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            reply = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{file}:{number}: invalid JSON: {exc.msg}") from exc
        persona = reply.pop("persona", ANY_PERSONA) if isinstance(reply, dict) else ANY_PERSONA
        grouped.setdefault(str(persona), []).append(reply)
    return grouped


def reset_fakes() -> None:
    """Forget every registered fake and loaded script (for tests)."""
    with _registry_lock:
        _fakes.clear()
        _scripts.clear()


def estimate_tokens(text: str) -> int:
    """The usage a fake reports when its script states none: the shared estimate, at least 1 for any text."""
    from orchestrator.models.tokens import estimate_tokens as typical

    return max(1, typical(text)) if text else 0
