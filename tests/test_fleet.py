"""Workers on the store's queue: every queued run taken exactly once, and a run whose worker is killed (-9)
taken over from its last checkpoint with no lost or duplicate commit and its spend counted once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from conftest import ROOT, git, make_repo
from flows import add_file, add_workflow
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.runner import new_run_id
from orchestrator.store.ledger import SpendLedger
from orchestrator.store.log import RunLog
from orchestrator.workers.jobs import enqueue
from orchestrator.workers.take import job_of

pytestmark = pytest.mark.postgres

BUILDER, TESTER = "function/fleet-builder", "function/fleet-tester"
PRICES = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}


def _origin(path: Path, two_steps: bool = False) -> Path:
    """A repo the workers clone by file:// URL, with the workflow and the fake models' prices."""
    repo = make_repo(path, {"app.py": "x = 1\n"})
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump({"models": {BUILDER: PRICES, TESTER: PRICES}}))
    steps = [{"id": "write", "persona": "builder", "next": "check" if two_steps else "end"}]
    steps += [{"id": "check", "persona": "tester", "next": "end"}] if two_steps else []
    add_workflow(repo, "fleet", steps, autonomy="L4")
    return repo


def _worker(store: str, cache: Path, name: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "tests" / "fleet_worker.py"), store, str(cache), name, *extra],
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(what: Callable[[], Any], timeout: float, message: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(message)


def _jobs(store: str) -> list[tuple[str, str, int]]:
    """(run id, job status, how many times a worker started it) of every queued job."""
    with psycopg.connect(store) as conn:
        return [(r[0]["run_id"], r[1], r[2]) for r in conn.execute(
            "SELECT args, status::text, (SELECT COUNT(*) FROM procrastinate_events e WHERE e.job_id = j.id AND "
            "e.type = 'started') FROM procrastinate_jobs j ORDER BY id")]


def test_two_workers_take_each_of_ten_runs_over_three_repos_exactly_once(pg_url: str, tmp_path: Path) -> None:
    origins = [_origin(tmp_path / f"origin{k}") for k in range(3)]
    runs: dict[str, Path] = {}
    for i in range(10):
        origin = origins[i % 3]
        if i == 0:  # one through the command line, the way a user queues a run
            result = CliRunner().invoke(app, ["run", "fleet", "--task", "note-0", "--repo", str(origin), "--enqueue",
                                              "--store", pg_url, "--model", f"builder={BUILDER}"])
            assert result.exit_code == 0, result.output
            run_id = result.output.split("Queued run ")[1].split()[0]
        else:
            run_id = new_run_id() + f"-{i}"
            enqueue(pg_url, job_of(run_id, origin.as_uri(), "fleet", f"note-{i}", models={"builder": BUILDER}))
        runs[run_id] = origin
    workers = [_worker(pg_url, tmp_path / f"cache{w}", f"w{w}", "--once") for w in range(2)]
    errors = ""
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        errors += err
        assert worker.returncode == 0, err[-3000:]
    assert sorted(_jobs(pg_url)) == sorted((run_id, "succeeded", 1) for run_id in runs), errors[-4000:]
    assert sorted(_jobs(pg_url)) == sorted((run_id, "succeeded", 1) for run_id in runs)  # each taken once
    log = RunLog(pg_url)
    try:
        rows = {row["id"]: row for row in log.runs()}
        for i, (run_id, origin) in enumerate(runs.items()):
            assert rows[run_id]["status"] == "done" and rows[run_id]["repo"] == origin.as_uri()
            assert [e["kind"] for e in log.events(run_id) if e["kind"] in ("resume", "run_start")] == []
            branch = f"orchestrator/{run_id}"  # pushed back to the repo it came from, with the run's work
            assert git(origin, "show", f"{branch}:note-{i}.txt") == f"note-{i}\n"
    finally:
        log.close()


def test_a_killed_workers_run_is_taken_over_from_its_checkpoint(pg_url: str, tmp_path: Path) -> None:
    origin = _origin(tmp_path / "origin", two_steps=True)
    run_id = new_run_id()
    enqueue(pg_url, job_of(run_id, origin.as_uri(), "fleet", "note-7", models={"builder": BUILDER, "tester": TESTER},
                           budget={"usd": 5.0}))
    sign = tmp_path / "blocked"
    first = _worker(pg_url, tmp_path / "cache-a", "a", env={"FLEET_BLOCK": str(sign)})
    _wait_for(sign.exists, 180, "the first worker never reached the tester's call")
    second = _worker(pg_url, tmp_path / "cache-b", "b")
    os.kill(first.pid, signal.SIGKILL)  # mid-run: the builder's phase is committed, pushed and checkpointed
    first.wait(timeout=30)
    try:
        _wait_for(lambda: _status(pg_url, run_id) == "done", 240, "the second worker never finished the run")
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=60)
        except subprocess.TimeoutExpired:
            second.kill()
    assert _jobs(pg_url) == [(run_id, "succeeded", 2)]  # queued again once, by the survivor's sweep
    log = RunLog(pg_url)
    calls = log.calls(run_id)
    resumed = log.events(run_id, "resume")
    log.close()
    assert [c["persona"] for c in calls] == ["builder", "builder", "tester"]  # the builder's phase ran once
    assert len(resumed) == 1
    spent = SpendLedger(pg_url).scope(f"run:{run_id}")
    assert spent["spent_usd"] == pytest.approx(sum(c["cost_usd"] for c in calls))  # counted once
    phases = git(origin, "log", "--format=%(trailers:key=Orchestrator-Phase,valueonly)",
                 f"main..orchestrator/{run_id}").split()
    assert sorted(phases) == sorted(set(phases)) and "final" in phases, phases  # none lost, none twice
    assert git(origin, "show", f"orchestrator/{run_id}:note-7.txt") == "note-7\n"


def _status(store: str, run_id: str) -> str | None:
    log = RunLog(store)
    try:
        row = log.run(run_id)
        return row["status"] if row else None
    finally:
        log.close()
