"""Run one policy on one problem through `run_workflow`, then score its branch on the hidden test.

The problems of a split are linked worktrees of one bench repository, so every run of the split lands in one
run log (`.git/orchestrator/runs.sqlite` of the common git dir): `router calibrate --from-runs --repo` and
`router drift --repo` read it as they read any repository's.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from bench.tasks.policies import BOTH, Policy, implement_workflow
from bench.tasks.problems import MODULE, VISIBLE, Problem, score_source, stub, task_text, visible_tests
from bench.tasks.replay import ReplayingComplete
from orchestrator.store.log import RunLog

IDENT = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "-c", "commit.gpgsign=false"]
RUN_SECONDS = 1800
"""Wall-clock cap of one run: a stuck run costs the bench at most this."""


def git(cwd: Path, *args: str) -> str:
    """Run git (the bench's own set-up commands) and return stdout."""
    return subprocess.run(["git", *IDENT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def rung_profiles(ladder: list[str]) -> list[str]:
    """Profile names of the ladder's rungs: the shipped names at both ends, so shipped workflows keep working."""
    middle = [f"bench_rung{i}" for i in range(1, len(ladder) - 1)]
    return ["high_throughput", *middle, "high_reasoning"]


def models_yaml(ladder: list[str]) -> str:
    """The bench repo's models.yaml: one profile per rung, the ladder over them, and one profile with all."""
    names = rung_profiles(ladder)
    profiles = {name: [model] for name, model in zip(names, ladder, strict=True)} | {BOTH: list(ladder)}
    return yaml.safe_dump({"profiles": profiles, "ladder": names, "roles": {"builder": names[0]}}, sort_keys=False)


def bench_repo(root: Path, ladder: list[str]) -> Path:
    """The split's bench repository (created once): the ladder's models.yaml on its first commit."""
    repo = root / "repo"
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q", "--initial-branch=main")
        (repo / ".orchestrator").mkdir(exist_ok=True)
        (repo / ".orchestrator" / "models.yaml").write_text(models_yaml(ladder))
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "bench: the ladder")
    return repo


def problem_worktree(root: Path, ladder: list[str], problem: Problem) -> Path:
    """A linked worktree of the bench repo holding one problem: the stub module and its visible tests."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes on one split (--reverse) must not both create it
        return _problem_worktree(root, ladder, problem)


def _problem_worktree(root: Path, ladder: list[str], problem: Problem) -> Path:
    repo = bench_repo(root, ladder)
    path = root / "problems" / problem.slug
    if (path / ".git").exists():
        return path
    git(repo, "worktree", "add", "-q", "-b", f"problem/{problem.slug}", str(path), "main")
    (path / MODULE).write_text(stub(problem))
    (path / VISIBLE).parent.mkdir(exist_ok=True)
    (path / VISIBLE).write_text(visible_tests(problem))
    (path / "conftest.py").write_text("")  # `from solution import ...` works from tests/
    (path / "pytest.ini").write_text("[pytest]\n")  # the rootdir is the problem's repo, whatever folder holds it
    git(path, "add", "-A")
    git(path, "commit", "-qm", f"{problem.task_id}: stub and visible tests")
    return path


def workflow_file(out: Path, policy: Policy, ladder: list[str], split: str) -> Path:
    """The policy's workflow, written into the bench's output folder, one per split: the splits run side by side,
    and a predictive policy's file names a different router in each. Written whole or not at all (a run reading
    it while the next run of the split writes it must not see half a file)."""
    path = out / "workflows" / split / f"{policy.name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    flow = policy.workflow(implement_workflow(), rung_profiles(ladder))
    flow["name"] = f"implement-{policy.name}" if policy.name != "implement" else "implement"
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(yaml.safe_dump(flow, sort_keys=False))
    os.replace(partial, path)
    return path


def run_policy(policy: Policy, problem: Problem, root: Path, out: Path, ladder: list[str],
               complete: ReplayingComplete, workflow: Path | None = None) -> dict[str, Any]:
    """One run of a policy on a problem: its record (hidden verdict, calls, compute, wall seconds)."""
    from orchestrator import run_workflow
    from orchestrator.runner import new_run_id

    path = problem_worktree(root, ladder, problem)
    builder = policy.builder(problem.task_id, rung_profiles(ladder), random.Random(problem.task_id))
    flow = workflow or workflow_file(out, policy, ladder, root.name)
    run_id = new_run_id()
    hits, replayed = complete.hits, complete.replayed_s
    started = time.monotonic()
    try:
        outcome = run_workflow(flow, task_text(problem), path, models={"builder": builder}, complete=complete,
                               budget={"seconds": RUN_SECONDS}, run_id=run_id, approve="auto")
        exit_code, message = outcome.exit_code, outcome.message
    except Exception as exc:  # a crashed run is a failed attempt, not a crashed bench
        exit_code, message = -1, f"{type(exc).__name__}: {exc}"
    wall = time.monotonic() - started + (complete.replayed_s - replayed)
    source = _show(path, f"orchestrator/{run_id}:{MODULE}")
    passed, why = score_source(problem, source)
    record = {"policy": policy.name, "problem": problem.task_id, "run_id": run_id, "builder": builder,
              "exit_code": exit_code, "message": (message or "")[:300], "hidden_pass": passed, "hidden_why": why,
              "wall_s": round(wall, 2), "replayed_calls": complete.hits - hits, **_from_log(path, run_id)}
    trees = record.pop("trees", [])
    if trees:  # best-of candidates: each one's hidden verdict, for the oracle bound (never seen by a run)
        record["samples"] = _score_candidates(path, problem, trees)
    return record


def derived_samples(policy: Policy, base: dict[str, Any] | None) -> dict[str, Any] | None:
    """The samples policy's record taken from its best-of policy's run, when that run already decides the oracle
    bound; None when the samples must be drawn.

    The oracle gate takes the first sample that passes the hidden test. The best-of run drew its samples in the same
    order with the same requests, up to the first that passed the visible test: when one of them passes the hidden
    test, or the run drew all n, the samples after it change nothing. Only a visible pass before the n-th sample
    that fails the hidden test needs the rest drawn (measured 2026-12-07: drawing every sample cost 15% of the
    quick mode's model time). Nothing is drawn for the derived record, so it has no calls and no wall time (its
    samples keep their tokens, which the oracle bound counts)."""
    if policy.samples_of is None or base is None or "samples" not in base:
        return None
    _, n = policy.samples_of
    samples = base["samples"]
    if not (any(s["hidden_pass"] for s in samples) or len(samples) >= n):
        return None
    return {**base, "policy": policy.name, "derived_from": base["policy"], "calls": [], "wall_s": 0.0,
            "replayed_calls": 0, "routing_s": 0.0}


def _show(repo: Path, ref: str) -> str | None:
    """A file at a ref, or None when the ref or the file is missing."""
    proc = subprocess.run(["git", "show", ref], cwd=repo, capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def _from_log(repo: Path, run_id: str) -> dict[str, Any]:
    """The run's calls (model, tokens, latency), routing time, visible verdicts and best-of candidate trees."""
    log = RunLog(Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").strip())
                 / "orchestrator" / "runs.sqlite")
    try:
        calls = [{"model": c["model"], "step": c["step"], "prompt_tokens": c["prompt_tokens"],
                  "completion_tokens": c["completion_tokens"], "latency_s": round(c["latency_s"] or 0, 3)}
                 for c in log.calls(run_id)]
        decisions = log.decisions(run_id)
        routing_us = sum(d["latency_us"] or 0 for d in decisions)
        score = next((d["features"]["score"] for d in decisions if "score" in d["features"]), None)
        gates = [e["data"].get("verdict") for e in log.events(run_id, "gate")
                 if e["data"].get("gate_kind") == "quality"]
        trees = [(e["data"].get("index"), e["data"].get("model"), e["data"].get("tree"), e["data"].get("tokens"))
                 for e in log.events(run_id, "candidate") if e["data"].get("tree")]  # a critic's has no tree
    finally:
        log.close()
    return {"calls": calls, "routing_s": round(routing_us / 1e6, 6), "visible": gates, "trees": trees, "score": score}


def _score_candidates(repo: Path, problem: Problem, trees: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Each sampled candidate's hidden verdict (only the oracle bound reads these)."""
    scored = []
    for index, model, tree, tokens in trees:
        passed, _ = score_source(problem, _show(repo, f"{tree}:{MODULE}") if tree else None)
        scored.append({"index": index, "model": model, "hidden_pass": passed, "tokens": tokens})
    return scored


def read_records(results: Path) -> list[dict[str, Any]]:
    """The records of a results file; a last line cut by a kill is skipped."""
    records = []
    for line in results.read_text().splitlines() if results.exists() else []:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def done_keys(results: Path) -> set[tuple[str, str]]:
    """(policy, problem) pairs already in the results file: a resumed bench skips them."""
    return {(row["policy"], row["problem"]) for row in read_records(results)}


def append(results: Path, record: dict[str, Any]) -> None:
    """Add one record (flushed and synced: a kill loses at most the run in flight)."""
    with results.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
