"""A fake OpenAI-compatible server on 127.0.0.1 for tests: queued answers, injected faults, recorded requests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[dict[str, Any]], "Fault | dict[str, Any]"]


@dataclass(frozen=True)
class Fault:
    """One raw HTTP answer: a status, a body (bytes as sent), headers, a delay and a lie about the length."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    claimed_length: int | None = None  # a Content-Length above len(body): the stream ends early


def completion(text: str = "", tool_calls: list[dict[str, Any]] | None = None, model: str = "fake") -> dict[str, Any]:
    """An OpenAI chat.completion body with this text or these tool calls ({name, arguments} each)."""
    calls = [{"id": f"call_{i}", "type": "function",
              "function": {"name": c["name"], "arguments": c["arguments"] if isinstance(c["arguments"], str)
                           else json.dumps(c["arguments"])}} for i, c in enumerate(tool_calls or [])]
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}


def error(status: int, message: str, **headers: str) -> Fault:
    """An OpenAI-style JSON error answer."""
    body = json.dumps({"error": {"message": message, "type": "server_error", "code": status}}).encode()
    return Fault(status, body, {"Content-Type": "application/json", **headers})


def timeout(seconds: float) -> Fault:
    """An answer that only starts after `seconds` (longer than the client's timeout)."""
    return Fault(200, json.dumps(completion("too late")).encode(), {"Content-Type": "application/json"}, seconds)


def malformed() -> Fault:
    """HTTP 200 whose body is not JSON."""
    return Fault(200, b'{"id": "chatcmpl-x", "choices": [ this is not json', {"Content-Type": "application/json"})


def truncated() -> Fault:
    """HTTP 200 whose body stops halfway although Content-Length promised more."""
    body = json.dumps(completion("a reply that never arrives whole")).encode()
    return Fault(200, body[: len(body) // 2], {"Content-Type": "application/json"}, claimed_length=len(body))


class FakeOpenAI:
    """Serves /v1/chat/completions from a queue of answers (dicts or Faults), then from `default`."""

    def __init__(self, default: Answer | None = None):
        self.queue: list[Fault | dict[str, Any] | Answer] = []
        self.default = default
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        """The OpenAI-style base URL, e.g. http://127.0.0.1:PORT/v1."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def push(self, *answers: Fault | dict[str, Any] | Answer) -> None:
        """Queue answers for the next requests, in order."""
        with self._lock:
            self.queue.extend(answers)

    def answer(self, request: dict[str, Any]) -> Fault:
        """The next answer for a chat request, recorded first."""
        with self._lock:
            self.requests.append(request)
            item = self.queue.pop(0) if self.queue else self.default
        if callable(item):
            item = item(request["body"])
        if item is None:
            return error(500, "fake server: no answer queued")
        if isinstance(item, Fault):
            return item
        return Fault(200, json.dumps(item).encode(), {"Content-Type": "application/json"})

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._send(Fault(200, json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]})
                                 .encode(), {"Content-Type": "application/json"}))
            else:
                self._send(error(404, f"no route {self.path}"))

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"_raw": raw.decode(errors="replace")}
            self._send(fake.answer({"path": self.path, "headers": dict(self.headers), "body": body}))

        def _send(self, fault: Fault) -> None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            try:
                self.send_response(fault.status)
                for name, value in fault.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(fault.claimed_length or len(fault.body)))
                if fault.claimed_length:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(fault.body)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout): fine
                pass
            if fault.claimed_length:
                self.close_connection = True

    return Handler


@contextmanager
def fake_openai(default: Answer | None = None) -> Iterator[FakeOpenAI]:
    """A running FakeOpenAI, stopped afterwards."""
    server = FakeOpenAI(default).start()
    try:
        yield server
    finally:
        server.stop()
