"""A worker: its loop over the queue, and what it does with one queued run (clone or fetch the repo, start
or resume the run, push its branch).

The run's branch is pushed after every phase, before LangGraph checkpoints the step: whichever worker takes
the run over next finds on the remote every commit the checkpoint counts, so none is lost or made twice.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

from orchestrator.errors import OrchestratorError, WorkspaceError
from orchestrator.runner import ResumeOptions, RunOptions, resume_run, start_run
from orchestrator.store.events import RunEvent, listening
from orchestrator.store.location import Store
from orchestrator.workers.jobs import QUEUE, TASK, WorkerSettings, ensure_queue_schema, queue_app, run_ownership, sweep
from orchestrator.workers.repos import fetch_run_branch, push_run_branch, sync_repo
from orchestrator.workflow.budget import BudgetSpec

log = logging.getLogger("orchestrator.workers")

JOB_FIELDS = ("run_id", "url", "workflow", "task", "models", "budget", "autonomy", "budget_scopes", "pin")
"""What a queued run carries (JSON): everything `orchestrator run` would be told, with the repo as a git URL."""


def job_of(run_id: str, url: str, workflow: str, task: str, **options: Any) -> dict[str, Any]:
    """The job for one run; unknown options are refused so a typo never queues a different run."""
    unknown = sorted(set(options) - set(JOB_FIELDS))
    if unknown:
        raise ValueError(f"unknown job fields: {unknown}")
    return {"run_id": run_id, "url": url, "workflow": workflow, "task": task, **options}


def work(settings: WorkerSettings) -> None:
    """Run a worker until stopped (or, with `wait=False`, until the queue is empty)."""
    ensure_queue_schema(settings.store)
    app = queue_app(settings.store)
    # Sync task: Procrastinate runs it in a thread, so heartbeats go on while the run works.
    app.task(name=TASK, queue=QUEUE)(lambda **job: take_run(job, settings))
    asyncio.run(_work(app, settings))


async def _work(app: Any, settings: WorkerSettings) -> None:
    async with app.open_async():
        await sweep(app, settings.stalled_after_s)  # a run left by a dead worker comes back before the first fetch
        sweeper = asyncio.create_task(_sweep_forever(app, settings))
        try:
            await app.run_worker_async(
                queues=[QUEUE], name=settings.name, concurrency=settings.concurrency, wait=settings.wait,
                update_heartbeat_interval=settings.heartbeat_s, stalled_worker_timeout=settings.stalled_after_s,
                delete_jobs="never")
        finally:
            sweeper.cancel()


async def _sweep_forever(app: Any, settings: WorkerSettings) -> None:
    while True:
        await asyncio.sleep(settings.sweep_every_s)
        await sweep(app, settings.stalled_after_s)


def take_run(job: dict[str, Any], settings: WorkerSettings) -> dict[str, Any]:
    """Run (or resume) one queued run to its end; returns its status and exit code for the job's record."""
    run_id = job["run_id"]
    repo = sync_repo(job["url"], settings.cache)
    with run_ownership(settings.store, run_id):  # a live worker still on it (a false alarm) finishes first
        row = _run_row(settings.store, repo, run_id)
        if row is not None and row["status"] == "done":
            push_run_branch(repo, run_id)
            return {"status": "done", "exit_code": 0}
        with listening(_Pusher(repo, run_id), run_id=run_id):
            outcome = _start(job, repo, settings) if row is None else _resume(run_id, repo, settings)
        push_run_branch(repo, run_id)
    log.info("run %s: %s (exit %s)", run_id, outcome.status, outcome.exit_code)
    return {"status": outcome.status, "exit_code": outcome.exit_code}


def _run_row(store: str, repo: Path, run_id: str) -> dict[str, Any] | None:
    runlog = Store(store).open_runlog(repo)
    try:
        return runlog.run(run_id)
    finally:
        runlog.close()


def _start(job: dict[str, Any], repo: Path, settings: WorkerSettings) -> Any:
    options = RunOptions(workflow=job["workflow"], repo=repo, task=job["task"], run_id=job["run_id"],
                         model_overrides=dict(job.get("models") or {}), budget=BudgetSpec(**(job.get("budget") or {})),
                         autonomy=job.get("autonomy"), pin=job.get("pin"), approve="auto", store=settings.store,
                         origin=job["url"], budget_scopes=list(job.get("budget_scopes") or []))
    return _outcome(lambda: start_run(options))


def _resume(run_id: str, repo: Path, settings: WorkerSettings) -> Any:
    """Take over a run another worker left: its branch as last pushed, then resume from the checkpoint."""
    fetch_run_branch(repo, run_id)
    log.warning("run %s: taking over from its last checkpoint", run_id)
    return _outcome(lambda: resume_run(ResumeOptions(repo=repo, run_id=run_id, store=settings.store)))


def _outcome(start: Any) -> Any:
    """The run's outcome; a run that stops (a gate, a cap) ends the job as done: its record says why."""
    try:
        return start()
    except OrchestratorError as exc:
        return _Ended(status="failed" if exc.exit_code == 1 else "stopped", exit_code=exc.exit_code)


class _Ended:
    """An outcome for a run that ended by an error: the run log holds the details."""

    def __init__(self, status: str, exit_code: int):
        self.status, self.exit_code = status, exit_code


class _Pusher:
    """Pushes the run's branch when a phase ends (on the step's thread, before its checkpoint is written)."""

    def __init__(self, repo: Path, run_id: str):
        self.repo, self.run_id = repo, run_id
        self._lock = threading.Lock()  # parallel builders end phases on several threads

    def __call__(self, event: RunEvent) -> None:
        if event.kind != "phase_end":
            return
        with self._lock:
            try:
                push_run_branch(self.repo, self.run_id)
            except WorkspaceError as exc:  # the push at the run's end tries again and fails the job if it must
                log.warning("run %s: pushing its branch failed: %s", self.run_id, exc)
