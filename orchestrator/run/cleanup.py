"""Remove a finished run: its worktree, its branch, its checkpoints, its run folder and its run-log rows."""

from __future__ import annotations

import shutil
from pathlib import Path

from orchestrator.errors import ConfigError, did_you_mean
from orchestrator.run.lock import RunLock
from orchestrator.run.workspace import BRANCH_PREFIX, git
from orchestrator.store.location import state_dir
from orchestrator.store.log import RunLog, checkpoints_connection

FINISHED = ("done", "stopped", "failed")


def remove_run(repo: Path, run_id: str, keep_branch: bool = False) -> list[str]:
    """Remove one run (refused while a process holds it); returns what was removed, for the user."""
    root = state_dir(repo)
    log = RunLog(root / "runs.sqlite")
    try:
        if log.run(run_id) is None:
            raise ConfigError(f"unknown run {run_id!r}.{did_you_mean(run_id, [r['id'] for r in log.runs()])}")
        with RunLock(root / "locks", run_id):
            removed = _remove_worktree(repo, root / "worktrees" / run_id)
            if not keep_branch and git(repo, "rev-parse", "--verify", "--quiet", BRANCH_PREFIX + run_id, check=False):
                git(repo, "branch", "-D", "--quiet", BRANCH_PREFIX + run_id)
                removed.append(f"branch {BRANCH_PREFIX + run_id}")
            removed += _remove_checkpoints(root / "checkpoints.sqlite", run_id)
            if (root / "runs" / run_id).is_dir():  # the run's own folder: its reports
                shutil.rmtree(root / "runs" / run_id, ignore_errors=True)
                removed.append(f"run folder {root / 'runs' / run_id}")
            log.delete_run(run_id)
            removed.append("run log rows")
        (root / "locks" / f"{run_id}.lock").unlink(missing_ok=True)
        return removed
    finally:
        log.close()


def branch_merged(repo: Path, branch: str) -> bool | None:
    """Whether HEAD holds every commit of `branch` (None when the branch does not exist)."""
    if not git(repo, "rev-parse", "--verify", "--quiet", branch, check=False).strip():
        return None
    return bool(git(repo, "branch", "--list", "--merged", "HEAD", branch, check=False).strip())


def finished_runs(repo: Path) -> list[str]:
    """Ids of the runs no process can still continue on its own: done, stopped or failed."""
    log = RunLog(state_dir(repo) / "runs.sqlite")
    try:
        return [r["id"] for r in log.runs() if r["status"] in FINISHED]
    finally:
        log.close()


def _remove_worktree(repo: Path, path: Path) -> list[str]:
    if not path.exists():
        return []
    git(repo, "worktree", "remove", "--force", str(path), check=False)
    shutil.rmtree(path, ignore_errors=True)
    git(repo, "worktree", "prune", check=False)
    return [f"worktree {path}"]


def _remove_checkpoints(path: Path, run_id: str) -> list[str]:
    """The run's LangGraph checkpoints (its thread) in the SQLite checkpointer."""
    if not path.is_file():
        return []
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = checkpoints_connection(path)
    try:
        SqliteSaver(conn).delete_thread(run_id)
    finally:
        conn.close()
    return ["checkpoints"]
