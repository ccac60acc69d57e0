"""The whole feature loop, scripted, on a real temporary git repo with a user's uncommitted edits."""

from __future__ import annotations

import hashlib
from pathlib import Path

from conftest import git
from scripts import FULL_PATH_TASK, SUBTRACT_TEST_ID, feature_critic, feature_team

from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.runner import RunOptions, start_run
from orchestrator.store.log import RunLog

PERSONAS = ["surveyor", "spec_writer", "tester", "builder", "dispatcher"]



def snapshot(repo: Path) -> dict[str, object]:
    """Everything of the user's checkout that a run must leave alone."""
    files = {str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in repo.rglob("*") if p.is_file() and ".git" not in p.relative_to(repo).parts}
    return {
        "index": hashlib.sha256((repo / ".git" / "index").read_bytes()).hexdigest(),
        "files": files,
        "status": git(repo, "status", "--porcelain=v2", "--untracked-files=all"),
        "head": git(repo, "rev-parse", "HEAD"),
        "branch": git(repo, "symbolic-ref", "HEAD"),
    }


def commit_rows(repo: Path, revisions: str) -> list[list[str]]:
    """[subject, Persona, Model, Orchestrator-Phase, Gate-Verdicts] per commit, oldest first."""
    fields = ["%s"] + [f"%(trailers:key={k},valueonly,separator=%x2C)"
                       for k in ("Persona", "Model", "Orchestrator-Phase", "Gate-Verdicts")]
    log = git(repo, "log", "--format=" + "%x1f".join(fields), revisions)
    return [line.split("\x1f") for line in log.strip().splitlines()][::-1]


def run_feature(repo: Path, team: ScriptedModel, critic: ScriptedModel):
    overrides = {p: register_scripted(team) for p in PERSONAS} | {"critic": register_scripted(critic)}
    return start_run(RunOptions(workflow="feature", repo=repo, task=FULL_PATH_TASK,
                                model_overrides=overrides, approve="auto"))


def test_feature_loop_gate_fail_review_fail_then_pass(example_repo: Path) -> None:
    (example_repo / "calc.py").write_text((example_repo / "calc.py").read_text() + "\n# user's work in progress\n")
    (example_repo / "notes.txt").write_text("untracked user notes\n")
    git(example_repo, "add", "notes.txt")  # staged: the index must survive too
    (example_repo / "notes.txt").write_text("untracked user notes, edited after staging\n")
    before = snapshot(example_repo)

    team, critic = ScriptedModel(feature_team(), name="team"), ScriptedModel(feature_critic(), name="critic")
    outcome = run_feature(example_repo, team, critic)

    assert outcome.exit_code == 0, outcome.message
    assert snapshot(example_repo) == before
    assert [w for w in outcome.warnings if "uncommitted change(s) in your checkout" in w] == [
        "2 uncommitted change(s) in your checkout are not part of this run: it starts from HEAD "
        f"({git(example_repo, 'rev-parse', '--short', 'HEAD').strip()}); your working tree is left as it is"]

    builder_calls = [c for c in team.calls if c.persona == "builder"]
    second_packet = builder_calls[2].messages[1]["content"]
    assert "Last gate report" in second_packet
    # The parsed {file, line, message} report, not the raw pytest log.
    assert "tests/test_subtract.py\n  5: " in second_packet and "assert 8 == 2" in second_packet
    assert "short test summary" not in second_packet
    third_packet = builder_calls[4].messages[1]["content"]
    assert "Decisions:\n- subtract lives next to add" in second_packet  # the tester's typed handoff
    assert "subtract has no docstring" in third_packet and "add a one-line docstring" in third_packet
    assert team.remaining() == 0 and critic.remaining() == 0

    verdicts = [(p["step"], p["verdict"]) for p in outcome.phases if p["persona"] in ("-", "dispatcher", "auto")]
    assert verdicts == [("spec_check", "pass"), ("red_check", "pass"), ("quality", "fail"), ("quality", "pass"),
                        ("review", "fail"), ("quality", "pass"), ("review", "pass"),
                        ("sign_off", "pass")]
    critic_rows = [p["verdict"] for p in outcome.phases if p["persona"] == "critic"]
    assert critic_rows == ["fail", "pass"]
    assert [g["gate"] for g in outcome.gates] == ["spec_check", "red_check", "quality", "review", "sign_off"]
    assert all(g["verdict"] == "pass" for g in outcome.gates)
    assert outcome.message == "all 5 gates on the run's path passed"
    spec = git(example_repo, "show", f"{outcome.branch}:specs/calc/spec.md")
    assert "- Given a=5 and b=3, When subtract(a, b) is called, Then it returns 2" in spec

    rows = commit_rows(example_repo, f"main..{outcome.branch}")
    assert [r[0] for r in rows] == [
        "orchestrator: spec (spec_writer)", "orchestrator: write_tests (tester)", "orchestrator: build (builder)",
        "orchestrator: build (builder)", "orchestrator: build (builder)", "orchestrator: run done",
    ]
    assert [r[1] for r in rows[:5]] == ["spec_writer", "tester", "builder", "builder", "builder"]
    assert all(r[2] == "scripted/team" for r in rows[:5])
    assert [r[3] for r in rows] == ["spec#1", "write_tests#1", "build#1", "build#2", "build#3", "final"]
    assert rows[3][4] == "spec_check=pass, red_check=pass, quality=fail"
    assert rows[4][4] == "spec_check=pass, red_check=pass, quality=pass, review=fail"
    assert rows[5][4] == "spec_check=pass, red_check=pass, quality=pass, review=pass, sign_off=pass"

    log = RunLog(example_repo / ".git" / "orchestrator" / "runs.sqlite")
    gates = {e["step"]: e["data"]["result"] for e in log.events(outcome.run_id, "gate")}
    assert gates["red_check"]["tests"]["red"] == [SUBTRACT_TEST_ID]
    assert gates["quality"]["tests"]["still_red"] == [] and gates["quality"]["tests"]["lost"] == []

    tip = outcome.branch
    assert 'Return a minus b.' in git(example_repo, "show", f"{tip}:calc.py")
    assert "# user's work in progress" not in git(example_repo, "show", f"{tip}:calc.py")
