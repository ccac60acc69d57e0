"""Twenty runs at once, each in its own process: ten on one checkout, ten on five linked worktrees of another
repository (separate checkouts sharing one store, `.git/orchestrator/`). Their run times overlap for certain:
every builder's first model call waits until all twenty runs are inside one. All must finish, each with
its own log rows, branch, commits and checkpoint, and none may see "database is locked".
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sqlite3
import time
import traceback
from pathlib import Path
from typing import Any

from conftest import git, make_repo
from flows import add_workflow
from scripts import call, finish

from orchestrator.models.providers.scripted import FunctionModel, ScriptedModel, register_scripted
from orchestrator.runner import RunOptions, start_run
from orchestrator.store.log import RunLog

RUNS_ON_ONE_CHECKOUT = 10
LINKED_WORKTREES = 5
RUNS_PER_WORKTREE = 2
RUNS = RUNS_ON_ONE_CHECKOUT + LINKED_WORKTREES * RUNS_PER_WORKTREE
RENDEZVOUS_S = 240.0
"""How long a builder waits for the others to arrive (generous: twenty processes share two busy cores)."""

STEPS = [
    {"id": "write", "persona": "builder", "instructions": "Write the note: {task}", "next": "check"},
    {"id": "check", "type": "gate", "gate": "check", "on_pass": "review", "on_fail": "write", "max_rounds": 1},
    {"id": "review", "persona": "tester", "next": "end"},
]
GATES = {"check": {"kind": "quality", "commands": [{
    "name": "note", "parser": "generic",
    "run": ["python", "-c", "import glob, sys; sys.exit(0 if len(glob.glob('note_*.txt')) == 1 else 1)"]}]}}


def _builder(k: int, rendezvous: Any) -> FunctionModel:
    """Writes note_<k>.txt, but only once all the runs are waiting inside their first model call."""
    replies = [call("write_file", path=f"note_{k}.txt", content=f"run {k}\n"), finish(f"wrote note {k}")]

    def respond(messages: list[dict[str, Any]], tools: list[Any], persona: str) -> Any:
        if len(replies) == 2:
            rendezvous.wait(timeout=RENDEZVOUS_S)
        return replies.pop(0)

    return FunctionModel(respond, name=f"builder-{k}")


def _run_one(k: int, repo: str, rendezvous: Any, results: Any) -> None:
    """One run in this (forked) process; reports its run id, or the traceback, to the parent."""
    try:
        tester = ScriptedModel({"tester": [call("read_file", path=f"note_{k}.txt"), finish(f"checked note {k}")]},
                               name=f"tester-{k}")
        overrides = {"builder": register_scripted(_builder(k, rendezvous)), "tester": register_scripted(tester)}
        outcome = start_run(RunOptions(workflow="conc", repo=Path(repo), task=f"note {k}",
                                       model_overrides=overrides, approve="auto", autonomy="L4"))
        results.put({"k": k, "pid": os.getpid(), "run_id": outcome.run_id, "exit_code": outcome.exit_code,
                     "message": outcome.message})
    except BaseException:
        results.put({"k": k, "pid": os.getpid(), "error": traceback.format_exc()})


def _start_all(jobs: list[tuple[int, Path]]) -> list[dict[str, Any]]:
    """Start every run in its own process and collect what each reports.

    Processes fork from a server that imported the orchestrator once: twenty cold imports of LangGraph and
    LiteLLM would cost minutes of CPU on two cores, and say nothing about concurrency.
    """
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["test_concurrency", "orchestrator.steps", "orchestrator.workflow.compile",
                               "langgraph.checkpoint.sqlite", "litellm"])
    rendezvous, results = ctx.Barrier(len(jobs)), ctx.Queue()
    procs = [ctx.Process(target=_run_one, args=(k, str(repo), rendezvous, results)) for k, repo in jobs]
    for proc in procs:
        proc.start()
    reports: list[dict[str, Any]] = []
    deadline = time.monotonic() + RENDEZVOUS_S + 120
    try:
        while len(reports) < len(procs) and time.monotonic() < deadline:
            try:
                reports.append(results.get(timeout=1))
            except queue.Empty:
                if not any(proc.is_alive() for proc in procs):
                    break  # a process died without a word: its report will never come
                continue
            if "error" in reports[-1]:
                rendezvous.abort()  # the others would wait for it at the rendezvous until the timeout
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    assert len(reports) == len(procs), f"{len(procs) - len(reports)} runs never reported; exit codes: " + str(
        [proc.exitcode for proc in procs])
    return reports


def _repo_with_workflow(path: Path) -> Path:
    repo = make_repo(path, {"app.py": "x = 1\n"})
    add_workflow(repo, "conc", STEPS, GATES, autonomy="L4")
    return repo


def _runs_of(repo: Path) -> dict[str, dict[str, Any]]:
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    try:
        return {row["id"]: {**row, "calls": log.calls(row["id"]), "events": log.events(row["id"]),
                            "decisions": log.decisions(row["id"])} for row in log.runs()}
    finally:
        log.close()


def _checkpointed_task(store: Path, run_id: str) -> str:
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(str(store / "checkpoints.sqlite"))
    try:
        saved = SqliteSaver(conn).get_tuple({"configurable": {"thread_id": run_id}})
        return saved.checkpoint["channel_values"]["task"]
    finally:
        conn.close()


def _check_run_is_its_own(common: Path, row: dict[str, Any], k: int, checkout: Path) -> None:
    """The log row, the calls, the branch and the checkpoint of run k name run k and nothing else."""
    run_id = row["id"]
    assert (row["task"], row["status"], row["repo"]) == (f"note {k}", "done", str(checkout.resolve())), row
    assert row["branch"] == f"orchestrator/{run_id}"
    assert sorted({c["model"] for c in row["calls"]}) == [f"function/builder-{k}", f"scripted/tester-{k}"]
    assert [c["persona"] for c in row["calls"]] == ["builder", "builder", "tester", "tester"]
    assert all(d["chosen"] in (f"function/builder-{k}", f"scripted/tester-{k}") for d in row["decisions"])
    gates = [e["data"] for e in row["events"] if e["kind"] == "gate"]
    assert [g.get("verdict") for g in gates] == ["pass"], gates
    changed = git(common, "diff", "--name-only", f"{row['base_commit']}..{row['branch']}").split()
    assert changed == [f"note_{k}.txt"]
    assert git(common, "show", f"{row['branch']}:note_{k}.txt") == f"run {k}\n"
    trailers = git(common, "log", "--format=%(trailers:key=Orchestrator-Run,valueonly)",
                   f"{row['base_commit']}..{row['branch']}").split()
    assert trailers and set(trailers) == {run_id}
    assert _checkpointed_task(common / ".git" / "orchestrator", run_id) == f"note {k}"


def test_twenty_concurrent_runs_in_separate_processes_keep_their_own_state(tmp_path: Path) -> None:
    one = _repo_with_workflow(tmp_path / "one")
    shared = _repo_with_workflow(tmp_path / "shared")
    checkouts = []
    for i in range(LINKED_WORKTREES):
        git(shared, "worktree", "add", "--quiet", "-b", f"checkout-{i}", str(tmp_path / f"checkout-{i}"))
        checkouts.append(tmp_path / f"checkout-{i}")
    jobs = [(k, one) for k in range(RUNS_ON_ONE_CHECKOUT)]
    jobs += [(k, checkouts[k % LINKED_WORKTREES]) for k in range(RUNS_ON_ONE_CHECKOUT, RUNS)]

    began = time.time()
    reports = sorted(_start_all(jobs), key=lambda r: r["k"])

    errors = [r["error"] for r in reports if "error" in r]
    assert not errors, "\n\n".join(errors)
    assert not [r for r in reports if "database is locked" in str(r)]
    assert [r["exit_code"] for r in reports] == [0] * RUNS, [r.get("message") for r in reports]
    assert len({r["pid"] for r in reports}) == RUNS and os.getpid() not in {r["pid"] for r in reports}

    rows = {**_runs_of(one), **_runs_of(shared)}
    assert sorted(rows) == sorted(r["run_id"] for r in reports)
    assert len(_runs_of(one)) == RUNS_ON_ONE_CHECKOUT and len(_runs_of(shared)) == RUNS - RUNS_ON_ONE_CHECKOUT
    # Overlap from the recorded times: the last run started before the first one finished.
    started, finished = [rows[r]["started"] for r in rows], [rows[r]["finished"] for r in rows]
    assert began <= min(started) and max(started) < min(finished), (max(started) - min(finished))
    for report in reports:
        k, checkout = report["k"], dict(jobs)[report["k"]]
        _check_run_is_its_own(one if checkout == one else shared, rows[report["run_id"]], k, checkout)
    for repo in (one, shared):
        git(repo, "fsck", "--no-progress")
    for checkout in (one, shared, *checkouts):
        assert git(checkout, "status", "--porcelain") == ""  # the user's own checkouts are left untouched


def test_every_store_connection_waits_out_a_busy_store(tmp_path: Path) -> None:
    # Seen once in this file's test: one run's checkpointer gave up after SQLite's default 5 s wait.
    from orchestrator.store.log import LOCK_WAIT_S, checkpoints_connection

    assert LOCK_WAIT_S >= 30
    checkpoints = checkpoints_connection(tmp_path / "checkpoints.sqlite")
    runlog = RunLog(tmp_path / "runs.sqlite")
    try:
        for db in (checkpoints, runlog.db):
            assert db.execute("PRAGMA busy_timeout").fetchone()[0] == LOCK_WAIT_S * 1000
    finally:
        checkpoints.close()
        runlog.close()


def _add_worktree(repo: str, run_id: str, start: Any) -> str:
    """Create one run's worktree once every process is ready; '' on success, else git's complaint."""
    from orchestrator.errors import WorkspaceError
    from orchestrator.run.workspace import Workspace

    start.wait(timeout=60)
    try:
        Workspace.planned(Path(repo), run_id).add()
    except WorkspaceError as exc:
        return str(exc)
    return ""


def test_worktrees_added_at_once_in_one_repo_all_succeed(tmp_path: Path) -> None:
    # Seen at load 15: a `git worktree add` read another's half-written entry ("failed to read
    # .git/worktrees/<id>/commondir") and that run never started. The run's worktree commands take turns.
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Manager().Barrier(12)
    with ctx.Pool(12) as pool:
        errors = pool.starmap(_add_worktree, [(str(repo), f"run-{i}", start) for i in range(12)])
    assert errors == [""] * 12
    assert len([line for line in git(repo, "worktree", "list").splitlines() if "run-" in line]) == 12
