"""No dead ends in the shipped workflows: base test ids per quality command, new tests judged with the whole
suite, test files that can never pass refused at the red gate, and no dispatcher path that can only fail."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import EXAMPLE, make_repo
from flows import CALC_FIXED, add_file, add_workflow, bind, run
from scripts import CALC_BUGGY, FULL_PATH_TASK, call, finish

from orchestrator.models.providers.scripted import ScriptedModel
from orchestrator.steps.dead_ends import dead_choices
from orchestrator.steps.dispatch import validate_choice
from orchestrator.workflow.spec import DispatchStepSpec
from orchestrator.workflow.validate import find_workflow, load_workflow

RED_STEPS = [{"id": "write_tests", "persona": "tester", "deliverable": "tests", "next": "red_check"},
             {"id": "red_check", "type": "gate", "gate": "red", "on_pass": "end", "on_fail": "stop"}]


def _red_run(repo: Path, path: str, content: str):
    name = add_workflow(repo, "red_only", RED_STEPS, {"red": {"kind": "red"}}, autonomy="L4")
    tester = ScriptedModel({"tester": [call("write_file", path=path, content=content), finish("tests")]}, name="t")
    return run(repo, name, bind(tester=tester))


def test_a_quality_gate_with_two_pytest_commands_keeps_each_commands_base_on_a_revisit(repo: Path) -> None:
    add_file(repo, "tests/test_more.py", "def test_more():\n    assert True\n")
    narrow = {"name": "add", "run": ["python", "-m", "pytest", "-q", "tests/test_add.py"], "parser": "pytest"}
    full = {"name": "all", "run": ["python", "-m", "pytest", "-q"], "parser": "pytest"}
    steps = [{"id": "build", "persona": "builder", "deliverable": "source", "next": "check"},
             {"id": "check", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "build",
              "max_rounds": 2}]
    name = add_workflow(repo, "two_commands", steps, {"tests": {"kind": "quality", "commands": [narrow, full]}},
                        autonomy="L4")
    builder = ScriptedModel({"builder": [
        call("write_file", path="calc.py", content=CALC_BUGGY), finish("added subtract"),
        call("write_file", path="calc.py", content=CALC_FIXED), finish("fixed the sign")]}, name="b")
    outcome = run(repo, name, bind(builder=builder))
    assert outcome.exit_code == 0, outcome.message
    assert [g["verdict"] for g in outcome.gates if g["gate"] == "check"] == ["pass"]
    assert "lost" not in outcome.message


def test_the_red_gate_refuses_a_new_test_file_that_clashes_with_the_suite(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", source=EXAMPLE)  # holds tests/test_calc.py, no __init__.py
    clash = "from calc import subtract\n\n\ndef test_subtract():\n    assert subtract(5, 3) == 2\n"
    outcome = _red_run(repo, "tests/unit/test_calc.py", clash)
    assert outcome.exit_code == 3
    assert "import file mismatch" in outcome.message or "can't collect" in outcome.message, outcome.message


def test_the_red_gate_refuses_a_test_file_the_suite_never_collects(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", source=EXAMPLE)
    add_file(repo, "pyproject.toml", '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    hidden = "from calc import subtract\n\n\ndef test_subtract():\n    assert subtract(5, 3) == 2\n"
    outcome = _red_run(repo, "checks/test_subtract.py", hidden)  # outside the suite's testpaths
    assert outcome.exit_code == 3
    assert "does not collect it" in outcome.message, outcome.message


def test_the_red_gate_refuses_tests_that_fail_on_a_name_the_file_never_imports(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", source=EXAMPLE)
    no_import = "def test_subtract():\n    assert subtract(5, 3) == 2\n"
    outcome = _red_run(repo, "tests/test_subtract.py", no_import)
    assert outcome.exit_code == 3
    assert "'subtract' is used but never imported or defined" in outcome.message, outcome.message


def test_the_red_gate_never_reads_a_link_a_test_put_in_place_of_its_own_file(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", source=EXAMPLE)
    outside = tmp_path / "outside.py"
    outside.write_text("def test_x():\n    assert planted_secret_name\n")
    # Run by the red gate, the test replaces its own file with a link out of the worktree, then fails on a name
    # only the outside file uses: read through the link, the gate would repeat that name in its reason.
    swap = (f"import os\n\n\ndef test_swap():\n    os.remove(__file__)\n    os.symlink({str(outside)!r}, __file__)\n"
            "    raise NameError(\"name 'planted_secret_name' is not defined\")\n")
    outcome = _red_run(repo, "tests/test_swap.py", swap)
    assert "planted_secret_name' is used" not in outcome.message, outcome.message


def test_the_red_gate_still_passes_a_proper_red_test(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", source=EXAMPLE)
    good = "import pytest\n\nfrom calc import subtract\n\n\ndef test_subtract():\n    assert subtract(5, 3) == 2\n"
    outcome = _red_run(repo, "tests/test_subtract.py", good)
    assert outcome.exit_code == 0, outcome.message


def test_after_the_build_changed_source_the_triage_is_not_offered_the_spec_path() -> None:
    spec = load_workflow("feature")
    dead = dead_choices(spec, ["build", "spec", "escalate"], source_changed=True)
    assert list(dead) == ["spec"] and "red gate 'red_check'" in dead["spec"]
    assert dead_choices(spec, ["build", "spec", "escalate"], source_changed=False) == {}


def test_a_dead_choice_falls_back_to_the_default_and_a_dead_default_to_a_live_choice() -> None:
    from orchestrator.models.types import ModelReply, ToolCall

    step = DispatchStepSpec(id="triage", type="dispatch", persona="dispatcher", choices=["build", "spec", "escalate"],
                            default="build", max_rounds=4)
    reply = ModelReply(text="", tool_calls=[ToolCall(id="1", name="spec", arguments={"reason": "revise"})],
                       model="m")
    assert validate_choice(step, reply, ["build", "escalate"])[0] == "build"
    dead_default = step.model_copy(update={"default": "spec"})
    assert validate_choice(dead_default, reply, ["build", "escalate"])[0] == "build"


def test_a_dispatcher_that_picks_the_spec_path_after_the_build_goes_to_the_builder(example_repo: Path) -> None:
    from scripts import feature_critic, feature_team

    from orchestrator.models.providers.scripted import register_scripted
    from orchestrator.runner import RunOptions, start_run
    from orchestrator.store.log import RunLog

    # The shipped feature workflow sends a failed review straight to the builder; this copy triages it instead.
    flow = yaml.safe_load(find_workflow("feature").read_text())
    review = next(s for s in flow["steps"] if s["id"] == "review")
    review["on_fail"] = "triage"
    flow["steps"].insert(flow["steps"].index(review) + 1, {
        "id": "triage", "type": "dispatch", "persona": "dispatcher", "choices": ["build", "spec", "escalate"],
        "default": "build", "max_rounds": 4, "description": "The review failed: fix, revise the spec or escalate."})
    add_file(example_repo, ".orchestrator/workflows/triaged.yaml", yaml.safe_dump(flow, sort_keys=False))
    team = feature_team() | {"dispatcher": [call("spec", reason="revise the spec")]}
    model = register_scripted(ScriptedModel({**team, **feature_critic()}, name="team"))
    personas = ["surveyor", "spec_writer", "tester", "builder", "dispatcher", "critic"]
    outcome = start_run(RunOptions(workflow="triaged", repo=example_repo, task=FULL_PATH_TASK,
                                   model_overrides={p: model for p in personas}, approve="auto"))
    assert outcome.exit_code == 0, outcome.message
    log = RunLog(example_repo / ".git" / "orchestrator" / "runs.sqlite")
    try:
        [dispatch] = [e for e in log.events(outcome.run_id) if e["kind"] == "dispatch" and e["step"] == "triage"]
    finally:
        log.close()
    assert dispatch["data"]["chosen"] == "build" and "spec" in dispatch["data"]["not_offered"]
    assert dispatch["data"]["choices"] == ["build", "escalate"]
