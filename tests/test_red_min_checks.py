"""`min_checks` on a red gate: the lean path's test must check several cases before the build may start."""

from __future__ import annotations

from pathlib import Path

from conftest import make_repo
from flows import bind
from scripts import TEST

from orchestrator.models.providers.scripted import ScriptedModel
from orchestrator.runner import RunOptions, start_run

CALC = '"""Calc."""\n\n\ndef add(a, b):\n    return a + b\n'
ONE = "```python\nfrom calc import subtract\n\n\ndef test_subtract():\n    assert subtract(5, 3) == 2\n```"
BUILD = '```python\ndef subtract(a, b):\n    """Return a minus b."""\n    return a - b\n```'


def test_a_one_assert_test_fails_the_lean_red_gate_and_the_tester_writes_more(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"calc.py": CALC, "conftest.py": ""})
    tester = ScriptedModel({"tester": [{"text": ONE}, {"text": f"```python\n{TEST}```"}]}, name="t")
    builder = ScriptedModel({"builder": [{"text": BUILD}]}, name="b")
    outcome = start_run(RunOptions(workflow="feature", repo=repo, task="Add subtract(a, b) to calc.py: a minus b.",
                                   model_overrides=bind(tester=tester, builder=builder), approve="auto"))
    assert outcome.exit_code == 0, outcome.message
    reds = [p for p in outcome.phases if p["step"] == "small_red"]
    assert [p["verdict"] for p in reds] == ["fail", "pass"]
    assert "hold 1 check(s)" in reds[0]["reason"] and "at least 3" in reds[0]["reason"]
    assert not tester.remaining()
