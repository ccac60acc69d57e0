"""A cold scripted CLI run of the shipped `feature` workflow against what it can't avoid, measured in the same run.

Run: .venv/bin/python bench/bench_cold_run.py [--repeats R]
Each repeat starts a fresh process running what the `orchestrator` console script runs: `run feature` on a
fresh copy of examples/calc, every persona on one `scripted:` reply file (tests/scripts.py's feature team:
the quality gate fails once, the critic once). The baseline is what such a run can't avoid: its own gate
commands (every command a run starts goes through the sandbox's run_command, timed inside the run's process,
sandbox start included) plus a cold `python -c "import langgraph.graph"`, timed alone in the same repeat.
The figure is the run's wall time over that sum (target <= 2x). It also checks that LiteLLM was never imported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the scripted feature team the workflow tests use

import yaml  # noqa: E402
from scripts import feature_critic, feature_team  # noqa: E402

TARGET = 2.0
ROLES = ("surveyor", "spec_writer", "tester", "builder", "dispatcher", "critic")
CLI = """\
import sys, time
import orchestrator.agents.sandbox as sandbox
spent = [0.0, 0]
real = sandbox.run_command

def timed(*args, **kwargs):
    started = time.perf_counter()
    try:
        return real(*args, **kwargs)
    finally:
        spent[0] += time.perf_counter() - started
        spent[1] += 1

sandbox.run_command = timed  # before anything imports it by name
from orchestrator.cli import main
try:
    code = main()
finally:
    print("COMMANDS", spent[0], spent[1], "LITELLM_IMPORTED", "litellm" in sys.modules, file=sys.stderr)
sys.exit(code)
"""
"""What the `orchestrator` console script runs, timing every command the run starts (all of them gates' here)."""


def environment() -> dict[str, str]:
    """The run's environment: this venv first on PATH (gate commands run `python -m pytest`), no network."""
    env = dict(os.environ, ORCHESTRATOR_BLOCK_REAL_REQUESTS="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
               PYTHONPATH=str(ROOT))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def fresh_repo(folder: Path) -> Path:
    """examples/calc as a new git repo."""
    repo = Path(tempfile.mkdtemp(dir=folder, prefix="calc-"))
    shutil.copytree(ROOT / "examples" / "calc", repo, dirs_exist_ok=True)
    for args in (["init", "-q", "--initial-branch=main"], ["add", "-A"],
                 ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qm", "calc"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    return repo


def wall(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    """Seconds and result of one process."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    return time.perf_counter() - started, done


def commands(stderr: str) -> tuple[float, int, bool]:
    """(seconds, count) of the commands the run started, and whether LiteLLM was imported, from its last line."""
    words = [line for line in stderr.splitlines() if line.startswith("COMMANDS ")][-1].split()
    return float(words[1]), int(words[2]), words[4] == "True"


def one_repeat(folder: Path, replies: Path, env: dict[str, str]) -> dict[str, float]:
    """One cold run and its baseline."""
    repo = fresh_repo(folder)
    models = [a for role in ROLES for a in ("--model", f"{role}=scripted:{replies}")]
    seconds, done = wall([sys.executable, "-c", CLI, "run", "feature", "--repo", str(repo), "--task",
                          "Add subtract(a, b) to calc.py", *models, "--approve", "auto"], folder, env)
    if done.returncode != 0:
        raise SystemExit(f"the scripted run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    gates, count, litellm = commands(done.stderr)
    langgraph, _ = wall([sys.executable, "-c", "import langgraph.graph"], folder, env)
    return {"run": seconds, "gates": gates, "commands": count, "langgraph": langgraph, "litellm": float(litellm)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env = environment()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        replies = folder / "replies.yaml"
        replies.write_text(yaml.safe_dump({**feature_team(), **feature_critic()}, sort_keys=False))
        one_repeat(folder, replies, env)  # warm the disk cache and the bytecode of both sides
        rows = [one_repeat(folder, replies, env) for _ in range(args.repeats)]
    ratios = [r["run"] / (r["gates"] + r["langgraph"]) for r in rows]
    med = {key: statistics.median(r[key] for r in rows) for key in ("run", "gates", "langgraph")}
    print(f"cold scripted `orchestrator run feature`, median of {args.repeats}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  run wall {med['run']:.2f} s; its {int(rows[0]['commands'])} gate commands {med['gates']:.2f} s; "
          f"cold `import langgraph.graph` {med['langgraph']:.2f} s")
    print(f"  ratio run / (gate commands + langgraph import): {statistics.median(ratios):.2f}x "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}); target <= {TARGET}x: "
          f"{'PASS' if statistics.median(ratios) <= TARGET else 'MISSED'}")
    print(f"  litellm imported: {'yes' if any(r['litellm'] for r in rows) else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
