"""Every branch where a gate can't tell fails the run: each test here fails if that branch said `pass`.

Quality gate: a command the sandbox refuses, a base commit whose test run gives no report, a run that ends
without its report, a suite that collects nothing. Moderator: an unusable merged verdict falls back to the
deterministic merge, and a moderator's pass over a critic's fail is overruled. L4 monitors: a spend rate over
its cap and a model drifted from its calibration halt the run.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from conftest import git, make_repo
from flows import CALC, CALC_FIXED, QUALITY, add_file, add_workflow, bind, events, run
from scripts import SUBTRACT_TEST_ID, call, finish, verdict

from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.models.types import ModelReply
from orchestrator.store.log import RunLog

BUILD_QUALITY = [{"id": "build", "persona": "builder", "next": "quality"},
                 {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "stop"}]


def _builder(content: str = CALC_FIXED) -> ScriptedModel:
    return ScriptedModel({"builder": [call("write_file", path="calc.py", content=content), finish("built")]},
                         name="builder")


def _quality_run(repo: Path, gate: dict, content: str = CALC_FIXED, **options):
    name = add_workflow(repo, "fail_closed", BUILD_QUALITY, {"tests": gate}, autonomy="L4")
    return run(repo, name, bind(builder=_builder(content)), **options)


def _stopped_by_quality(outcome) -> str:
    """The quality gate's reason, after checking it stopped the run as `unknown` (never done)."""
    assert outcome.exit_code == 3, outcome.message
    gate = [g for g in outcome.gates if g["gate"] == "quality"][-1]
    assert gate["verdict"] == "unknown", gate
    return gate["reason"]


def test_a_command_the_sandbox_refuses_cant_pass(repo: Path) -> None:
    gate = {"kind": "quality", "commands": [{"name": "lint", "run": ["nosuchlinter", "."]}]}
    reason = _stopped_by_quality(_quality_run(repo, gate, allow_commands=["nosuchlinter"]))
    assert reason.startswith("can't judge lint: the sandbox refused it")


def test_a_base_commit_whose_tests_give_no_report_cant_pass(repo: Path) -> None:
    # The base suite's process dies at start-up (conftest.py exits), so there is nothing to compare with.
    add_file(repo, "conftest.py", "import os\n\nos._exit(0)\n")
    reason = _stopped_by_quality(_quality_run(repo, QUALITY))
    assert "can't judge the tests: the base commit's test run gave no report" in reason


def test_a_run_that_ends_without_its_report_cant_pass(repo: Path) -> None:
    # The built module ends the test process at import, exit code 0: no report, so no pass.
    reason = _stopped_by_quality(_quality_run(repo, QUALITY, content=CALC_FIXED + "\nimport os\n\nos._exit(0)\n"))
    assert "can't judge tests: pytest ended (exit 0) without its report" in reason


def test_a_suite_that_collects_nothing_cant_pass(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "bare", {"calc.py": CALC, "README.md": "no tests here\n"})
    reason = _stopped_by_quality(_quality_run(repo, QUALITY))
    assert "can't judge tests: no tests were collected" in reason


TWO_CRITICS = {"review": {"kind": "review", "critics": ["critic", "security_critic"], "moderator": "moderator"}}
BUILD_REVIEW = [{"id": "build", "persona": "builder", "next": "review"},
                {"id": "review", "type": "gate", "gate": "review", "on_pass": "end", "on_fail": "stop"}]
DOCSTRING = {"clause": "DoD: docstring", "severity": "major", "description": "subtract lacks a docstring"}


def _moderated_run(repo: Path, moderator_replies: list[dict], critic_verdict: str):
    add_file(repo, ".orchestrator/personas/security_critic.yaml",
             "goal: Review the diff for unsafe input handling.\ntools: [read_file, git_diff]\n")
    name = add_workflow(repo, "moderated", BUILD_REVIEW, TWO_CRITICS, autonomy="L4")
    # The failing critic answers the scenario as met: only its verdict and violation say fail, so a merge that
    # turned into a pass would get past the gate's evidence checks.
    met = [{"scenario": 1, "test": SUBTRACT_TEST_ID, "met": True}]
    first = verdict("fail", DOCSTRING, scenarios=met) if critic_verdict == "fail" else verdict("pass")
    critic = ScriptedModel({"critic": [first]}, name="critic_a")
    security = ScriptedModel({"security_critic": [verdict("pass")]}, name="critic_b")
    moderator = ScriptedModel({"moderator": moderator_replies}, name="moderator")
    outcome = run(repo, name, bind(builder=_builder(), critic=critic, security_critic=security, moderator=moderator))
    return outcome, [e for e in events(repo, outcome.run_id) if e["kind"].startswith("moderator_")]


def test_a_moderator_pass_over_a_critics_fail_is_overruled(repo: Path) -> None:
    outcome, notes = _moderated_run(repo, [verdict("pass")], critic_verdict="fail")
    assert outcome.exit_code == 3, outcome.message
    review = [g for g in outcome.gates if g["gate"] == "review"][-1]
    assert review["verdict"] == "fail"
    assert [n["kind"] for n in notes] == ["moderator_overruled"]


def test_an_unusable_moderator_reply_falls_back_to_the_deterministic_merge(repo: Path) -> None:
    # Prose instead of submit_verdict: the critics' own verdicts (one fail) decide, and the log says why.
    outcome, notes = _moderated_run(repo, [{"text": "Looks fine to me."}] * 4, critic_verdict="fail")
    assert outcome.exit_code == 3, outcome.message
    assert [g for g in outcome.gates if g["gate"] == "review"][-1]["verdict"] == "fail"
    assert [n["kind"] for n in notes] == ["moderator_fallback"]


def test_the_fallback_keeps_a_unanimous_pass(repo: Path) -> None:
    # The fallback is a merge, not a blanket fail: two passing critics still pass when the moderator is unusable.
    outcome, notes = _moderated_run(repo, [{"text": "?"}] * 4, critic_verdict="pass")
    assert outcome.exit_code == 0, outcome.message
    assert [n["kind"] for n in notes] == ["moderator_fallback"]
    assert git(repo, "show", f"{outcome.branch}:calc.py") == CALC_FIXED


RETRY_QUALITY = [{"id": "build", "persona": "builder", "next": "quality"},
                 {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "build",
                  "max_rounds": 5}]


def test_an_l4_run_spending_too_fast_is_halted(repo: Path) -> None:
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump({
        "models": {"scripted/pricey": {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}}}))
    name = add_workflow(repo, "spend_rate", RETRY_QUALITY, {"tests": QUALITY}, autonomy="L4",
                        monitor={"max_usd_per_minute": 0.5})
    spent = {"usage": {"prompt_tokens": 900, "completion_tokens": 100}}  # $1.10 a call
    pricey = ScriptedModel({"builder": [{**finish("nothing yet"), **spent}] * 4}, name="pricey")
    register_scripted(pricey)
    outcome = run(repo, name, {"builder": "scripted/pricey"})
    assert outcome.exit_code == 3, outcome.message
    assert outcome.message.startswith("L4 monitor: spend rate $") and "max_usd_per_minute=0.5" in outcome.message
    assert len(pricey.calls) == 1  # halted at the first gate, before a second build round


def test_an_l4_run_on_a_drifted_model_is_halted(repo: Path) -> None:
    # Calibrated at a 95% pass rate; the log's 20 latest outcomes of that model all failed.
    baseline = {"kind": "run-calibration", "rows": 40,
                "baseline": {"scripted/drifty": {"pass_rate": 0.95, "mean_cost_usd": 0.0, "n": 40}}}
    add_file(repo, "calibration.json", json.dumps(baseline))
    (repo / ".git" / "orchestrator").mkdir(exist_ok=True)
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    try:
        for i in range(20):
            log.call(f"earlier-{i}", "build", "builder", ModelReply(model="scripted/drifty", prompt_tokens=10))
            log.event(f"earlier-{i}", "gate", "quality", verdict="fail")
    finally:
        log.close()
    name = add_workflow(repo, "drift", RETRY_QUALITY, {"tests": QUALITY}, autonomy="L4",
                        monitor={"drift_baseline": "calibration.json"})
    drifty = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("v1")] * 3},
                           name="drifty")
    register_scripted(drifty)
    outcome = run(repo, name, {"builder": "scripted/drifty"})
    assert outcome.exit_code == 3, outcome.message
    assert outcome.message.startswith("L4 monitor: model drift against calibration.json: scripted/drifty:")
