"""Per-step overhead of a run against bare LangGraph with the same state and checkpointer, measured in the same run.

Run: .venv/bin/python bench/bench_overhead.py [--short N] [--long M] [--repeats R]
The orchestrator side runs linear workflows of N and M agent steps whose scripted model answers `finish` at
once (L4, no gates, commits off), through start_run: routing, budgets, the run log, git and the SQLite
checkpointer all take part. The baseline is a bare LangGraph StateGraph over the same RunState (reducers
included) whose N and M nodes write what an agent step writes (a handoff and a visit count), with a
SqliteSaver on the same disk and the same durability, timed from building its graph (a run compiles its
own). A step's cost is the slope (T(M) - T(N)) / (M - N), so what a run pays once (the registry, the
worktree) is reported apart; loading and compiling a workflow grows with its steps, so it is in the slope.
The two sides alternate and the ratio is taken pair by pair, so a machine whose speed drifts moves both
(target <= 1.5x).
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

from orchestrator.agents.packets import Handoff  # noqa: E402
from orchestrator.models.providers.scripted import FunctionModel, register_scripted  # noqa: E402
from orchestrator.runner import RunOptions, start_run  # noqa: E402
from orchestrator.workflow.state import RunState  # noqa: E402

PERSONA = "tester"
TARGET = 1.5


def bare_langgraph(steps: int, folder: Path) -> tuple[float, float]:
    """(wall, CPU) seconds to build, compile and invoke a bare N-node linear graph over RunState, SqliteSaver,
    durability sync: a run builds and compiles its graph too, and that work grows with the steps on both sides."""
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END, START, StateGraph

    def node(key: str):
        handoff = Handoff(step=key, persona=PERSONA, summary="ok").model_dump()
        return lambda state: {"handoffs": {key: handoff}, "visits": {key: state.get("visits", {}).get(key, 0) + 1}}

    started, cpu = time.perf_counter(), time.process_time()
    graph = StateGraph(RunState)
    for i in range(steps):
        graph.add_node(f"s{i}", node(f"s{i}"))
    graph.add_edge(START, "s0")
    for i in range(steps - 1):
        graph.add_edge(f"s{i}", f"s{i + 1}")
    graph.add_edge(f"s{steps - 1}", END)
    conn = sqlite3.connect(str(folder / f"bare-{time.monotonic_ns()}.sqlite"), check_same_thread=False)
    compiled = graph.compile(checkpointer=SqliteSaver(conn))
    compiled.invoke({"task": "bench", "status": "running"}, {"configurable": {"thread_id": "t"}}, durability="sync")
    seconds = time.perf_counter() - started, time.process_time() - cpu
    conn.close()
    return seconds


def linear_repo(folder: Path, steps: int, persona: str = PERSONA) -> Path:
    """A one-file git repo holding a linear workflow `linear` of N agent steps that commit nothing."""
    repo = folder / f"repo-{time.monotonic_ns()}"
    repo.mkdir()
    (repo / "README.md").write_text("bench\n")
    flow = {"name": "linear", "settings": {"autonomy": "L4"},
            "steps": [{"id": f"s{i}", "persona": persona, "commit": False,
                       "next": f"s{i + 1}" if i + 1 < steps else "end"} for i in range(steps)]}
    (repo / ".orchestrator" / "workflows").mkdir(parents=True)
    (repo / ".orchestrator" / "workflows" / "linear.yaml").write_text(yaml.safe_dump(flow))
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "i"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    return repo


def instant_model() -> str:
    """A function model that finishes every phase at once."""
    return register_scripted(FunctionModel(lambda messages, tools, persona: {"tool": "finish", "arguments": {
        "summary": "ok"}}, name="instant"))


def orchestrator_run(steps: int, folder: Path) -> tuple[float, float]:
    """(wall, CPU) seconds for one scripted run of an N-step linear workflow, from start_run to its outcome.

    CPU is this process's (all threads); git's own CPU is in child processes, so wall time is the figure."""
    repo = linear_repo(folder, steps)
    started, cpu = time.perf_counter(), time.process_time()
    outcome = start_run(RunOptions(workflow="linear", repo=repo, task="bench",
                                   model_overrides={PERSONA: instant_model()}))
    seconds = time.perf_counter() - started, time.process_time() - cpu
    assert outcome.exit_code == 0, outcome.message
    return seconds


def slopes(short: int, long: int, repeats: int, folder: Path) -> list[tuple[float, ...]]:
    """Per repeat: our and bare wall seconds per step, our fixed cost, our whole run / steps, our and bare CPU/step."""
    out = []
    for _ in range(repeats):
        ours_short, ours_long = orchestrator_run(short, folder), orchestrator_run(long, folder)
        bare_short, bare_long = bare_langgraph(short, folder), bare_langgraph(long, folder)
        ours, bare = ((b[0] - a[0]) / (long - short) for a, b in ((ours_short, ours_long), (bare_short, bare_long)))
        ours_cpu, bare_cpu = ((b[1] - a[1]) / (long - short) for a, b in ((ours_short, ours_long),
                                                                          (bare_short, bare_long)))
        out.append((ours, bare, ours_short[0] - short * ours, ours_long[0] / long, ours_cpu, bare_cpu))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=5)
    parser.add_argument("--long", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        orchestrator_run(2, folder), bare_langgraph(2, folder)  # warm imports and caches on both sides
        rows = slopes(args.short, args.long, args.repeats, folder)
    ours, bare, fixed, whole, ours_cpu, bare_cpu = ([r[i] * 1000 for r in rows] for i in range(6))
    ratios = [r[0] / r[1] for r in rows]
    ratio = statistics.median(ratios)
    print(f"per-step overhead: slope between {args.short} and {args.long} steps, median of {args.repeats} pairs; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  orchestrator    {statistics.median(ours):7.2f} ms/step wall (min {min(ours):.2f}, max {max(ours):.2f}),"
          f" {statistics.median(ours_cpu):.2f} ms CPU")
    print(f"  bare langgraph  {statistics.median(bare):7.2f} ms/step wall (min {min(bare):.2f}, max {max(bare):.2f}),"
          f" {statistics.median(bare_cpu):.2f} ms CPU  (baseline: same RunState, SqliteSaver, durability sync)")
    print(f"  ratio {ratio:.2f}x wall, pair by pair (min {min(ratios):.2f}, max {max(ratios):.2f}); "
          f"CPU ratio {statistics.median(ours_cpu) / statistics.median(bare_cpu):.2f}x; target <= {TARGET}x: "
          f"{'PASS' if ratio <= TARGET else 'MISSED'}")
    print(f"  once per run (registry, worktree, final commit): {statistics.median(fixed):.0f} ms; "
          f"whole {args.long}-step run / steps: {statistics.median(whole):.2f} ms/step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
