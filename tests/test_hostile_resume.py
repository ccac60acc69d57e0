"""Resume is always possible: killed before the first checkpoint, in `worktree add`, holding git's lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from flows import CALC_FIXED, QUALITY, add_workflow, bind, run
from scripts import call, finish

from orchestrator import runner
from orchestrator.errors import RunBusy
from orchestrator.models.providers.scripted import ScriptedModel
from orchestrator.run.lock import RunLock
from orchestrator.run.workspace import Workspace, git
from orchestrator.runner import ResumeOptions, resume_run

STEPS = [{"id": "build", "persona": "builder", "next": "quality"},
         {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "build", "max_rounds": 1}]


class Killed(BaseException):
    """Stands for SIGKILL at a chosen line: nothing after it runs, no clean-up code either."""


def _builder() -> ScriptedModel:
    return ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("done")]},
                         name="builder")


def _kill(*_: object, **__: object) -> None:
    raise Killed


def _resume(repo: Path, run_id: str) -> runner.RunOutcome:
    return resume_run(ResumeOptions(repo=repo, run_id=run_id, model_overrides=bind(builder=_builder())))


def _only_run_id(repo: Path) -> str:
    from orchestrator.store.log import RunLog

    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    try:
        return log.runs()[0]["id"]
    finally:
        log.close()


def test_killed_before_the_first_checkpoint_still_resumes(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = add_workflow(repo, "k1", STEPS, {"tests": QUALITY})
    monkeypatch.setattr(runner, "execute", _kill)
    with pytest.raises(Killed):
        run(repo, name, bind(builder=_builder()))
    monkeypatch.undo()
    outcome = _resume(repo, _only_run_id(repo))
    assert outcome.exit_code == 0, outcome.message


def test_killed_during_worktree_add_is_cleaned_up_and_resumes(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = add_workflow(repo, "k2", STEPS, {"tests": QUALITY})
    real_add = Workspace.add

    def half_add(self: Workspace) -> None:
        real_add(self)  # then pretend git died mid-checkout: entry still locked, files missing
        gitdir = Path((self.path / ".git").read_text().split(":", 1)[1].strip())
        (gitdir / "locked").write_text("initializing")
        (self.path / "calc.py").unlink()
        raise Killed

    monkeypatch.setattr(Workspace, "add", half_add)
    with pytest.raises(Killed):
        run(repo, name, bind(builder=_builder()))
    monkeypatch.undo()
    outcome = _resume(repo, _only_run_id(repo))
    assert outcome.exit_code == 0, outcome.message
    assert "locked" not in git(repo, "worktree", "list", "--porcelain")


def test_a_stale_index_lock_is_removed_with_a_notice(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = add_workflow(repo, "k3", STEPS, {"tests": QUALITY})
    monkeypatch.setattr(Workspace, "commit", _kill)  # killed as the first phase commits
    with pytest.raises(Killed):
        run(repo, name, bind(builder=_builder()))
    monkeypatch.undo()
    run_id = _only_run_id(repo)
    gitdir = repo / ".git" / "worktrees" / run_id
    (gitdir / "index.lock").write_text("")  # what a SIGKILL inside `git add` leaves behind
    outcome = _resume(repo, run_id)
    assert outcome.exit_code == 0, outcome.message
    assert any("stale git lock" in w and "index.lock" in w for w in outcome.warnings)
    assert not (gitdir / "index.lock").exists()


def test_one_process_at_a_time_per_run(repo: Path, tmp_path: Path) -> None:
    name = add_workflow(repo, "k4", [{"id": "build", "persona": "builder", "next": "end"}], autonomy="L2")
    paused = run(repo, name, bind(builder=_builder()), approve="defer")
    assert paused.exit_code == 4, paused.message
    locks = repo / ".git" / "orchestrator" / "locks"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom pathlib import Path\nfrom orchestrator.run.lock import RunLock\n"
        f"with RunLock(Path({str(locks)!r}), {paused.run_id!r}):\n"
        "    print('held', flush=True)\n    time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunBusy, match=f"process {holder.pid}"):
            _resume(repo, paused.run_id)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with RunLock(locks, paused.run_id):  # the kernel dropped the dead holder's lock
        pass
    later = resume_run(ResumeOptions(repo=repo, run_id=paused.run_id, decision={"decision": "approve"}))
    assert later.pending and later.pending["step"] == "sign_off", later.message  # moved on past the approval
