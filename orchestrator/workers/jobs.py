"""Queued runs on Procrastinate, a maintained Postgres job queue: enqueue a run, sweep stalled ones, own a run.

A job carries a run id, decided when it is queued, so taking it again resumes that run instead of starting
another. Procrastinate hands a job to one worker at a time (`FOR UPDATE SKIP LOCKED`; the job's `lock` is
its run id), and its workers write heartbeats: a job whose worker stopped beating is stalled, and every
worker's sweeper puts stalled jobs back in the queue for a live worker to resume from the last checkpoint.
While a worker runs a job it also holds a Postgres advisory lock on the run (freed when its connection
dies), so a worker that only looked dead can never run alongside the one that took over.
"""

from __future__ import annotations

import contextlib
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.store.db import advisory_lock

QUEUE = "orchestrator-runs"
TASK = "orchestrator.run"
_SCHEMA_LOCK = 40_252_502
"""Advisory lock held while installing Procrastinate's schema, so two first workers don't both install it."""

log = logging.getLogger("orchestrator.workers")


@dataclass(frozen=True)
class WorkerSettings:
    """One worker's store, clone cache and timing (heartbeats, when a silent worker counts as dead)."""

    store: str
    cache: Path
    name: str | None = None
    concurrency: int = 1
    wait: bool = True  # False: exit once the queue has nothing to give
    heartbeat_s: float = 10.0
    stalled_after_s: float = 30.0
    sweep_every_s: float = 10.0


def queue_app(store: str) -> Any:
    """A Procrastinate app on the store (open it before use)."""
    import procrastinate

    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=store))


def ensure_queue_schema(store: str) -> None:
    """Install Procrastinate's tables in the store once (its own upgrades: `procrastinate schema --migrate`)."""
    import psycopg
    from procrastinate.schema import SchemaManager

    with psycopg.connect(store, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        found = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
        if found is None or found[0] is None:
            conn.execute(SchemaManager.get_schema())


def enqueue(store: str, job: dict[str, Any]) -> int:
    """Queue one run (its `run_id` is the job's lock and queueing lock); returns Procrastinate's job id."""
    ensure_queue_schema(store)
    app = queue_app(store)
    with app.open():
        deferrer = app.configure_task(TASK, queue=QUEUE, lock=job["run_id"], queueing_lock=job["run_id"])
        return int(deferrer.defer(**job))


async def sweep(app: Any, stalled_after_s: float) -> list[int]:
    """Put the runs of workers silent for `stalled_after_s` back in the queue; returns their job ids."""
    retried = []
    for job in await app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=stalled_after_s):
        try:
            await app.job_manager.retry_job(job)
        except Exception as exc:  # noqa: BLE001 - another worker's sweeper put it back first
            log.debug("job %s: not retried (%s)", job.id, exc)
            continue
        log.warning("job %s (run %s): its worker stopped; queued again", job.id, job.task_kwargs.get("run_id"))
        retried.append(job.id)
    return retried


@contextlib.contextmanager
def run_ownership(store: str, run_id: str) -> Iterator[None]:
    """Hold the run's advisory lock for the block: waits while another live worker still runs it."""
    import psycopg

    key = zlib.crc32(f"orchestrator-run:{run_id}".encode())
    with psycopg.connect(store, autocommit=True) as conn, advisory_lock(conn, key):
        yield
