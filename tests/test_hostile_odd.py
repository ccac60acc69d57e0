"""Odd content never ends a run for good: binary diffs, odd names, refused paths, kills, broken stores (issue 22)."""

from __future__ import annotations

import errno
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git
from flows import CALC_FIXED, QUALITY, add_file, add_workflow, bind, run
from scripts import call, finish, verdict

from orchestrator.errors import OrchestratorError, WorkspaceError
from orchestrator.gates import pytest_run
from orchestrator.models.providers.scripted import ScriptedModel
from orchestrator.run.workspace import Workspace
from orchestrator.runner import ResumeOptions, resume_run
from orchestrator.store.log import RunLog

CODE = "import sys; from orchestrator.cli import main; sys.exit(main())"
BUILD_QUALITY = [{"id": "build", "persona": "builder", "next": "quality"},
                 {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "review", "on_fail": "end",
                  "max_rounds": 1},
                 {"id": "review", "type": "gate", "gate": "review", "on_pass": "end", "on_fail": "end",
                  "max_rounds": 1}]
GATES = {"tests": QUALITY, "review": {"kind": "review", "critics": ["critic"]}}
BUILD_CHECK = BUILD_QUALITY[:1] + [{**BUILD_QUALITY[1], "on_pass": "end"}]
ODD_TEST = """\
import os
import sqlite3

sqlite3.connect("cache.db").execute("create table if not exists t (x)").connection.commit()
with open(b"caf\\xe9.txt", "wb") as out:
    out.write(b"\\xff\\xfe not utf-8\\n")


def test_ok():
    assert True
"""


class Killed(BaseException):
    """Stands for SIGKILL at a chosen line: nothing after it runs, no clean-up code either."""


def _builder(*extra: dict) -> ScriptedModel:
    return ScriptedModel({"builder": [*extra, call("write_file", path="calc.py", content=CALC_FIXED), finish("done")]},
                         name="builder")


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CODE, *args], capture_output=True, text=True, timeout=300,
                          input=stdin)


def test_a_binary_file_and_a_non_utf8_name_from_a_test_do_not_stop_the_review(repo: Path) -> None:
    add_file(repo, "tests/test_odd.py", ODD_TEST)
    name = add_workflow(repo, "odd", BUILD_QUALITY, GATES)
    critic = ScriptedModel({"critic": [verdict("pass")]}, name="critic")
    outcome = run(repo, name, bind(builder=_builder(), critic=critic))
    assert outcome.exit_code == 0, outcome.message
    assert critic.calls  # the critic got its packet, diff included, with the test's leftovers in the worktree


def test_any_case_of_git_is_refused_at_write_time_and_commits_go_on(repo: Path) -> None:
    name = add_workflow(repo, "dotgit", [{"id": "build", "persona": "builder", "next": "end"}])
    builder = _builder(call("write_file", path="docs/.GIT/notes.txt", content="x\n"),
                       call("write_file", path="docs/.Git /x", content="x\n"))
    outcome = run(repo, name, bind(builder=builder))
    assert outcome.exit_code == 0, outcome.message
    assert git(repo, "show", f"{outcome.branch}:calc.py") == CALC_FIXED
    refusals = [str(m.get("content")) for c in builder.calls for m in c.messages if m.get("role") == "tool"]
    assert any("a name git reserves" in r for r in refusals)


def test_killed_during_the_gates_base_checkout_then_resume(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = add_workflow(repo, "base", BUILD_CHECK, {"tests": QUALITY})
    real_git = pytest_run.git

    def dying_git(cwd: Path, *args: str, **kwargs):
        out = real_git(cwd, *args, **kwargs)
        if args[:2] == ("worktree", "add"):  # as if git died mid-checkout: entry locked, files missing
            where = Path(args[-2])
            gitdir = Path((where / ".git").read_text().split(":", 1)[1].strip())
            (gitdir / "locked").write_text("initializing")
            (where / "calc.py").unlink()
            raise Killed
        return out

    monkeypatch.setattr(pytest_run, "git", dying_git)
    with pytest.raises(Killed):
        run(repo, name, bind(builder=_builder()))
    monkeypatch.undo()
    run_id = _only_run(repo)["id"]
    outcome = resume_run(ResumeOptions(repo=repo, run_id=run_id, model_overrides=bind(builder=_builder())))
    assert outcome.exit_code == 0, outcome.message
    assert any("left locked" in w for w in outcome.warnings)
    assert "locked" not in git(repo, "worktree", "list", "--porcelain")
    assert subprocess.run(["git", "fsck"], cwd=repo, capture_output=True).returncode == 0


def _only_run(repo: Path) -> dict:
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    try:
        return log.runs()[0]
    finally:
        log.close()


def _stopped_run(repo: Path) -> tuple[str, str]:
    """A run stopped by its quality gate after the builder's commit: (run id, the builder's commit)."""
    name = add_workflow(repo, "stops", BUILD_CHECK, {"tests": QUALITY})
    builder = ScriptedModel({"builder": [call("write_file", path="notes.md", content="n\n"), finish("no fix")]},
                            name="builder")
    outcome = run(repo, name, bind(builder=builder))
    assert outcome.exit_code == 3, outcome.message
    sha = git(repo, "log", "--format=%H", "--grep", "build#1", outcome.branch).split()[0]
    return outcome.run_id, sha


def test_a_deleted_branch_is_made_again_at_its_last_commit_with_a_notice(repo: Path) -> None:
    run_id, built = _stopped_run(repo)
    git(repo, "update-ref", "-d", f"refs/heads/orchestrator/{run_id}")
    outcome = resume_run(ResumeOptions(repo=repo, run_id=run_id, model_overrides=bind(builder=_builder())))
    assert any("was deleted; made it again at" in w for w in outcome.warnings), outcome.message
    assert git(repo, "merge-base", "--is-ancestor", built, f"orchestrator/{run_id}") == ""


def test_a_deleted_worktree_and_branch_keep_the_runs_commits(repo: Path) -> None:
    run_id, built = _stopped_run(repo)
    workspace = repo / ".git" / "orchestrator" / "worktrees" / run_id
    shutil.rmtree(workspace)
    git(repo, "worktree", "prune")
    git(repo, "update-ref", "-d", f"refs/heads/orchestrator/{run_id}")
    outcome = resume_run(ResumeOptions(repo=repo, run_id=run_id, model_overrides=bind(builder=_builder())))
    assert any("was missing or incomplete; made it again" in w for w in outcome.warnings), outcome.message
    assert git(repo, "merge-base", "--is-ancestor", built, f"orchestrator/{run_id}") == ""


def test_a_branch_whose_commits_are_gone_is_refused_not_rebuilt(repo: Path) -> None:
    run_id, _ = _stopped_run(repo)
    shutil.rmtree(repo / ".git" / "orchestrator" / "worktrees" / run_id)
    git(repo, "worktree", "prune")
    git(repo, "update-ref", "-d", f"refs/heads/orchestrator/{run_id}")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "--quiet", "--prune=now")
    with pytest.raises(WorkspaceError, match="its commits .* are gone from the repository"):
        resume_run(ResumeOptions(repo=repo, run_id=run_id, model_overrides=bind(builder=_builder())))


def test_a_corrupt_run_log_names_the_file_and_the_way_out(repo: Path) -> None:
    store = repo / ".git" / "orchestrator" / "runs.sqlite"
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(b"this is not a database" * 100)
    with pytest.raises(OrchestratorError) as caught:
        RunLog(store)
    assert str(store) in str(caught.value) and "mv " in str(caught.value)
    result = _cli("runs", "list", "--repo", str(repo))
    assert result.returncode == 1 and "unexpected" not in result.stderr
    assert f"Error: {store}: the run log is not a readable SQLite database" in result.stderr


def test_a_full_disk_ends_the_session_with_a_way_out_and_never_leaves_it_running(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = add_workflow(repo, "full", BUILD_CHECK, {"tests": QUALITY})

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def full_store(*_: object, **__: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Workspace, "commit", full)
    monkeypatch.setattr(RunLog, "finish_run", full_store)  # not even the run's end can be written
    with pytest.raises(OrchestratorError, match="the disk is full.*Free some space, then continue the run with "
                                         "`orchestrator resume"):
        run(repo, name, bind(builder=_builder()))
    monkeypatch.undo()
    assert _only_run(repo)["status"] == "running"  # as stored: the write failed ...
    listed = _cli("runs", "list", "--repo", str(repo))
    assert "interrupted" in listed.stdout and "running" not in listed.stdout  # ... but no process holds it
    shown = _cli("runs", "show", _only_run(repo)["id"], "--repo", str(repo))
    assert shown.stdout.startswith(f"Run {_only_run(repo)['id']}: interrupted"), shown.stdout + shown.stderr


def test_a_missing_repo_is_a_clear_error() -> None:
    result = _cli("run", "feature", "--repo", "/nonexistent/app", "--task", "x")
    assert result.returncode == 1
    assert "--repo /nonexistent/app: no such folder" in result.stderr and "unexpected" not in result.stderr


def test_a_long_task_comes_from_a_file(repo: Path, tmp_path: Path) -> None:
    task = tmp_path / "task.md"
    task.write_text("Add subtract(a, b).\n" + "Context line.\n" * 40_000)  # past what one argv string may hold
    name = add_workflow(repo, "plain", [{"id": "build", "persona": "builder", "next": "end"}])
    replies = tmp_path / "replies.yaml"
    replies.write_text('builder:\n  - {tool: finish, arguments: {summary: done}}\n')
    result = _cli("run", name, "--repo", str(repo), "--task-file", str(task), "--model",
                  f"builder=scripted:{replies}", "--approve", "auto", "--quiet")
    assert result.returncode == 0, result.stderr
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    assert log.runs()[0]["task"] == task.read_text()
    log.close()
    both = _cli("run", name, "--repo", str(repo), "--task", "x", "--task-file", str(task))
    assert both.returncode == 2 and "one of them" in both.stderr
