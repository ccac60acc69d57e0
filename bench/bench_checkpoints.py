"""Checkpoint bytes of a run against the number of steps and of fix rounds, beside bare LangGraph, in the same run.

Run: .venv/bin/python bench/bench_checkpoints.py
Linear: N scripted agent steps that commit nothing (as in bench_overhead.py). Loop: one agent step and a
dispatcher that sends the work back N-1 times, so each round is a fix round on the same steps. Bytes are what
the SQLite checkpointer stored for the run's thread (checkpoints, their metadata and the pending writes). The
baseline is bare LangGraph over the same RunState writing what an agent step writes, for the same N steps.
Linear growth means bytes per step stay flat from 5 to 50 (the ratio column: bytes(N)/N over bytes(5)/5).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402
from bench_overhead import PERSONA, bare_langgraph, instant_model, linear_repo  # noqa: E402

from orchestrator.models.providers.scripted import FunctionModel, register_scripted  # noqa: E402
from orchestrator.runner import RunOptions, start_run  # noqa: E402

SIZES = (5, 20, 50)


def stored_bytes(db: Path, thread: str) -> int:
    """Bytes the checkpointer stored for one thread."""
    conn = sqlite3.connect(str(db))
    try:
        checkpoints = conn.execute("SELECT coalesce(sum(length(checkpoint) + length(metadata)), 0) FROM checkpoints"
                                   " WHERE thread_id = ?", (thread,)).fetchone()[0]
        writes = conn.execute("SELECT coalesce(sum(length(value)), 0) FROM writes WHERE thread_id = ?",
                              (thread,)).fetchone()[0]
    finally:
        conn.close()
    return int(checkpoints) + int(writes)


def linear(steps: int, folder: Path) -> int:
    """Checkpoint bytes of an N-step linear run."""
    repo = linear_repo(folder, steps)
    outcome = start_run(RunOptions(workflow="linear", repo=repo, task="bench",
                                   model_overrides={PERSONA: instant_model()}))
    assert outcome.exit_code == 0, outcome.message
    return stored_bytes(repo / ".git" / "orchestrator" / "checkpoints.sqlite", outcome.run_id)


def loop(rounds: int, folder: Path) -> int:
    """Checkpoint bytes of a run whose dispatcher sends the work back until `rounds` rounds were done."""
    repo = folder / f"loop-{time.monotonic_ns()}"
    repo.mkdir()
    (repo / "README.md").write_text("bench\n")
    flow = {"name": "loop", "settings": {"autonomy": "L4"}, "steps": [
        {"id": "work", "persona": PERSONA, "commit": False, "next": "triage"},
        {"id": "triage", "type": "dispatch", "choices": ["work", "end"], "default": "end", "max_rounds": 50}]}
    (repo / ".orchestrator" / "workflows").mkdir(parents=True)
    (repo / ".orchestrator" / "workflows" / "loop.yaml").write_text(yaml.safe_dump(flow))
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "i"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    asked = []

    def choose(messages: list, tools: list, persona: str) -> dict:
        asked.append(1)
        return {"tool": "work" if len(asked) < rounds else "end", "arguments": {"reason": "one more round"}}

    dispatcher = register_scripted(FunctionModel(choose, name=f"looper-{rounds}"))
    outcome = start_run(RunOptions(workflow="loop", repo=repo, task="bench",
                                   model_overrides={PERSONA: instant_model(), "dispatcher": dispatcher}))
    assert outcome.exit_code == 0 and len(asked) == rounds, outcome.message
    return stored_bytes(repo / ".git" / "orchestrator" / "checkpoints.sqlite", outcome.run_id)


def bare(steps: int, folder: Path) -> int:
    """Checkpoint bytes of bare LangGraph for N steps over the same state."""
    bare_langgraph(steps, folder)
    db = max(folder.glob("bare-*.sqlite"), key=lambda p: p.stat().st_mtime)
    return stored_bytes(db, "t")


def row(name: str, figures: list[int]) -> str:
    """One table row: KB per size, bytes per step, and growth against linear."""
    per = [f / n for f, n in zip(figures, SIZES, strict=True)]
    cells = "".join(f"{f / 1000:9.1f}" for f in figures)
    return f"{name:26}{cells}   {per[0]:7.0f} {per[-1]:7.0f}   {per[-1] / per[0]:5.2f}x"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results = {
            "linear steps (ours)": [linear(n, folder) for n in SIZES],
            "fix rounds (ours)": [loop(n, folder) for n in SIZES],
            "bare langgraph steps": [bare(n, folder) for n in SIZES],
        }
    sizes = "".join(f"{f'{n} KB':>9}" for n in SIZES)
    print(f"checkpoint bytes per run, {'/'.join(map(str, SIZES))} steps or rounds")
    print(f"{'':26}{sizes}   B/step@{SIZES[0]} B/step@{SIZES[-1]}  growth")
    for name, figures in results.items():
        print(row(name, figures))
    ours, base = results["linear steps (ours)"][-1], results["bare langgraph steps"][-1]
    print(f"ours / bare at {SIZES[-1]} steps: {ours / base:.2f}x; linear means growth near 1x (quadratic: "
          f"{SIZES[-1] / SIZES[0]:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
