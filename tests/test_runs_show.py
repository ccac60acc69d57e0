"""`runs show` (and `--json`) gives everything a run decided; rejection comments land in commit trailers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git
from flows import CALC_FIXED, add_workflow
from scripts import MISSING_DOCSTRING, finish, verdict
from scripts import call as tool
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.models.providers.scripted import ScriptedModel
from orchestrator.runner import ResumeOptions, RunOptions, resume_run, start_run

STEPS = [
    {"id": "build", "persona": "builder", "next": "review"},
    {"id": "review", "type": "gate", "gate": "review", "on_pass": "sign_off", "on_fail": "triage", "max_rounds": 3},
    {"id": "triage", "type": "dispatch", "choices": ["build"], "default": "build"},
    {"id": "sign_off", "type": "gate", "gate": "accept", "on_pass": "end", "on_fail": "build", "max_rounds": 2},
]
GATES = {"review": {"kind": "review", "critics": ["critic"]}, "accept": {"kind": "acceptance"}}
COMMENT = "add a note: reviewed by a human"


@pytest.fixture(scope="module")
def decided(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, object]:
    """A run with an unusable verdict, a failing one, two dispatches, a rejection and an approval."""
    from flows import calc_repo

    from orchestrator.models.providers.scripted import register_scripted

    with pytest.MonkeyPatch.context() as patch:  # the autouse isolation is per test; this runs once
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
        return _decide(calc_repo(tmp_path_factory.mktemp("show") / "app"), register_scripted)


def _decide(repo: Path, register_scripted) -> tuple[Path, str, object]:
    name = add_workflow(repo, "decided", STEPS, GATES)
    team = ScriptedModel({
        "builder": [tool("write_file", path="calc.py", content=CALC_FIXED), finish("implemented"),
                    finish("the verdict was unusable; nothing to change"), finish("docstring is there"),
                    tool("write_file", path="calc.py", content=CALC_FIXED + "# reviewed by a human\n"),
                    finish("noted the review")],
        "critic": ["looks fine to me", "really fine", "fine!", verdict("fail", MISSING_DOCSTRING),
                   verdict("pass"), verdict("pass")],
        "dispatcher": [tool("build", reason="the critic's verdict was unusable"),
                       tool("build", reason="a docstring is missing")],
    }, name="team")
    model = register_scripted(team)
    overrides = {"builder": model, "critic": model, "dispatcher": model}
    paused = start_run(RunOptions(workflow=name, repo=repo, task="Add subtract(a, b)", model_overrides=overrides,
                                  approve="defer"))
    assert paused.exit_code == 4, paused.message
    again = resume_run(ResumeOptions(repo=repo, run_id=paused.run_id,
                                     decision={"decision": "reject", "comment": COMMENT}))
    assert again.exit_code == 4, again.message
    done = resume_run(ResumeOptions(repo=repo, run_id=paused.run_id, decision={"decision": "approve"}))
    assert done.exit_code == 0, done.message
    return repo, paused.run_id, paused


def show(repo: Path, run_id: str, *extra: str) -> str:
    result = CliRunner().invoke(app, ["runs", "show", run_id, "--repo", str(repo), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_runs_show_prints_every_decision(decided) -> None:
    repo, run_id, _ = decided
    out = show(repo, run_id)
    for section in ("Phases", "Gate verdicts", "Violations", "Unusable verdicts", "Tool calls", "Dispatcher choices",
                    "Human decisions", "Context packets", "Model calls"):
        assert section in out, section
    assert "the critic answered in text instead of calling" in out  # why the verdict was unusable
    assert "unusable verdict, so the review can't tell" in out      # the gate's unknown, with its reason
    assert "Definition of done: subtract has a docstring" in out and "add a one-line docstring" in out
    assert "the critic's verdict was unusable" in out and "a docstring is missing" in out
    assert COMMENT in out and "reject" in out
    assert "write_file" in out and "submit_verdict" in out


def test_runs_show_json_gives_the_same_sections_as_data(decided) -> None:
    repo, run_id, _ = decided
    data = json.loads(show(repo, run_id, "--json"))
    assert data["run"]["id"] == run_id and data["run"]["status"] == "done"
    verdicts = [(g["gate"], g["verdict"]) for g in data["gates"]]
    assert verdicts == [("review", "unknown"), ("review", "fail"), ("review", "pass"), ("sign_off", "fail"),
                        ("review", "pass"), ("sign_off", "pass")]
    assert [g["attempt"] for g in data["gates"] if g["gate"] == "review"] == [1, 2, 3, 4]
    [violation] = [v for v in data["violations"] if v["clause"] != "review protocol"]
    assert violation["clause"] == MISSING_DOCSTRING["clause"] and violation["attempt"] == 2
    [unusable] = data["unusable_verdicts"]
    assert unusable["persona"] == "critic" and "instead of calling submit_verdict" in unusable["reason"]
    writes = [t for t in data["tool_calls"] if t["tool"] == "write_file"]
    assert [t["status"] for t in writes] == ["ok", "ok"] and writes[0]["arguments"].startswith('{"path": "calc.py"')
    assert [d["reason"] for d in data["dispatches"]] == ["the critic's verdict was unusable", "a docstring is missing"]
    assert [(h["decision"], h["comment"]) for h in data["human_decisions"]] == [("reject", COMMENT),
                                                                                ("approve", None)]
    assert all(p["kept"] and "Task" in p["kept"] for p in data["packets"])


def test_rejection_comments_go_into_the_commit_trailers(decided) -> None:
    repo, run_id, _ = decided
    branch = f"orchestrator/{run_id}"
    log = git(repo, "log", "--format=%s|%(trailers:key=Human-Rejection,valueonly)#", f"main..{branch}")
    commits = [c.strip().split("|", 1) for c in log.split("#") if c.strip()]
    with_trailer = {subject: trailer.strip() for subject, trailer in commits if trailer.strip()}
    assert with_trailer == {"orchestrator: run done": COMMENT, "orchestrator: build (builder)": COMMENT}


def test_the_pause_message_names_the_repo_to_resume_from(decided) -> None:
    repo, run_id, paused = decided
    assert f"orchestrator resume {run_id} --repo {repo.resolve()} --decision approve|reject" in paused.message
