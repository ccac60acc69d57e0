"""Spec gate lint: required sections and Given/When/Then scenarios."""

from __future__ import annotations

from pathlib import Path

from orchestrator.gates.spec_lint import lint_spec

ROOT = Path(__file__).resolve().parent.parent

SPEC = """\
# Subtract

## Blueprint
### Context
Users need subtraction.
### Architecture
A function in calc.py.
### Constraints
No dependencies.

## Contract
### Definition of done
subtract exists and is tested.
### Guardrails
add keeps working.
### Scenarios
- Given a=5 and b=3, When subtract(a, b) is called, Then it returns 2.
- Scenario: negative
  Given a=1 and b=3
  When subtract(a, b) is called
  Then it returns -2
"""


def test_complete_spec_passes_and_scenarios_parse() -> None:
    result = lint_spec(SPEC)
    assert result.ok, result.problems
    assert [(s.given, s.when, s.then) for s in result.scenarios] == [
        ("a=5 and b=3", "subtract(a, b) is called", "it returns 2"),
        ("a=1 and b=3", "subtract(a, b) is called", "it returns -2"),
    ]
    assert result.scenarios[0].line == 17


def test_missing_scenarios_section_is_reported() -> None:
    result = lint_spec(SPEC.split("### Scenarios")[0], "specs/calc/spec.md")
    assert result.problems == ["specs/calc/spec.md: missing section '### Scenarios' under Contract"]


def test_missing_blueprint_is_reported() -> None:
    text = SPEC.replace("## Blueprint", "## Background")
    assert "spec.md: missing section '## Blueprint'" in lint_spec(text).problems


def test_scenario_out_of_order_is_reported() -> None:
    text = SPEC.replace("Given a=5 and b=3, When subtract(a, b) is called, Then it returns 2.",
                        "When subtract(5, 3) is called, Given nothing, Then it returns 2.")
    [problem] = lint_spec(text).problems
    assert problem.startswith("spec.md:17: scenario does not read Given ... When ... Then ...")


def test_empty_scenarios_section_is_reported() -> None:
    text = SPEC.split("### Scenarios")[0] + "### Scenarios\n\n"
    assert lint_spec(text).problems == ["spec.md:16: section 'scenarios' is empty"]


def test_this_projects_own_specs_pass_the_lint() -> None:
    specs = sorted((ROOT / "specs").glob("*/spec.md"))
    assert specs
    for path in specs:
        result = lint_spec(path.read_text(), str(path))
        assert result.ok, result.problems
