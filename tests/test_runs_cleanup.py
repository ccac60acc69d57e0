"""`runs show --json`, `runs rm` and `runs prune`: a run's state inspected as data, and removed for good."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import git
from flows import CALC_FIXED, add_workflow, bind, run
from scripts import call, finish
from typer.testing import CliRunner

from orchestrator.cli import app, main
from orchestrator.models.providers.scripted import ScriptedModel


def _a_run(repo: Path) -> object:
    flow = repo / ".orchestrator" / "workflows" / "build_only.yaml"
    name = "build_only" if flow.exists() else add_workflow(repo, "build_only", [
        {"id": "build", "persona": "builder", "next": "end"}], autonomy="L4")
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("done")]},
                            name="b")
    return run(repo, name, bind(builder=builder))


def test_show_json_gives_the_run_its_events_and_calls(repo: Path) -> None:
    outcome = _a_run(repo)
    result = CliRunner().invoke(app, ["runs", "show", outcome.run_id, "--repo", str(repo), "--json"])
    data = json.loads(result.output)
    assert data["run"]["status"] == "done" and data["calls"][0]["persona"] == "builder"
    assert {e["kind"] for e in data["events"]} >= {"phase_start", "phase_end"}


def test_rm_removes_worktree_branch_checkpoints_and_log_rows(repo: Path) -> None:
    outcome = _a_run(repo)
    state = repo / ".git" / "orchestrator"
    assert main(["runs", "rm", outcome.run_id, "--repo", str(repo)]) == 0
    assert not (state / "worktrees" / outcome.run_id).exists()
    assert git(repo, "branch", "--list", outcome.branch) == ""
    db = sqlite3.connect(state / "checkpoints.sqlite")
    assert db.execute("SELECT count(*) FROM checkpoints WHERE thread_id = ?", (outcome.run_id,)).fetchone() == (0,)
    db.close()
    assert main(["runs", "show", outcome.run_id, "--repo", str(repo)]) == 1  # unknown now


def test_prune_removes_finished_runs_and_can_keep_their_branches(repo: Path) -> None:
    first, second = _a_run(repo), _a_run(repo)
    result = CliRunner().invoke(app, ["runs", "prune", "--repo", str(repo), "--keep-branches"])
    assert "2 run(s) removed" in result.output
    assert git(repo, "branch", "--list", first.branch).strip() and git(repo, "branch", "--list", second.branch).strip()
    assert CliRunner().invoke(app, ["runs", "list", "--repo", str(repo)]).output.count("build_only") == 0
