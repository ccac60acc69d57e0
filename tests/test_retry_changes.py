"""Retries that change something: a round that repeats work a gate rejected is asked again, changed, and logged."""

from __future__ import annotations

import json
from pathlib import Path

from flows import CALC_FIXED, QUALITY, add_workflow, bind, run
from scripts import CALC_BUGGY, SPEC_DRAFT, call, finish

from orchestrator.models.providers.scripted import ScriptedModel
from orchestrator.steps.repeats import CHANGED_TEMPERATURE, code_layout_free, spec_layout_free
from orchestrator.store.log import RunLog

BUILD_QUALITY = [{"id": "build", "persona": "builder", "deliverable": "source", "next": "quality"},
                 {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "build",
                  "max_rounds": 2}]


def _log(repo: Path) -> RunLog:
    return RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")


def test_a_builder_that_repeats_the_rejected_code_is_asked_again_hotter_with_the_report_last(repo: Path) -> None:
    name = add_workflow(repo, "repeat_build", BUILD_QUALITY, {"tests": QUALITY}, autonomy="L4")
    builder = ScriptedModel({"builder": [
        call("write_file", path="calc.py", content=CALC_BUGGY), finish("round 1"),
        # Round 2 rewrites the very code the quality gate failed: the repeat is caught before the gate.
        call("write_file", path="calc.py", content=CALC_BUGGY + "\n"), finish("round 2, same code"),
        call("write_file", path="calc.py", content=CALC_FIXED), finish("round 2, changed"),
    ]}, name="repeater")
    outcome = run(repo, name, bind(builder=builder))

    assert outcome.exit_code == 0, outcome.message
    assert builder.remaining() == 0
    log = _log(repo)
    try:
        changed = log.events(outcome.run_id, "retry_changed")
        calls = log.calls(outcome.run_id)
    finally:
        log.close()
    assert len(changed) == 1
    data = changed[0]["data"]
    assert data["repeated_again"] is False and data["previous_sha"] == data["repeated_sha"] != data["new_sha"]
    assert f"temperature {CHANGED_TEMPERATURE}" in data["changes"]
    # The changed attempt's calls ran hot; the gate's report is the last thing its packet says.
    assert [json.loads(c["sampling"]).get("temperature") for c in calls[-2:]] == [CHANGED_TEMPERATURE] * 2
    packet = builder.calls[4].messages[1]["content"]
    assert packet.rstrip().endswith("Write different code that fixes what the report names.")
    assert "## Your answer repeated the rejected one" in packet and "subtract" in packet.split("repeated")[-1]
    # One round was spent (the gate judged once more), not two; both attempts' tokens count in the phase.
    assert [p["verdict"] for p in outcome.phases if p["step"] == "quality"] == ["fail", "pass"]
    build_rows = [p for p in outcome.phases if p["step"] == "build"]
    assert build_rows[-1]["model_calls"] == 4


def test_a_spec_writer_that_resubmits_the_rejected_spec_gets_one_changed_attempt(repo: Path) -> None:
    steps = [{"id": "spec", "persona": "spec_writer", "deliverable": "spec", "next": "spec_check"},
             {"id": "spec_check", "type": "gate", "gate": "spec", "on_pass": "end", "on_fail": "spec",
              "max_rounds": 1}]
    name = add_workflow(repo, "repeat_spec", steps, {"spec": {"kind": "spec"}}, autonomy="L4")
    bad = {**SPEC_DRAFT, "scenarios": []}
    writer = ScriptedModel({"spec_writer": [call("submit_spec", **bad), call("submit_spec", **bad),
                                            call("submit_spec", **bad)]}, name="same-spec")
    outcome = run(repo, name, bind(spec_writer=writer))

    assert outcome.exit_code == 3  # the spec never gets scenarios: the gate stops it, honestly
    log = _log(repo)
    try:
        changed = log.events(outcome.run_id, "retry_changed")
    finally:
        log.close()
    assert len(changed) == 1 and changed[0]["data"]["repeated_again"] is True
    assert changed[0]["data"]["deliverable"] == "spec"
    assert writer.remaining() == 0


def test_a_changed_round_is_not_retried(repo: Path) -> None:
    name = add_workflow(repo, "differs", BUILD_QUALITY, {"tests": QUALITY}, autonomy="L4")
    other = CALC_BUGGY.replace("def subtract(a, b):\n    return a + b",
                               "def subtract(a, b):\n    total = b + a + a * 0\n    return abs(total) + 1")
    builder = ScriptedModel({"builder": [
        call("write_file", path="calc.py", content=CALC_BUGGY), finish("round 1"),
        call("write_file", path="calc.py", content=other), finish("round 2, different"),
        call("write_file", path="calc.py", content=CALC_FIXED), finish("round 3"),
    ]}, name="changer")
    outcome = run(repo, name, bind(builder=builder))
    assert outcome.exit_code == 0, outcome.message
    log = _log(repo)
    try:
        assert log.events(outcome.run_id, "retry_changed") == []
    finally:
        log.close()


def test_layout_is_not_a_change_but_a_one_character_fix_or_an_indent_is() -> None:
    assert spec_layout_free({"then": "it returns 2"}) == spec_layout_free({"then": "it  returns 2 "})
    code = code_layout_free("def f(a, b):\n    return a + b\n")
    assert code == code_layout_free("def f(a, b):   \n\n    return a + b\n\n")
    assert code != code_layout_free("def f(a, b):\n    return a - b\n")
    assert code_layout_free("if x:\n    a()\n    b()\n") != code_layout_free("if x:\n    a()\nb()\n")
