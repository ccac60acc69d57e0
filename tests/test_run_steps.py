"""One run-log transaction per step, history in the run log instead of the state, no git process per quiet step."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import git, make_repo
from flows import add_workflow, run
from scripts import finish

from orchestrator.models.providers.scripted import FunctionModel, register_scripted
from orchestrator.run.workspace import Workspace
from orchestrator.store.log import RunLog
from orchestrator.workflow.state import HANDOFFS_KEPT, recent_handoffs


class Decision:
    """The part of a routing decision the run log reads."""

    def as_log(self) -> dict[str, Any]:
        return {"strategy": "static", "candidates": ["m"], "chosen": "m", "reason": "only", "latency_us": 1.0,
                "features": {}, "prompt_hash": "h"}


def committed(path: Path, sql: str) -> list[tuple]:
    """What another connection (another process) sees."""
    other = sqlite3.connect(str(path))
    try:
        return list(other.execute(sql))
    finally:
        other.close()


def test_a_batch_commits_its_writes_once_at_its_end_and_reads_see_them(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    log = RunLog(path)
    with log.batch():
        log.event("r", "phase_start", "build", "builder")
        handle = log.decision("r", "build", "builder", Decision())
        log.decision_spend(handle, 10, 0.5)
        assert committed(path, "SELECT count(*) FROM events") == [(0,)]  # held: nobody else sees it yet
        log.event("r", "phase_end", "build", "builder")
        assert committed(path, "SELECT count(*) FROM events") == [(0,)]
    assert committed(path, "SELECT kind FROM events ORDER BY id") == [("phase_start",), ("phase_end",)]
    assert committed(path, "SELECT tokens, cost_usd FROM decisions") == [(10, 0.5)]
    with log.batch():
        log.event("r", "gate", "quality")
        assert [e["kind"] for e in log.events("r")] == ["phase_start", "phase_end", "gate"]  # a read commits first
        log.decision_spend(handle, 5, 0.25)  # a handle stays valid after its row was written
    assert committed(path, "SELECT tokens, cost_usd FROM decisions") == [(15, 0.75)]
    log.close()


def test_a_batch_that_raises_still_commits_what_it_logged(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "runs.sqlite")
    with pytest.raises(RuntimeError), log.batch():
        log.event("r", "phase_start", "build", "builder")
        raise RuntimeError("the step failed")
    assert committed(tmp_path / "runs.sqlite", "SELECT kind FROM events") == [("phase_start",)]
    log.close()


def test_phase_rows_of_a_task_that_ran_again_count_once(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "runs.sqlite")
    log.phase_rows("r", "spec:1", [{"step": "spec", "verdict": "done"}], {})
    log.phase_rows("r", "build:2", [{"step": "build", "verdict": "failed"}], {})  # killed after this write
    log.phase_rows("r", "build:2", [{"step": "build", "verdict": "done"}], {"build": {"summary": "s"}})  # resumed
    log.phase_rows("r", "quality:3", [{"step": "quality", "verdict": "pass"}], {})
    assert [(p["step"], p["verdict"]) for p in log.phases("r")] == [("spec", "done"), ("build", "done"),
                                                                    ("quality", "pass")]
    log.close()


def test_the_state_keeps_the_survey_and_the_last_handoffs_only() -> None:
    state: dict[str, Any] = {}
    state = recent_handoffs(state, {"survey": {"persona": "surveyor"}})
    for i in range(HANDOFFS_KEPT + 3):
        state = recent_handoffs(state, {f"s{i}": {"persona": "builder"}})
    assert list(state) == ["survey", *(f"s{i}" for i in range(3, HANDOFFS_KEPT + 3))]
    state = recent_handoffs(state, {"s4": {"persona": "builder", "summary": "again"}})  # a revisit keeps its place
    assert list(state)[-2] == "s4" and state["s4"]["summary"] == "again"


def test_changed_under_compares_with_the_base_in_process(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"specs/a/spec.md": "# A\n", "specs/b/spec.md": "# B\n", "x.py": ""})
    workspace = Workspace.planned(repo, "r1")
    workspace.add()
    assert workspace.changed_under("specs") == []
    (workspace.path / "specs" / "a" / "spec.md").write_text("# A changed\n")
    (workspace.path / "specs" / "c").mkdir()
    (workspace.path / "specs" / "c" / "spec.md").write_text("# C\n")
    (workspace.path / "specs" / "b" / "spec.md").write_text("# B\n")  # rewritten, same bytes: unchanged
    assert workspace.changed_under("specs") == ["specs/a/spec.md", "specs/c/spec.md"]
    workspace.commit("c", {"Orchestrator-Phase": "spec#1"})
    assert workspace.changed_under("specs") == ["specs/a/spec.md", "specs/c/spec.md"]
    listed = git(workspace.path, "diff", "--name-only", workspace.base_commit, "--", "specs").split()
    assert workspace.changed_under("specs") == listed


def test_phase_commits_and_head_are_read_once_then_kept_by_the_runs_commits(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"x.py": ""})
    workspace = Workspace.planned(repo, "r2")
    workspace.add()
    (workspace.path / "x.py").write_text("x = 1\n")
    sha = workspace.commit("one", {"Orchestrator-Phase": "build#1"})
    assert workspace.head() == sha == git(workspace.path, "rev-parse", "HEAD").strip()
    assert workspace.phase_commit("build#1")[0] == sha
    again = Workspace.reopen(repo, "r2", workspace.base_commit)  # a new session reads the branch afresh
    assert again.phase_commit("build#1")[0] == sha and again.phase_commit("build#2") is None


def test_an_agent_step_that_commits_nothing_starts_no_git_process(repo: Path, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    model = register_scripted(FunctionModel(lambda messages, tools, persona: finish("ok"), name="quiet"))

    def git_processes(steps: int) -> int:
        flow = add_workflow(repo, f"quiet{steps}", [
            {"id": f"s{i}", "persona": "tester", "commit": False, "next": f"s{i + 1}" if i + 1 < steps else "end"}
            for i in range(steps)], autonomy="L4")
        started: list[list[str]] = []
        real = subprocess.Popen.__init__

        def spy(self: subprocess.Popen, args: Any, *rest: Any, **kwargs: Any) -> None:
            if isinstance(args, list) and args[:1] == ["git"]:
                started.append(args)
            real(self, args, *rest, **kwargs)

        monkeypatch.setattr(subprocess.Popen, "__init__", spy)
        outcome = run(repo, flow, {"tester": model})
        monkeypatch.undo()
        assert outcome.exit_code == 0, outcome.message
        assert [p["step"] for p in outcome.phases] == [f"s{i}" for i in range(steps)]
        return len(started)

    assert git_processes(2) == git_processes(6)  # what a run starts once, whatever its length


def test_the_checkpointed_state_holds_no_phase_history(repo: Path) -> None:
    model = register_scripted(FunctionModel(lambda messages, tools, persona: finish("ok"), name="brief"))
    flow = add_workflow(repo, "pair", [{"id": "a", "persona": "tester", "commit": False, "next": "b"},
                                       {"id": "b", "persona": "tester", "commit": False, "next": "end"}],
                        autonomy="L4")
    outcome = run(repo, flow, {"tester": model})
    db = sqlite3.connect(str(repo / ".git" / "orchestrator" / "checkpoints.sqlite"))
    channels = {row[0] for row in db.execute("SELECT channel FROM writes WHERE thread_id = ?", (outcome.run_id,))}
    db.close()
    assert "phases" not in channels and {"handoffs", "visits"} <= channels
    assert [p["step"] for p in outcome.phases] == ["a", "b"]
