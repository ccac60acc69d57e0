"""Does the embedded team beat asking its own model once? Tasks it was never tuned on, scored by hidden tests.

    python bench/bench_team.py --setup                      # once: download the library tasks' sdists (pip)
    python bench/bench_team.py --half held --bare-only      # each model asked once (minutes)
    python bench/bench_team.py --half held                  # the team too (hours on 2 cores)
    python bench/bench_team.py --half fresh                 # the third half, untouched by tuning
    python bench/bench_team.py --half fresh2                # the fourth, untouched until measured
    python bench/bench_team.py --half fresh3                # the fifth, written without seeing any output
    python bench/bench_team.py --half fresh4                # the sixth, written after fresh3, likewise blind
    python bench/bench_team.py --half fresh5                # the seventh, written after fresh4, likewise blind
    python bench/bench_team.py --half fresh6                # the eighth, written after fresh5, likewise blind
    python bench/bench_team.py --tasks rectangle_area,mean_bug --models qwen2.5-coder-1.5b

For each task of bench/data/team/tasks.yaml (12 tuning, 12 held back, 12 fresh, 12 fresh2, 12 fresh3,
12 fresh4, 12 fresh5, 12 fresh6; new tiny repos and cut PyPI libraries; `--half both` is tune and held, `all` the
eight):
- the bare single shot of each embedded model: one plain prompt (the task, the module's source, the function's
  signature; temperature 0), its function spliced into the module, scored by the task's hidden tests;
- the team: the shipped workflow for the task's kind (`feature` or `bugfix`, or --workflow) run through the CLI
  in a child process with a timeout, then its branch scored by the same hidden tests, which never enter the repo.
It prints, per half: the bare pass rate of each model; the team's done rate and false-done rate (done, but the
hidden tests fail); median wall time; median tokens per done task beside the bare shot's; tokens per role; the
share of prompt tokens served from the KV cache; and the gate that stopped each failed run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from team_tasks import (  # noqa: E402
    HALVES,
    Task,
    answer_code,
    as_dict,
    branch_copy,
    build_repo,
    fetch_sdists,
    hidden_tests_pass,
    load_tasks,
    run_branch,
    splice,
)

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")
BARE_PROMPT = ("{task}\n\nThe file {module}:\n```python\n{source}\n```\n\nWrite the complete function `{signature}` "
               "in one ```python code block.")


SELECTIONS = {"both": ("tune", "held"), "all": HALVES, **{half: (half,) for half in HALVES}}
"""What --half picks: one half, `both` (tune and held, as before the fresh half existed) or `all` eight."""


def choose(tasks: list[Task], half: str, ids: str | None = None) -> list[Task]:
    """The tasks of the --half selection, narrowed to the comma-separated ids when given."""
    return [t for t in tasks if t.half in SELECTIONS[half] and (not ids or t.id in ids.split(","))]


def bare_shot(task: Task, model: str, complete: Any = None) -> dict[str, Any]:
    """Ask `model` once (through the gateway, temperature 0) and score its function with the hidden tests."""
    from orchestrator.models.gateway import complete as gateway_complete

    repo = build_repo(task)
    try:
        source = (repo / task.module).read_text()
        prompt = BARE_PROMPT.format(task=task.task, module=task.module, source=source, signature=task.signature)
        started = time.monotonic()
        reply = (complete or gateway_complete)(model, [{"role": "user", "content": prompt}], temperature=0.0,
                                               persona="bare")
        seconds = time.monotonic() - started
        spliced = splice(source, answer_code(reply.text), task.function)
        if spliced is not None:
            (repo / task.module).write_text(spliced)
        passed = spliced is not None and hidden_tests_pass(repo, task)
    finally:
        shutil.rmtree(repo, ignore_errors=True)
    return {**as_dict(task), "model": model, "passed": passed, "seconds": round(seconds, 1),
            "tokens": reply.total_tokens, "usable": spliced is not None}


def team_run(task: Task, workflow: str | None, timeout_s: float, seed: int = 0) -> dict[str, Any]:
    """One run of the team through the CLI in a child process, then its branch scored by the hidden tests."""
    repo = build_repo(task)
    flow = pick_workflow(task, workflow)
    env = {**os.environ, "ORCHESTRATOR_LOCAL_SEED": str(seed), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "PYTHONPATH": str(ROOT), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    code_line = "import sys; from orchestrator.cli import main; sys.argv[0] = 'orchestrator'; sys.exit(main())"
    argv = [sys.executable, "-c", code_line, "run", flow, "--repo", str(repo), "--task", task.task,
            "--approve", "auto"]
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout_s)
        code, tail = proc.returncode, (proc.stdout + proc.stderr).strip().splitlines()[-2:]
    except subprocess.TimeoutExpired:
        code, tail = -1, [f"timed out after {timeout_s:.0f}s"]
    seconds = time.monotonic() - started
    return {**as_dict(task), "workflow": flow, "exit": code, "done": code == 0, "seconds": round(seconds, 1),
            "hidden_pass": score_branch(repo, task), "tail": tail, "repo": str(repo), **read_log(repo, code)}


LEAN = "implement"
"""The lean workflow (build, visible-tests gate, fix rounds; issue 20) that `--workflow auto` gives feature tasks."""


def pick_workflow(task: Task, workflow: str | None) -> str:
    """The workflow a task runs: --workflow as given; `auto` takes the lean one for a feature when it is shipped."""
    if workflow != "auto":
        return workflow or task.kind
    shipped = (ROOT / "workflows" / f"{LEAN}.yaml").is_file()
    return LEAN if task.kind == "feature" and shipped else task.kind


def score_branch(repo: Path, task: Task) -> bool:
    """The hidden tests on the run's branch, in a copy: the repo the team worked in never holds them."""
    branch = run_branch(repo)
    folder = branch_copy(repo, branch) if branch else None
    if folder is None:
        return False
    try:
        return hidden_tests_pass(folder, task)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def read_log(repo: Path, exit_code: int) -> dict[str, Any]:
    """Tokens per role, prompt tokens served from cache, and what stopped the run, from the run's own log."""
    path = repo / ".git" / "orchestrator" / "runs.sqlite"
    empty = {"tokens": {}, "prompt_tokens": 0, "cached_tokens": 0, "stopped_by": "no run log"}
    if not path.exists():
        return empty
    with sqlite3.connect(path) as db:
        tokens: dict[str, int] = defaultdict(int)
        for persona, used in db.execute("select persona, prompt_tokens + completion_tokens from calls"):
            tokens[persona] += used or 0
        prompt = cached = 0
        for (data,) in db.execute("select data from events where kind = 'phase_end'"):
            row = json.loads(data)
            prompt, cached = prompt + row.get("prompt_tokens", 0), cached + row.get("cached_tokens", 0)
        gates = [json.loads(d) for (d,) in db.execute("select data from events where kind = 'gate' order by id")]
    return {"tokens": dict(tokens), "prompt_tokens": prompt, "cached_tokens": cached,
            "stopped_by": stopped_by(exit_code, gates)}


def stopped_by(exit_code: int, gates: list[dict[str, Any]]) -> str:
    """Which gate stopped a failed run (its last failing verdict), or why else it ended."""
    if exit_code == 0:
        return ""
    failed = [g for g in gates if g.get("verdict") != "pass"]
    if exit_code == -1:
        return "timeout" + (f" (last failed gate: {failed[-1].get('gate')})" if failed else "")
    if failed:
        return f"{failed[-1].get('gate')}: {str(failed[-1].get('reason', ''))[:100]}"
    return f"exit {exit_code}"


def summarise(team: list[dict[str, Any]], bare: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one half: bare pass rate per model beside the team's done and false-done rates."""
    out: dict[str, Any] = {"bare": {}}
    for model in sorted({b["model"] for b in bare}):
        rows = [b for b in bare if b["model"] == model]
        out["bare"][model] = {"passed": sum(b["passed"] for b in rows), "of": len(rows),
                              "median_seconds": _median(b["seconds"] for b in rows),
                              "median_tokens": _median(b["tokens"] for b in rows)}
    if team:
        done = [t for t in team if t["done"]]
        roles = sorted({role for t in team for role in t["tokens"]})
        prompt = sum(t["prompt_tokens"] for t in team)
        out["team"] = {
            "done": len(done), "of": len(team), "false_done": sum(not t["hidden_pass"] for t in done),
            "hidden_pass": sum(t["hidden_pass"] for t in team),
            "median_seconds": _median(t["seconds"] for t in team),
            "median_tokens_per_done_task": _median(sum(t["tokens"].values()) for t in done),
            "median_tokens_per_role": {r: _median(t["tokens"].get(r, 0) for t in team) for r in roles},
            "cache_share": round(sum(t["cached_tokens"] for t in team) / prompt, 3) if prompt else None,
            "stopped_by": dict(Counter(t["stopped_by"].split(":")[0] for t in team if not t["done"])),
        }
    return out


def _median(values: Any) -> float | None:
    values = list(values)
    return round(statistics.median(values), 1) if values else None


def print_half(half: str, figures: dict[str, Any], team: list[dict[str, Any]]) -> None:
    """One half's figures, and each failed run's stopping gate."""
    print(f"\n== {half} half")
    for model, row in figures["bare"].items():
        print(f"   bare {model:20} passed {row['passed']}/{row['of']}, median {row['median_seconds']} s, "
              f"{row['median_tokens']} tokens")
    if "team" in figures:
        t = figures["team"]
        print(f"   team: done {t['done']}/{t['of']}, false done {t['false_done']}, hidden tests pass "
              f"{t['hidden_pass']}/{t['of']}, median wall {t['median_seconds']} s, median tokens per done task "
              f"{t['median_tokens_per_done_task']}, prompt tokens from cache {t['cache_share']}")
        print(f"   team tokens per role (median): {json.dumps(t['median_tokens_per_role'])}")
        for run in team:
            if not run["done"]:
                print(f"   {run['id']}: stopped by {run['stopped_by']}")


def earlier_bare(path: Path, chosen: list[Task]) -> list[dict[str, Any]]:
    """The bare-shot records of an earlier run for the chosen tasks: from its printed output (lines of JSON with
    a `model`) or its `--json` file."""
    ids = {t.id for t in chosen}
    text = path.read_text()
    try:
        rows = json.loads(text)["bare"]
    except (ValueError, KeyError, TypeError):
        rows = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return [r for r in rows if "model" in r and "passed" in r and r.get("id") in ids]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", action="store_true", help="download the library tasks' sdists, then exit")
    parser.add_argument("--half", choices=tuple(SELECTIONS), default="both",
                        help="a half (tune, held, fresh, fresh2, fresh3, fresh4, fresh5, fresh6), `both` "
                             "(tune and held) or `all` eight")
    parser.add_argument("--tasks", help="comma-separated task ids (default: every task of the half)")
    parser.add_argument("--models", default=",".join(MODELS), help="models asked once, comma-separated")
    parser.add_argument("--bare-only", action="store_true", help="skip the team runs")
    parser.add_argument("--team-only", action="store_true", help="skip the bare single shots")
    parser.add_argument("--workflow", help="run this workflow for every task instead of feature/bugfix by kind; "
                        f"`auto`: the lean `{LEAN}` workflow for feature tasks when it is shipped")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a team run counts as failed")
    parser.add_argument("--json", type=Path, help="also write every record to this file")
    parser.add_argument("--bare-from", type=Path, help="reuse the bare shots of an earlier run's output (its JSON "
                        "lines) instead of asking the models again")
    args = parser.parse_args()
    tasks = load_tasks()
    if args.setup:
        print("fetched:", fetch_sdists(tasks) or "nothing (all cached)")
        return 0
    chosen = choose(tasks, args.half, args.tasks)
    print(json.dumps({"tasks": len(chosen), "load_average": os.getloadavg(), "cpus": os.cpu_count(),
                      "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}))
    bare = earlier_bare(args.bare_from, chosen) if args.bare_from else []
    for task in [] if args.team_only or args.bare_from else chosen:
        for model in args.models.split(","):
            bare.append(bare_shot(task, f"local/{model}"))
            print(json.dumps(bare[-1]), flush=True)  # as it comes: a long bench cut short keeps what it measured
    team = []
    for task in [] if args.bare_only else chosen:
        team.append(team_run(task, args.workflow, args.timeout))
        print(json.dumps({k: v for k, v in team[-1].items() if k != "tail"}), flush=True)
    for half in HALVES:
        rows = [t for t in team if t["half"] == half]
        shots = [b for b in bare if b["half"] == half]
        if rows or shots:
            print_half(half, summarise(rows, shots), rows)
    if args.json:
        args.json.write_text(json.dumps({"bare": bare, "team": team}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
