"""Gate verdicts on crafted inputs: spec content, red-test judgement, review checks, findings parsing."""

from __future__ import annotations

from scripts import SPEC

from orchestrator.gates.changes import Changes
from orchestrator.gates.findings import parse_pytest
from orchestrator.gates.pytest_run import PytestRun, defined_tests
from orchestrator.gates.red import judge_red
from orchestrator.gates.result import CommandEvidence, GateResult, unknown
from orchestrator.gates.review import judge_verdict
from orchestrator.gates.spec_content import names_something, scenario_problems, section_problems, vocabulary
from orchestrator.gates.spec_lint import lint_spec
from orchestrator.gates.verdict import ReviewVerdict
from orchestrator.steps.spec_authoring import SpecDraft

FILLER = SpecDraft(domain="search", title="100", context="100", architecture="100", constraints=["100"],
                   definition_of_done=["100"], guardrails=["100"],
                   scenarios=[{"given": "100", "when": "100", "then": "100"}] * 4).render()


def test_filler_spec_fails_with_section_level_reasons() -> None:
    problems = section_problems(FILLER, "specs/search/spec.md")
    assert any("section 'Context' is empty of meaning" in p for p in problems)
    assert any("section 'Architecture' repeats the text of section 'Context'" in p for p in problems)
    scenarios = scenario_problems(lint_spec(FILLER).scenarios, "specs/search/spec.md")
    assert "scenario 1: Given, When, Then is a lone token" in scenarios[0]
    assert [p.split(": ")[1] for p in scenarios[1:]] == ["scenario 2 is identical to scenario 1",
                                                          "scenario 3 is identical to scenario 1",
                                                          "scenario 4 is identical to scenario 1"]
    words = vocabulary("Add a subtract(a, b) function to calc.py", files=["calc.py", "tests/test_calc.py"])
    assert not names_something(FILLER, words)


def test_a_real_spec_passes_every_content_check() -> None:
    assert section_problems(SPEC, "spec.md") == []
    assert scenario_problems(lint_spec(SPEC).scenarios, "spec.md") == []
    assert names_something(SPEC, vocabulary("Add subtract(a, b)", files=["calc.py"]))


def test_scenarios_need_concrete_input_and_outcome() -> None:
    vague = lint_spec(SPEC.replace("- Given a=5 and b=3, When subtract(a, b) is called, Then it returns 2",
                                   "- Given a user, When they subtract things, Then it works well")).scenarios
    assert "no concrete input" in scenario_problems(vague, "s.md")[0]
    no_outcome = lint_spec(SPEC.replace("Then it returns 2", "Then it works well")).scenarios
    assert "Then names no concrete expected outcome" in scenario_problems(no_outcome, "s.md")[0]


def test_repeated_lines_in_a_section_are_named() -> None:
    text = SPEC.replace("No new dependencies.", "- keep it small\n- keep it small")
    assert any("section 'Constraints' repeats the line 'keep it small'" in p for p in section_problems(text, "s.md"))


def _run(outcomes: dict[str, str], errors: dict[str, str] | None = None) -> PytestRun:
    return PytestRun(CommandEvidence(name="tests", exit_code=1), "", reported=True, collected=list(outcomes),
                   outcomes=outcomes, collect_errors=errors or {})


def test_red_gate_rejects_a_new_test_that_already_passes() -> None:
    new = {"tests/test_calc.py": ["test_add_again", "test_subtract"]}
    result = judge_red("red", new, _run({"tests/test_calc.py::test_add_again": "passed",
                                         "tests/test_calc.py::test_subtract": "failed"}))
    assert result.verdict == "fail"
    assert result.reasons == ["tests/test_calc.py::test_add_again passes before the build: it proves nothing"]
    assert result.tests["red"] == ["tests/test_calc.py::test_subtract"]


def test_red_gate_accepts_a_module_that_cannot_import_the_missing_code() -> None:
    new = {"tests/test_sub.py": ["test_subtract"]}
    error = "ImportError while importing test module\nE   ImportError: cannot import name 'subtract' from 'calc'"
    result = judge_red("red", new, _run({}, {"tests/test_sub.py": error}))
    assert result.passed and result.tests["red"] == ["tests/test_sub.py::test_subtract"]
    skipped = judge_red("red", new, _run({"tests/test_sub.py::test_subtract[1]": "skipped"}))
    assert skipped.verdict == "fail" and "skipped before the build: it proves nothing" in skipped.reasons[0]
    uncollected = judge_red("red", new, _run({}))
    assert "not collected by pytest" in uncollected.reasons[0]


def test_test_functions_are_found_at_module_and_class_level() -> None:
    source = "def test_a(): pass\nclass TestK:\n    def test_b(self): pass\ndef helper(): pass\n"
    assert defined_tests(source) == ["test_a", "TestK::test_b"]


BUILT = Changes(("calc.py", "tests/test_subtract.py", "specs/calc/spec.md"))
TESTS = ["tests/test_subtract.py::test_subtract_returns_difference"]
MET = [{"scenario": 1, "test": TESTS[0], "met": True}]


def _verdict(kind: str, violations: list | None = None, scenarios: list | None = None) -> ReviewVerdict:
    return ReviewVerdict.model_validate({"verdict": kind, "violations": violations or [],
                                         "scenarios": MET if scenarios is None else scenarios})


def test_a_pass_with_a_blocker_is_a_fail() -> None:
    blocker = {"clause": "Scenario 1", "severity": "blocker", "description": "subtract adds"}
    result = judge_verdict("review", _verdict("pass", [blocker]), ["s1"], BUILT, TESTS, [])
    assert result.verdict == "fail"
    assert "passed the work but lists 1 blocker/major violation(s): Scenario 1" in result.main_reason
    minor = {"clause": "Style", "severity": "minor", "description": "long line"}
    assert judge_verdict("review", _verdict("pass", [minor]), ["s1"], BUILT, TESTS, []).passed


def test_a_pass_on_a_spec_only_or_empty_diff_is_a_fail() -> None:
    spec_only = judge_verdict("review", _verdict("pass"), ["s1"], Changes(("specs/search/spec.md",)), TESTS, [])
    assert spec_only.verdict == "fail" and "a pass on an specs/tests-only diff" in spec_only.main_reason
    empty = judge_verdict("review", _verdict("pass"), ["s1"], Changes(()), TESTS, [])
    assert "a pass on an empty diff" in empty.main_reason


def test_a_verdict_must_answer_every_scenario_with_an_existing_test() -> None:
    skipped = judge_verdict("review", _verdict("pass"), ["s1", "s2"], BUILT, TESTS, [])
    assert skipped.verdict == "unknown" and "scenario(s) 2 of 2 not answered" in skipped.main_reason
    unmet = judge_verdict("review", _verdict("pass", scenarios=[{"scenario": 1, "test": TESTS[0], "met": False}]),
                          ["s1"], BUILT, TESTS, [])
    assert unmet.verdict == "fail" and "scenario 1 is not met" in unmet.main_reason
    ghost = judge_verdict("review", _verdict("pass", scenarios=[{"scenario": 1, "test": "tests/t.py::nope",
                                                                  "met": True}]), ["s1"], BUILT, TESTS, [])
    assert ghost.verdict == "fail" and "is not a test pytest collects" in ghost.main_reason
    by_name = judge_verdict("review", _verdict("pass", scenarios=[{"scenario": 1, "met": True,
                                                                    "test": "test_subtract_returns_difference"}]),
                            ["s1"], BUILT, TESTS, [])
    assert by_name.passed


def test_an_unusable_verdict_is_unknown_and_counts_as_a_failure() -> None:
    result = judge_verdict("review", _verdict("fail"), ["s1"], BUILT, TESTS, ["critic: unusable verdict"])
    assert result.verdict == "unknown" and not result.passed
    assert unknown("q", "quality", "no report").render().startswith("Gate q (quality): unknown\n- no report")
    assert GateResult(gate="g", kind="spec", verdict="pass").main_reason == "passed"


def test_pytest_blocks_with_single_underscore_titles_keep_their_own_lines() -> None:
    output = "\n".join([
        "=================================== FAILURES ===================================",
        "_ test_a_very_long_name_that_is_wider_than_the_terminal_so_pytest_pads_it_with_one_underscore _",
        "    def test_a():", ">       assert 1 == 2", "E       assert 1 == 2", "", "tests/test_x.py:2: AssertionError",
        "_ test_another_very_long_name_that_is_also_wider_than_the_terminal_so_it_gets_one_underscore _",
        "    def test_b():", ">       assert 3 == 4", "E       assert 3 == 4", "", "tests/test_x.py:5: AssertionError",
        "=========================== short test summary info ============================",
    ])
    findings = parse_pytest(output)
    assert [(f.line, f.message.split(": ", 1)[1]) for f in findings] == [(2, "assert 1 == 2"), (5, "assert 3 == 4")]


def test_red_gate_refuses_test_functions_defined_twice(tmp_path) -> None:
    from types import SimpleNamespace

    from conftest import make_repo

    from orchestrator.gates.red import new_test_functions

    repo = make_repo(tmp_path / "app", {"calc.py": "x = 1\n"})
    (repo / "tests").mkdir()
    (repo / "tests" / "test_s.py").write_text("def test_s():\n    assert 0\n\n\ndef test_s():\n    assert 0\n")
    workspace = SimpleNamespace(path=repo, base_commit="HEAD")
    new, problems = new_test_functions(SimpleNamespace(workspace=workspace), Changes(("tests/test_s.py",)))
    assert new == {"tests/test_s.py": ["test_s"]}
    assert problems == ["tests/test_s.py: test_s defined more than once; only the last definition runs, so give "
                        "each test its own name"]


def test_red_for_the_wrong_reason_an_import_the_task_never_names() -> None:
    new = {"tests/test_shout.py": ["test_shout_hi_gives_HI"]}
    error = "ImportError while importing test module\nE   ModuleNotFoundError: No module named 'text'"
    wrong = judge_red("red", new, _run({}, {"tests/test_shout.py": error}), about="Add subtract(a, b) to calc.py")
    assert wrong.verdict == "fail" and "fails to import 'text', which neither the task nor the spec names" in (
        wrong.main_reason)
    right = "E   ImportError: cannot import name 'subtract' from 'calc' (/repo/calc.py)"
    assert judge_red("red", new, _run({}, {"tests/test_shout.py": right}), about="Add subtract(a, b)").passed


def test_red_gate_refuses_a_test_file_that_defines_the_code_under_test(tmp_path) -> None:
    from types import SimpleNamespace

    from conftest import make_repo

    from orchestrator.gates.red import self_served

    repo = make_repo(tmp_path / "app", {"calc.py": "def add(a, b):\n    return a + b\n"})
    (repo / "tests").mkdir()
    (repo / "tests" / "test_s.py").write_text(
        "from calc import add\n\n\ndef subtract(a, b):\n    return a - b\n\n\ndef _helper():\n    return 1\n\n\n"
        "def test_subtract():\n    assert subtract(3, 5) == -2\n")
    ctx = SimpleNamespace(workspace=SimpleNamespace(path=repo, base_commit="HEAD"))
    problems = self_served(ctx, Changes(("tests/test_s.py",)), "Add a subtract(a, b) function to calc.py")
    assert problems == ["tests/test_s.py:4: defines subtract itself; the task asks the project's code for it, so "
                        "import subtract from there and let the build add it"]


def test_a_module_that_fails_to_import_does_not_hide_the_other_tests(tmp_path) -> None:
    import sys

    from orchestrator.gates.pytest_run import run_pytest

    (tmp_path / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    (tmp_path / "test_broken.py").write_text("from nowhere import thing\n\n\ndef test_thing():\n    assert thing\n")
    run = run_pytest([sys.executable, "-m", "pytest", "-q"], tmp_path, allowlist={"python", "python3"},
                     timeout_s=60)
    assert run.outcome("test_ok.py::test_ok") == "passed"
    assert "test_broken.py" in run.collect_errors
