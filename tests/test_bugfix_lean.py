"""The shipped `bugfix` workflow's lean path: a small bug report goes reproduce -> red -> fix -> quality, no review."""

from __future__ import annotations

from pathlib import Path

from conftest import make_repo
from flows import bind, events
from scripts import CALC_BUGGY, verdict

from orchestrator.models.providers.scripted import ScriptedModel
from orchestrator.runner import RunOptions, start_run

REPORT = "subtract(7, 2) in calc.py returns 9, but it should return 5 (a minus b)."
REPRODUCTION = "```python\nfrom calc import subtract\n\n\ndef test_subtract_7_2():\n    assert subtract(7, 2) == 5\n```"
FIX = '```python\ndef subtract(a, b):\n    """Return a minus b."""\n    return a - b\n```'


def _bugfix(repo: Path, task: str, **models: ScriptedModel):
    return start_run(RunOptions(workflow="bugfix", repo=repo, task=task, model_overrides=bind(**models),
                                approve="auto"))


def test_a_small_bug_report_takes_the_lean_path_and_ends_done_without_a_review(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"calc.py": CALC_BUGGY, "conftest.py": ""})
    tester = ScriptedModel({"tester": [{"text": REPRODUCTION}]}, name="t")
    builder = ScriptedModel({"builder": [{"text": FIX}]}, name="b")
    critic = ScriptedModel({"critic": []}, name="c")
    outcome = _bugfix(repo, REPORT, tester=tester, builder=builder, critic=critic)
    assert outcome.exit_code == 0, outcome.message
    assert [p["step"] for p in outcome.phases if p["persona"] in ("tester", "builder")] == ["small_reproduce",
                                                                                           "small_fix"]
    # The report states the call and the value it should give: that is the reproduction, with no model call.
    assert not critic.calls and not tester.calls and not builder.remaining()
    (dispatch,) = [e for e in events(repo, outcome.run_id) if e["kind"] == "dispatch"]
    assert dispatch["data"]["chosen"] == "small_reproduce"


def test_a_report_naming_no_file_takes_the_full_path_and_its_review(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"calc.py": CALC_BUGGY, "conftest.py": ""})
    tester = ScriptedModel({"tester": [{"text": REPRODUCTION}]}, name="t")
    builder = ScriptedModel({"builder": [{"text": FIX}]}, name="b")
    met = [{"scenario": 1, "test": "tests/test_subtract.py::test_subtract_7_2", "met": True}]
    critic = ScriptedModel({"critic": [verdict("pass", scenarios=met)]}, name="c")
    outcome = _bugfix(repo, "subtract(7, 2) returns 9, but it should return 5.", tester=tester, builder=builder,
                      critic=critic)
    assert outcome.exit_code == 0, outcome.message
    steps = [p["step"] for p in outcome.phases]
    assert "reproduce" in steps and "fix" in steps and "small_reproduce" not in steps and len(critic.calls) == 1
