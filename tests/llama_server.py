"""llama-cpp-python's OpenAI-compatible server in a subprocess on 127.0.0.1, for tests that need a real one."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

# The AMX workaround of orchestrator/models/providers/local.py, applied inside the server process: llama.cpp's
# extra CPU buffer types crash in VMs that advertise AMX without enabling it.
LAUNCHER = """
import runpy, sys
import llama_cpp.llama_cpp as low
original = low.llama_model_default_params
def params():
    value = original()
    value.use_extra_bufts = False
    return value
low.llama_model_default_params = params
sys.argv = ["llama_cpp.server", *sys.argv[1:]]
runpy.run_module("llama_cpp.server", run_name="__main__")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def llama_server(model: Path, alias: str, n_ctx: int = 8192, wait_s: float = 120.0) -> Iterator[str]:
    """Serve one GGUF; yields the api_base (http://127.0.0.1:PORT/v1) once /v1/models answers."""
    port = free_port()
    argv = [sys.executable, "-c", LAUNCHER, "--model", str(model), "--model_alias", alias, "--host", "127.0.0.1",
            "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", "1", "--verbose", "false"]
    # stderr to a file, not a pipe: uvicorn logs every request, and a full pipe would block the server.
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log, text=True)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(process, base, wait_s, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_until_up(process: subprocess.Popen, base: str, wait_s: float, log: IO[str]) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"llama-cpp-python server exited ({process.returncode}): {log.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/models", timeout=2) as response:
                json.loads(response.read())
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"llama-cpp-python server not up at {base} after {wait_s:.0f}s")
