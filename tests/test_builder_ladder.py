"""The builder's ladder offline: it climbs after failed fix rounds, and a review on its new model says so."""

from __future__ import annotations

from pathlib import Path

import yaml
from flows import CALC_FIXED, QUALITY, add_file, run
from scripts import CALC_BUGGY, TEST, call, finish, verdict

from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.store.log import RunLog

LADDER = {"profiles": {"high_throughput": ["scripted/cheap"], "high_reasoning": ["scripted/strong"]},
          "ladder": ["high_throughput", "high_reasoning"],
          "roles": {"builder": "high_throughput", "tester": "high_throughput", "critic": "high_reasoning"}}
GATES = {"tests": QUALITY, "red": {"kind": "red"}, "review": {"kind": "review", "critics": ["critic"]}}
CLIMBING = {"personas": {"builder": {"strategy": "cascade",
                                     "cascade": {"start": "high_throughput", "after_failures": 2}}}}
NEW_TEST = TEST.replace("test_subtract_returns_difference", "test_subtract_of_equal_numbers").replace(
    "subtract(5, 3) == 2", "subtract(4, 4) == 0")


def _steps(red: bool) -> list[dict]:
    tests = [{"id": "write_tests", "persona": "tester", "deliverable": "tests", "next": "red_check"},
             {"id": "red_check", "type": "gate", "gate": "red", "on_pass": "build", "on_fail": "stop"}] if red else []
    return [*tests,
            {"id": "build", "persona": "builder", "deliverable": "source", "next": "quality"},
            {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "review", "on_fail": "build",
             "max_rounds": 3},
            {"id": "review", "type": "gate", "gate": "review", "on_pass": "end", "on_fail": "stop"}]


def _flow(repo: Path, name: str, red: bool = True) -> str:
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump(LADDER))
    flow = {"name": name, "settings": {"max_tool_calls": 6, "autonomy": "L4"}, "routing": CLIMBING,
            "gates": GATES, "steps": _steps(red)}
    add_file(repo, f".orchestrator/workflows/{name}.yaml", yaml.safe_dump(flow, sort_keys=False))
    return name


def _wrong(n: int) -> str:
    """A wrong subtract that differs from the first try (so no repeat is caught)."""
    wrong = f"def subtract(a, b):\n    # attempt {n}, still wrong\n    return a + b + {n}"
    return CALC_BUGGY.replace("def subtract(a, b):\n    return a + b", wrong)


def test_the_builder_climbs_after_two_failed_rounds_and_the_shared_model_review_stands_on_red_proof(
        repo: Path) -> None:
    name = _flow(repo, "ladder")
    cheap = ScriptedModel({
        "tester": [call("write_file", path="tests/test_equal.py", content=NEW_TEST), finish("one test")],
        "builder": [call("write_file", path="calc.py", content=CALC_BUGGY), finish("try 1"),
                    call("write_file", path="calc.py", content=_wrong(2)),
                    finish("try 2")],
    }, name="cheap")
    strong = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("fixed")],
                            "critic": [verdict("pass")]}, name="strong")
    register_scripted(cheap), register_scripted(strong)
    outcome = run(repo, name, {})

    assert outcome.exit_code == 0, outcome.message
    assert [p["model"] for p in outcome.phases if p["step"] == "build"] == [
        "scripted/cheap", "scripted/cheap", "scripted/strong"]
    assert cheap.remaining() == 0 and strong.remaining() == 0
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    try:
        climbs = [e for e in log.events(outcome.run_id, "cascade_escalation") if e["persona"] == "builder"]
    finally:
        log.close()
    assert len(climbs) == 1 and climbs[0]["data"]["reason"] == "gate quality failed 2 times on this rung"
    # Never silently: the summary's flags say the review shared the builder's model and what its pass stands on.
    assert any("critic ≠ builder does not hold" in f for f in outcome.flags)
    assert any("is not independent" in f and "red gate red_check" in f for f in outcome.flags)


def test_without_red_proof_a_review_on_the_builders_model_fails_closed(repo: Path) -> None:
    name = _flow(repo, "ladder_no_red", red=False)
    cheap = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_BUGGY), finish("try 1"),
                                       call("write_file", path="calc.py", content=_wrong(2)), finish("try 2")]},
                          name="cheap")
    strong = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("fixed")],
                            "critic": [verdict("pass")]}, name="strong")
    register_scripted(cheap), register_scripted(strong)
    outcome = run(repo, name, {})

    assert outcome.exit_code == 3
    assert "the review is not independent" in outcome.message
