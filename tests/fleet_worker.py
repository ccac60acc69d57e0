"""A worker process for the fleet tests: `orchestrator worker` with in-process fake models registered first.

The builder writes `<task>.txt` and finishes; the tester finishes at once, or, with FLEET_BLOCK set, writes
that file's path as a sign and then hangs (the test kills this worker there, mid-run).
Usage: python tests/fleet_worker.py STORE CACHE NAME [--once]
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from orchestrator.models.providers.scripted import FunctionModel, register_scripted
from orchestrator.workers.jobs import WorkerSettings


def _answered(messages: list[dict[str, Any]]) -> bool:
    return any(m.get("role") == "tool" for m in messages)


def _builder(messages: list[dict[str, Any]], tools: list[Any], persona: str) -> Any:
    task = re.search(r"note-\d+", " ".join(str(m.get("content")) for m in messages)).group(0)
    if _answered(messages):
        return {"tool": "finish", "arguments": {"summary": f"wrote {task}"}}
    return {"tool": "write_file", "arguments": {"path": f"{task}.txt", "content": f"{task}\n"}}


def _tester(messages: list[dict[str, Any]], tools: list[Any], persona: str) -> Any:
    sign = os.environ.get("FLEET_BLOCK")
    if sign:
        Path(sign).write_text("blocked\n")
        time.sleep(3600)
    return {"tool": "finish", "arguments": {"summary": "checked"}}


def main(argv: list[str]) -> None:
    from orchestrator.workers.take import work

    store, cache, name = argv[:3]
    register_scripted(FunctionModel(_builder, name="fleet-builder"))
    register_scripted(FunctionModel(_tester, name="fleet-tester"))
    work(WorkerSettings(store=store, cache=Path(cache), name=name, wait="--once" not in argv, heartbeat_s=1.0,
                        stalled_after_s=3.0, sweep_every_s=1.0))


if __name__ == "__main__":
    main(sys.argv[1:])
