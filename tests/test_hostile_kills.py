"""SIGKILL a real scripted run at many moments (first checkpoint not yet written, git mid-commit ...), then resume.

Every resumed run must end with the same branch history as an uninterrupted one: 20 moments, as the issue
asks (`HOSTILE_KILL_MOMENTS=5` for a quicker local check).
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml
from conftest import git, make_repo
from test_crash_resume import CALC, WORKFLOW, history, script, start

MOMENTS = int(os.environ.get("HOSTILE_KILL_MOMENTS", "20"))
CODE = "import sys; from orchestrator.cli import main; sys.exit(main())"


def _runs(repo: Path, column: str = "id") -> list[str]:
    """A column of the runs recorded in the repo's run log so far (none while the file or table is missing)."""
    path = repo / ".git" / "orchestrator" / "runs.sqlite"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return [row[0] for row in db.execute(f"SELECT {column} FROM runs")]
    except sqlite3.Error:
        return []


def _run_ids(repo: Path) -> list[str]:
    return _runs(repo)


def _resume(repo: Path) -> subprocess.CompletedProcess:
    run_id = _run_ids(repo)[0]
    gitdir = repo / ".git" / "worktrees" / run_id
    if gitdir.is_dir() and not (gitdir / "index.lock").exists() and run_id.endswith(("0", "5", "a")):
        (gitdir / "index.lock").write_text("")  # as if git held its lock at the kill
    return subprocess.run([sys.executable, "-c", CODE, "resume", run_id, "--repo", str(repo), "--approve", "auto"],
                          capture_output=True, text=True, timeout=300)


def test_kill_at_many_moments_then_resume_gives_the_uninterrupted_history(tmp_path: Path) -> None:
    files = {"calc.py": CALC, "conftest.py": "", ".orchestrator/workflows/crashy.yaml": yaml.safe_dump(WORKFLOW)}
    template = make_repo(tmp_path / "template", files)
    sentinel = tmp_path / "never-pause"
    sentinel.touch()  # the scripted builder answers at once
    replies = tmp_path / "replies.yaml"
    replies.write_text(yaml.safe_dump(script(sentinel), sort_keys=False))

    reference_repo = tmp_path / "reference"
    shutil.copytree(template, reference_repo)
    begin = time.monotonic()
    proc = start(reference_repo, replies)
    while not _run_ids(reference_repo) and proc.poll() is None:
        time.sleep(0.01)
    recorded = time.monotonic() - begin  # imports and set-up: a kill before this has nothing to resume
    out, err = proc.communicate(timeout=300)
    total = time.monotonic() - begin
    assert proc.returncode == 0, out + err
    branch = next(b.strip(" *+") for b in git(reference_repo, "branch").splitlines() if "orchestrator/" in b)
    reference = history(reference_repo, branch)

    resumed_runs = 0
    for i in range(MOMENTS):
        # Moment 0 is the instant the run record exists (before the first checkpoint); the others spread over
        # the run. A kill that lands after the run ended (a loaded machine runs faster or slower than the
        # reference) is tried again earlier, on a fresh copy, so most moments really are mid-run.
        delay = 0.0 if i == 0 else recorded + (total - recorded) * i / MOMENTS
        for attempt in range(3):
            repo = tmp_path / f"kill{i}-{attempt}"
            shutil.copytree(template, repo)
            if _kill_after(repo, replies, delay) != "done":
                break
            delay /= 2
        if not _run_ids(repo):
            continue  # killed before it recorded anything: nothing to resume
        if _runs(repo, "status") != ["done"]:  # killed after recording "done" but before exiting: no resume
            resumed, resumed_runs = _resume(repo), resumed_runs + 1
            assert resumed.returncode == 0, f"moment {i}: {resumed.stdout}{resumed.stderr}"
        run_branch = next(b.strip(" *+") for b in git(repo, "branch").splitlines() if "orchestrator/" in b)
        assert history(repo, run_branch) == reference, f"moment {i} of {MOMENTS}"
        assert not [w for w in git(repo, "worktree", "list", "--porcelain").splitlines() if w.startswith("locked")]
    assert resumed_runs >= MOMENTS * 2 // 3, f"only {resumed_runs} of {MOMENTS} kills landed mid-run"


def _kill_after(repo: Path, replies: Path, delay: float) -> str:
    """Start a run, SIGKILL it `delay` seconds in (0: once its record exists); "done" when it ended first."""
    proc = start(repo, replies)
    if delay == 0:
        while not _run_ids(repo) and proc.poll() is None:
            time.sleep(0.01)
    else:
        time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return "done" if proc.returncode == 0 or _runs(repo, "status") == ["done"] else "killed"
