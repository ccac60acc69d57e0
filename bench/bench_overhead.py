"""Per-step overhead of a run against bare LangGraph with the same checkpointer, measured in the same run.

Run: .venv/bin/python bench/bench_overhead.py [--steps N] [--repeats R]
The orchestrator side runs a linear workflow of N agent steps whose scripted model answers `finish` at
once (L4, no gates, commits off), through start_run: routing, budgets, the run log, git and the SQLite
checkpointer all take part. The baseline is a bare LangGraph StateGraph of N trivial nodes with a
SqliteSaver on the same disk. The figure is the ratio of the per-step times (target: <= 1.5x).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from orchestrator.models.providers.scripted import FunctionModel, register_scripted  # noqa: E402
from orchestrator.runner import RunOptions, start_run  # noqa: E402


def bare_langgraph(steps: int, folder: Path) -> float:
    """Seconds for one invoke of a bare N-node linear graph with a SqliteSaver (durability sync)."""
    from typing import TypedDict

    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END, START, StateGraph

    class State(TypedDict, total=False):
        count: int

    graph = StateGraph(State)
    for i in range(steps):
        graph.add_node(f"n{i}", lambda state: {"count": state.get("count", 0) + 1})
    graph.add_edge(START, "n0")
    for i in range(steps - 1):
        graph.add_edge(f"n{i}", f"n{i + 1}")
    graph.add_edge(f"n{steps - 1}", END)
    conn = sqlite3.connect(str(folder / f"bare-{time.monotonic_ns()}.sqlite"), check_same_thread=False)
    compiled = graph.compile(checkpointer=SqliteSaver(conn))
    started = time.perf_counter()
    compiled.invoke({"count": 0}, {"configurable": {"thread_id": "t"}}, durability="sync")
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def orchestrator_run(steps: int, folder: Path) -> float:
    """Seconds for one scripted run of an N-step linear workflow, from start_run to its outcome."""
    repo = folder / f"repo-{time.monotonic_ns()}"
    repo.mkdir()
    (repo / "README.md").write_text("bench\n")
    flow = {"name": "linear", "settings": {"autonomy": "L4"},
            "steps": [{"id": f"s{i}", "persona": "surveyor", "commit": False,
                       "next": f"s{i + 1}" if i + 1 < steps else "end"} for i in range(steps)]}
    (repo / ".orchestrator" / "workflows").mkdir(parents=True)
    (repo / ".orchestrator" / "workflows" / "linear.yaml").write_text(yaml.safe_dump(flow))
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "i"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    model = register_scripted(FunctionModel(lambda messages, tools, persona: {"tool": "finish", "arguments": {
        "summary": "ok"}}, name="instant"))
    started = time.perf_counter()
    outcome = start_run(RunOptions(workflow="linear", repo=repo, task="bench", model_overrides={"surveyor": model}))
    seconds = time.perf_counter() - started
    assert outcome.exit_code == 0, outcome.message
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        orchestrator_run(2, folder), bare_langgraph(2, folder)  # warm imports and caches on both sides
        ours = [orchestrator_run(args.steps, folder) / args.steps for _ in range(args.repeats)]
        bare = [bare_langgraph(args.steps, folder) / args.steps for _ in range(args.repeats)]
    ours_ms, bare_ms = statistics.median(ours) * 1000, statistics.median(bare) * 1000
    print(f"per-step overhead, {args.steps} steps, median of {args.repeats}:")
    print(f"  orchestrator {ours_ms:8.2f} ms/step  (min {min(ours) * 1000:.2f}, max {max(ours) * 1000:.2f})")
    print(f"  bare langgraph {bare_ms:6.2f} ms/step  (min {min(bare) * 1000:.2f}, max {max(bare) * 1000:.2f})")
    print(f"  ratio {ours_ms / bare_ms:.1f}x  (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
