"""Routing's order of concerns inside real runs: climbs on any path, rules after affinity, hard filters."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import git
from flows import CALC_FIXED, QUALITY, add_file, add_workflow, bind, decisions, run
from scripts import CALC_BUGGY, call, finish, verdict

from orchestrator.errors import ConfigError
from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.store.log import RunLog
from orchestrator.workflow.budget import BudgetSpec

LADDER = {"profiles": {"high_throughput": ["scripted/cheap"], "high_reasoning": ["scripted/strong"]},
          "ladder": ["high_throughput", "high_reasoning"], "roles": {"builder": "high_throughput"}}
DOCSTRING = {"clause": "DoD: docstring", "severity": "major", "description": "subtract lacks a docstring"}


def with_routing(repo: Path, name: str, routing: dict) -> None:
    """Give a committed workflow a `routing:` section and commit it again."""
    flow = repo / ".orchestrator" / "workflows" / f"{name}.yaml"
    data = yaml.safe_load(flow.read_text())
    data["routing"] = routing
    flow.write_text(yaml.safe_dump(data, sort_keys=False))
    add_file(repo, "NOTES.md", f"{name}\n")


def builders(**replies: list) -> None:
    """Register scripted builders under their names (scripted/<name>)."""
    for model, script in replies.items():
        register_scripted(ScriptedModel({"builder": script}, name=model))


def test_a_review_failure_routed_through_the_dispatcher_climbs_the_ladder(repo: Path) -> None:
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump(LADDER))
    steps = [{"id": "build", "persona": "builder", "next": "review"},
             {"id": "review", "type": "gate", "gate": "review", "on_pass": "end", "on_fail": "triage",
              "max_rounds": 2},
             {"id": "triage", "type": "dispatch", "persona": "dispatcher", "choices": ["build"], "default": "build"}]
    name = add_workflow(repo, "triaged", steps, {"review": {"kind": "review", "critics": ["critic"]}}, autonomy="L4")
    with_routing(repo, name, {"personas": {"builder": "cascade"}})
    builders(cheap=[call("write_file", path="calc.py", content=CALC_BUGGY), finish("v1")],
             strong=[call("write_file", path="calc.py", content=CALC_FIXED), finish("v2")])
    critic = ScriptedModel({"critic": [verdict("fail", DOCSTRING), verdict("pass")]}, name="critic")
    dispatcher = ScriptedModel({"dispatcher": [call("build", reason="fix the docstring")]}, name="dispatcher")
    outcome = run(repo, name, bind(critic=critic, dispatcher=dispatcher))

    assert outcome.exit_code == 0, outcome.message
    assert [p["model"] for p in outcome.phases if p["step"] == "build"] == ["scripted/cheap", "scripted/strong"]
    build = [r for r in decisions(repo, outcome.run_id) if r["step"] == "build"]
    assert build[1]["reason"] == "cascade: escalated high_throughput -> high_reasoning: gate review failed"
    assert build[1]["features"]["stages"]["escalation"].startswith("scripted/strong: cascade: escalated")


def test_rules_change_the_model_in_a_personas_second_phase_despite_the_cached_prefix(repo: Path) -> None:
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump(LADDER))
    steps = [{"id": "build", "persona": "builder", "next": "quality"},
             {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "build",
              "max_rounds": 2}]
    name = add_workflow(repo, "ruled", steps, {"tests": QUALITY}, autonomy="L4")
    # The fix round's packet carries the gate report, so it is longer than the first phase's (about 470 chars).
    rule = {"name": "failing-tests-strong", "when": {"min_chars": 800}, "use_profile": "high_reasoning"}
    with_routing(repo, name, {"personas": {"builder": {"strategy": "rules", "rules": [rule]}}})
    builders(cheap=[call("write_file", path="calc.py", content=CALC_BUGGY), finish("v1")],
             strong=[call("write_file", path="calc.py", content=CALC_FIXED), finish("v2")])
    outcome = run(repo, name, {})

    assert outcome.exit_code == 0, outcome.message
    assert [p["model"] for p in outcome.phases if p["step"] == "build"] == ["scripted/cheap", "scripted/strong"]
    second = decisions(repo, outcome.run_id)[1]
    assert second["chosen"] == "scripted/strong" and second["reason"].startswith("rules: failing-tests-strong")
    # The cheap model holds the builder's prefix, but it doesn't tie with the rule's choice.
    assert "not a tie" in second["features"]["stages"]["affinity"]


def test_a_model_whose_window_is_too_small_for_the_real_prompt_is_never_chosen(repo: Path) -> None:
    tiny = ScriptedModel({"builder": [finish("should never run")]}, name="tiny")
    roomy = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("done")]},
                          name="roomy")
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump({
        # 400 tokens hold the packet alone, not the system prompt, tool schemas and reply budget as well.
        "models": {"scripted/tiny": {"context_window": 400}},
        "profiles": {"high_throughput": ["scripted/tiny", "scripted/roomy"]}, "roles": {"builder": "high_throughput"}}))
    register_scripted(tiny), register_scripted(roomy)
    name = add_workflow(repo, "windows", [{"id": "build", "persona": "builder", "next": "end"}], autonomy="L4")
    outcome = run(repo, name, {})

    assert outcome.exit_code == 0, outcome.message
    assert tiny.calls == [] and len(roomy.calls) == 2
    [row] = decisions(repo, outcome.run_id)
    why = row["features"]["stages"]["filters"]["scripted/tiny"]
    assert why.startswith("context window 400 < ") and "+ 512 completion" in why
    packet = int(why.split("(")[1].split(" ")[0])
    assert packet > row["features"]["chars"] // 4  # the whole prompt, more than the packet alone


def test_an_unpriced_model_under_a_usd_budget_is_refused_before_any_call(repo: Path) -> None:
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump({"roles": {"builder": "openai/house-model-x"}}))
    name = add_workflow(repo, "unpriced", [{"id": "build", "persona": "builder", "next": "end"}], autonomy="L4")
    with pytest.raises(ConfigError, match=r"price unknown for openai/house-model-x: set .* or use a token budget"):
        run(repo, name, {}, budget=BudgetSpec(usd=1.0))
    assert not (repo / ".git" / "orchestrator" / "runs.sqlite").exists() or decisions(repo, "") == []


def test_a_mistyped_pin_gets_did_you_mean(repo: Path) -> None:
    name = add_workflow(repo, "pinned", [{"id": "build", "persona": "builder", "next": "end"}], autonomy="L4")
    with pytest.raises(ConfigError, match=r"--pin: unknown model id 'openai/gpt-4o-mnii'. Did you mean "
                                          r"'openai/gpt-4o-mini'\?"):
        run(repo, name, {}, pin="openai/gpt-4o-mnii")


def _build_quality(repo: Path, name: str, models: dict) -> str:
    """A cascading builder step and a quality gate that sends failures back to it."""
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump(models))
    steps = [{"id": "build", "persona": "builder", "next": "quality"},
             {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "build",
              "max_rounds": 2}]
    name = add_workflow(repo, name, steps, {"tests": QUALITY}, autonomy="L4")
    with_routing(repo, name, {"personas": {"builder": "cascade"}})
    return name


def test_a_cascade_starts_on_the_model_bound_with_model_and_never_climbs_off_the_ladder(repo: Path) -> None:
    name = _build_quality(repo, "bound", LADDER)
    builders(cheap=[], strong=[])
    mine = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_BUGGY), finish("v1"),
                                      call("write_file", path="calc.py", content=CALC_FIXED), finish("v2")]},
                         name="mine")
    outcome = run(repo, name, bind(builder=mine))

    assert outcome.exit_code == 0, outcome.message
    assert [p["model"] for p in outcome.phases if p["step"] == "build"] == ["scripted/mine", "scripted/mine"]
    first, second = decisions(repo, outcome.run_id)
    assert first["reason"] == "cascade: start at scripted/mine, the model builder is bound to " \
                              "(on no ladder rung, so it never climbs)"
    assert second["features"]["stages"]["escalation"].startswith("scripted/mine: no rung to climb to (gate quality")


def test_a_cascade_starts_on_the_model_models_yaml_binds_and_climbs_from_its_rung(repo: Path) -> None:
    three = {"profiles": {"cheapest": ["scripted/tiny"], "high_throughput": ["scripted/cheap"],
                          "high_reasoning": ["scripted/strong"]},
             "ladder": ["cheapest", "high_throughput", "high_reasoning"], "roles": {"builder": "scripted/cheap"}}
    name = _build_quality(repo, "yaml-bound", three)
    builders(tiny=[], cheap=[call("write_file", path="calc.py", content=CALC_BUGGY), finish("v1")],
             strong=[call("write_file", path="calc.py", content=CALC_FIXED), finish("v2")])
    outcome = run(repo, name, {})

    assert outcome.exit_code == 0, outcome.message
    assert [p["model"] for p in outcome.phases if p["step"] == "build"] == ["scripted/cheap", "scripted/strong"]
    first, second = decisions(repo, outcome.run_id)
    assert first["reason"] == "cascade: start at scripted/cheap, the model builder is bound to (rung high_throughput)"
    assert second["reason"].startswith("cascade: escalated high_throughput -> high_reasoning: gate quality failed")


def test_the_bandit_switches_a_personas_model_in_its_second_phase_after_a_failed_gate(repo: Path) -> None:
    import json

    one_rung = {"profiles": {"high_throughput": ["scripted/cheap", "scripted/strong"]},
                "roles": {"builder": "high_throughput"}}
    name = _build_quality(repo, "bandit", one_rung)
    with_routing(repo, name, {"personas": {"builder": {"strategy": "bandit", "bandit": {"seed": 7}}}})
    # cheap looks near-certain from too little evidence (almost all its posterior mass sits at 1); one failure
    # sends it below strong's well-known 0.5.
    state = repo / ".git" / "orchestrator" / "routing" / "bandit.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"version": 1, "arms": {"build": {
        "scripted/cheap": {"alpha": 0.01, "beta": 1e-6, "pulls": 0, "cost_sum": 0.0},
        "scripted/strong": {"alpha": 5e5, "beta": 5e5, "pulls": 0, "cost_sum": 0.0}}}}))
    builders(cheap=[call("write_file", path="calc.py", content=CALC_BUGGY), finish("v1")],
             strong=[call("write_file", path="calc.py", content=CALC_FIXED), finish("v2")])
    outcome = run(repo, name, {})

    assert outcome.exit_code == 0, outcome.message
    assert [p["model"] for p in outcome.phases if p["step"] == "build"] == ["scripted/cheap", "scripted/strong"]
    first, second = decisions(repo, outcome.run_id)
    assert (first["strategy"], first["gate_outcome"], second["gate_outcome"]) == ("bandit", "fail", "pass")
    assert second["features"]["stages"]["affinity"] == (
        "scripted/cheap holds the prefix but the strategy prefers scripted/strong (not a tie)")
    # Learned from both gates, in the run log (the state file is a prior, read, never rewritten).
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    learned = [(r["model"], r["passed"]) for r in log.bandit_outcomes()]
    log.close()
    assert learned == [("scripted/cheap", False), ("scripted/strong", True)]
    assert json.loads(state.read_text())["arms"]["build"]["scripted/cheap"]["beta"] == 1e-6


def test_resume_checks_prices_and_pins_again(repo: Path) -> None:
    from orchestrator.runner import ResumeOptions, resume_run

    steps = [{"id": "build", "persona": "builder", "next": "quality"},
             {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "stop"}]
    name = add_workflow(repo, "resumed", steps, {"tests": QUALITY}, autonomy="L4")
    buggy = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_BUGGY), finish("v1")]},
                          name="buggy")
    stopped = run(repo, name, bind(builder=buggy), budget=BudgetSpec(usd=1.0))
    assert stopped.exit_code == 3, stopped.message

    rebound = ResumeOptions(repo=repo, run_id=stopped.run_id, model_overrides={"builder": "openai/house-model-x"})
    with pytest.raises(ConfigError, match=r"price unknown for openai/house-model-x"):
        resume_run(rebound)
    with pytest.raises(ConfigError, match=r"unknown model id 'openai/gpt-4o-mnii'. Did you mean 'openai/gpt-4o-mini'"):
        resume_run(ResumeOptions(repo=repo, run_id=stopped.run_id, model_overrides={"builder": "openai/gpt-4o-mnii"}))
    assert len(decisions(repo, stopped.run_id)) == 1  # nothing ran

    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    kept = log.run(stopped.run_id)["options"]
    log.close()
    assert "house-model-x" not in kept and "mnii" not in kept  # a refused resume leaves no binding behind


def test_a_mistyped_model_in_a_routing_rule_is_refused_before_any_call(repo: Path) -> None:
    name = add_workflow(repo, "ruled-typo", [{"id": "build", "persona": "builder", "next": "end"}], autonomy="L4")
    rule = {"when": {"keywords_any": ["sql"]}, "use_model": "openai/gpt-4o-mnii"}
    with_routing(repo, name, {"personas": {"builder": {"strategy": "rules", "rules": [rule]}}})
    builder = ScriptedModel({"builder": [finish("never")]}, name="unused")
    with pytest.raises(ConfigError, match=r"routing.personas.builder.rules\[0\].use_model: unknown model id "
                                          r"'openai/gpt-4o-mnii'. Did you mean 'openai/gpt-4o-mini'\?"):
        run(repo, name, bind(builder=builder))
    assert builder.calls == []


def test_a_mistyped_rebind_at_the_approval_prompt_gets_did_you_mean(repo: Path) -> None:
    from orchestrator.runner import RunOptions, start_run

    name = add_workflow(repo, "signed", [{"id": "build", "persona": "builder", "next": "end"}])  # L3: sign-off
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("v1")]},
                            name="signed")
    answer = {"decision": "reject", "comment": "redo", "models": {"builder": "openai/gpt-4o-mnii"}}
    with pytest.raises(ConfigError, match=r"unknown model id 'openai/gpt-4o-mnii'. Did you mean 'openai/gpt-4o-mini'"):
        start_run(RunOptions(workflow=name, repo=repo, task="t", model_overrides=bind(builder=builder),
                             approve="ask", run_id="rebound"), ask=lambda pending: answer)

    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    kept = log.run("rebound")["options"]
    log.close()
    assert "mnii" not in kept  # a resume does not inherit the refused binding


def test_a_tester_that_climbs_after_a_failed_red_gate_starts_from_the_base_tests(repo: Path) -> None:
    ladder = {**LADDER, "roles": {"tester": "high_throughput"}}
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump(ladder))
    steps = [{"id": "write_tests", "persona": "tester", "deliverable": "tests", "next": "red_check"},
             {"id": "red_check", "type": "gate", "gate": "red", "on_pass": "end", "on_fail": "write_tests",
              "max_rounds": 1}]
    name = add_workflow(repo, "tests_climb", steps, {"red": {"kind": "red"}}, autonomy="L4")
    with_routing(repo, name, {"personas": {"tester": "cascade"}})
    self_served = "def subtract(a, b):\n    return a - b\n\n\ndef test_subtract():\n    assert subtract(5, 3) == 2\n"
    red = "from calc import subtract\n\n\ndef test_subtract_five_three():\n    assert subtract(5, 3) == 2\n"
    register_scripted(ScriptedModel({"tester": [call("write_file", path="tests/test_weak.py", content=self_served),
                                                finish("t1")]}, name="cheap"))
    strong = ScriptedModel({"tester": [call("write_file", path="tests/test_sub.py", content=red), finish("t2")]},
                           name="strong")
    register_scripted(strong)
    outcome = run(repo, name, {})

    assert outcome.exit_code == 0, outcome.message
    assert [p["model"] for p in outcome.phases if p["step"] == "write_tests"] == ["scripted/cheap", "scripted/strong"]
    # The weak attempt's file is gone before the strong model's packet is built.
    packet = strong.calls[0].messages[1]["content"]
    assert "return a - b" not in packet and "tests/test_weak.py\n" not in packet
    files = git(repo, "ls-tree", "-r", "--name-only", outcome.branch).split()
    assert "tests/test_sub.py" in files and "tests/test_weak.py" not in files
