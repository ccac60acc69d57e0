"""Scripted replies shared by the workflow tests: a small, believable feature run on examples/calc."""

from __future__ import annotations

from typing import Any

FULL_PATH_TASK = "Add subtract(a, b) to the calculator"
"""A task the feature workflow's `small_task` rule sends down the full path (it names no file)."""

SPEC = """\
# Calculator: subtract

## Blueprint
### Context
Users can add numbers but not subtract them.
### Architecture
A pure function `subtract(a, b)` in calc.py next to `add`.
### Constraints
No new dependencies.

## Contract
### Definition of done
`subtract` exists, has a docstring and is tested.
### Guardrails
`add` keeps working.
### Scenarios
- Given a=5 and b=3, When subtract(a, b) is called, Then it returns 2.
"""

SPEC_DRAFT = {
    "domain": "calc",
    "title": "Calculator: subtract",
    "context": "Users can add numbers but not subtract them.",
    "architecture": "A pure function `subtract(a, b)` in calc.py next to `add`.",
    "constraints": ["No new dependencies."],
    "definition_of_done": ["`subtract` exists, has a docstring and is tested."],
    "guardrails": ["`add` keeps working."],
    "scenarios": [{"given": "a=5 and b=3", "when": "subtract(a, b) is called", "then": "it returns 2"}],
}

TEST = """\
from calc import subtract


def test_subtract_returns_difference():
    assert subtract(5, 3) == 2
    assert subtract(3, 5) == -2
    assert subtract(7, 0) == 7
"""

CALC_BUGGY = '''\
"""A tiny calculator module used by the orchestrator's demo run."""


def add(a, b):
    """Return the sum of a and b."""
    return a + b


def subtract(a, b):
    return a + b
'''


def call(tool: str, **arguments: Any) -> dict[str, Any]:
    """One scripted tool call."""
    return {"tool": tool, "arguments": arguments}


def finish(summary: str) -> dict[str, Any]:
    """The finishing tool call of an agent step."""
    return call("finish", summary=summary)


SUBTRACT_TEST_ID = "tests/test_subtract.py::test_subtract_returns_difference"


def verdict(kind: str, *violations: dict[str, Any], scenarios: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The critic's finishing tool call; by default it answers the one scenario of SPEC with TEST."""
    answers = [{"scenario": 1, "test": SUBTRACT_TEST_ID, "met": kind == "pass"}] if scenarios is None else scenarios
    return call("submit_verdict", verdict=kind, violations=list(violations), scenarios=answers)


MISSING_DOCSTRING = {
    "clause": "Definition of done: subtract has a docstring",
    "severity": "major",
    "description": "subtract has no docstring",
    "impact": "the API is undocumented",
    "remediation": ["add a one-line docstring to subtract"],
    "required_tests": [],
}


def feature_team() -> dict[str, list[Any]]:
    """Replies for every persona but the critic: the builder's first patch is wrong."""
    return {
        "surveyor": [call("list_files"), finish("calc.py holds add(); tests in tests/ run with pytest")],
        "spec_writer": [call("read_file", path="calc.py"), call("submit_spec", **SPEC_DRAFT)],
        "tester": [call("write_file", path="tests/test_subtract.py", content=TEST),
                   call("finish", summary="one test per scenario", decisions=["subtract lives next to add"])],
        "builder": [
            call("write_file", path="calc.py", content=CALC_BUGGY),
            finish("added subtract"),
            call("edit", path="calc.py", search="def subtract(a, b):\n    return a + b",
                 replace="def subtract(a, b):\n    return a - b"),
            finish("fixed the sign"),
            call("edit", path="calc.py", search="def subtract(a, b):\n",
                 replace='def subtract(a, b):\n    """Return a minus b."""\n'),
            finish("added the docstring"),
        ],
    }


def small_team() -> dict[str, list[Any]]:
    """Replies for the feature workflow's lean path (a small task): code blocks from the tester and the builder."""
    return {"tester": [{"text": f"```python\n{TEST}```"}],
            "builder": [{"text": '```python\ndef subtract(a, b):\n    """Return a minus b."""\n    return a - b\n```'}]}


def feature_critic() -> dict[str, list[Any]]:
    """The critic rejects once (missing docstring), then passes."""
    return {"critic": [verdict("fail", MISSING_DOCSTRING), verdict("pass")]}
