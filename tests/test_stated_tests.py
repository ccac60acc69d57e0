"""`tests_from_task`: a bug report that states the call and the value it should give is its own reproduction."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import make_repo
from flows import bind, events
from scripts import CALC_BUGGY

from orchestrator.models.providers.scripted import ScriptedModel
from orchestrator.runner import RunOptions, start_run
from orchestrator.steps.task_examples import Example, module_name, reproduction_test, stated_examples

FIX = '```python\ndef subtract(a, b):\n    """Return a minus b."""\n    return a - b\n```'
TESTER = "```python\nfrom calc import subtract\n\n\ndef test_subtract():\n    assert subtract(7, 2) == 5\n```"


def test_each_stated_call_gets_the_literal_after_should_return_or_instead_of() -> None:
    task = ("find_index([1, 3, 5, 7], 7) in search.py returns -1, but 7 is at index 3, so it should return 3; "
            "find_index([4], 4) returns -1 too instead of 0.")
    assert stated_examples(task, "find_index") == [Example("find_index([1, 3, 5, 7], 7)", "3"),
                                                   Example("find_index([4], 4)", "0")]
    task = "tail(['a', 'b', 'c'], 0) in logtail.py returns ['a', 'b', 'c'], but asking for 0 lines should give []."
    assert stated_examples(task, "tail") == [Example("tail(['a', 'b', 'c'], 0)", "[]")]
    task = "percentage(1, 4) in grades.py returns 0, but it should return 25.0 (1 is 25% of 4)."
    assert stated_examples(task, "percentage") == [Example("percentage(1, 4)", "25.0")]


def test_calls_without_literal_arguments_or_a_stated_value_state_nothing() -> None:
    assert stated_examples("mean([2, 4, 6]) in stats.py returns 6.0, but the mean is 4.0.", "mean") == []
    assert stated_examples("subtract(a, b) in calc.py should return 5", "subtract") == []
    assert stated_examples("subtract(7, 2) should return a - b", "subtract") == []
    assert stated_examples("add(1, 2) should return 3", "subtract") == []
    hostile = "subtract(__import__('os').system('touch /tmp/x'), 2) in calc.py should return 5"
    assert stated_examples(hostile, "subtract") == []


def test_the_reproduction_imports_the_module_and_asserts_each_example() -> None:
    text = reproduction_test(module_name("src/pkg/calc.py"), "subtract", [Example("subtract(7, 2)", "5")])
    assert text.startswith("from pkg.calc import subtract\n")
    assert "    assert subtract(7, 2) == 5\n" in text
    compile(text, "test.py", "exec")


def _bugfix(repo: Path, task: str, **models: ScriptedModel):
    return start_run(RunOptions(workflow="bugfix", repo=repo, task=task, model_overrides=bind(**models),
                                approve="auto"))


def test_a_report_stating_the_value_is_reproduced_without_the_tester_and_fixed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"calc.py": CALC_BUGGY, "conftest.py": ""})
    tester = ScriptedModel({"tester": []}, name="t")
    builder = ScriptedModel({"builder": [{"text": FIX}]}, name="b")
    outcome = _bugfix(repo, "subtract(7, 2) in calc.py returns 9, but it should return 5.", tester=tester,
                      builder=builder)
    assert outcome.exit_code == 0, outcome.message
    assert not tester.calls
    (stated,) = [e for e in events(repo, outcome.run_id) if e["kind"] == "tests_from_task"]
    assert stated["data"]["asserts"] == ["subtract(7, 2) == 5"]
    shown = subprocess.run(["git", "show", f"{outcome.branch}:{stated['data']['path']}"], cwd=repo,
                           capture_output=True, text=True, check=True).stdout
    assert "assert subtract(7, 2) == 5" in shown
    (row,) = [p for p in outcome.phases if p["step"] == "small_reproduce"]
    assert row["model"].startswith("none") and not row.get("tokens")


def test_a_stated_example_that_already_holds_fails_red_and_the_tester_writes_the_next_round(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"calc.py": CALC_BUGGY, "conftest.py": ""})
    tester = ScriptedModel({"tester": [{"text": TESTER}]}, name="t")
    builder = ScriptedModel({"builder": [{"text": FIX}]}, name="b")
    # subtract(0, 0) is 0 on the buggy code too: the stated example proves nothing, so the tester is asked.
    outcome = _bugfix(repo, "In calc.py subtract(0, 0) should return 0, and does, but subtract is wrong for other "
                      "values.", tester=tester, builder=builder)
    assert outcome.exit_code == 0, outcome.message
    assert len(tester.calls) == 1
    steps = [p["step"] for p in outcome.phases]
    assert steps.count("small_reproduce") == 2 and steps.count("small_red") == 2


def test_a_named_file_that_does_not_define_the_function_leaves_the_test_to_the_tester(tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("def subtract(a, b):\n    return a + b\n")
    repo = make_repo(tmp_path / "app", {"calc.py": "def add(a, b):\n    return a + b\n", "conftest.py": ""})
    os.symlink(outside, repo / "ops.py")  # a link out of the repo: never read as the named file
    subprocess.run(["git", "add", "ops.py"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "link"], cwd=repo, check=True)
    tester = ScriptedModel({"tester": [{"text": TESTER.replace("calc", "ops")}]}, name="t")
    builder = ScriptedModel({"*": [{"text": FIX}] * 20}, name="b")
    outcome = _bugfix(repo, "subtract(7, 2) in ops.py returns 9, but it should return 5.", tester=tester,
                      builder=builder)
    assert len(tester.calls) == 1
    assert not [e for e in events(repo, outcome.run_id) if e["kind"] == "tests_from_task"]


def test_a_call_qualified_by_its_module_names_the_file_and_states_its_example(tmp_path: Path) -> None:
    from orchestrator.steps.relevant import named_files
    from orchestrator.steps.task_size import small_task

    task = "numbers_fmt.pad_number(-5, 3) returns '0-5'. Expected '-05' - the sign comes before the zeros."
    assert stated_examples(task, "pad_number") == [Example("pad_number(-5, 3)", "'-05'")]
    listed = ["numbers_fmt.py", "tests/test_numbers_fmt.py", "fmt.py"]
    assert named_files(listed, task) == ["numbers_fmt.py"]
    assert named_files(listed, "json.loads(text) fails") == []
    (tmp_path / "numbers_fmt.py").write_text("def pad_number(n, width):\n    return str(n).zfill(width)\n")
    assert small_task(task, tmp_path, ["numbers_fmt.py"])[0]
    assert stated_examples("bmi(70, 1.75) gives 20.0, so I expect 22.9.", "bmi") == [Example("bmi(70, 1.75)", "22.9")]
