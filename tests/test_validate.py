"""Workflow validation: one test per error kind, each asserting file:line and the field path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError, WorkflowValidationError
from orchestrator.resources import shipped_dir
from orchestrator.workflow.validate import find_workflow, load_workflow

NO_REPO = " (without --repo, only shipped personas are known)"
GOOD = """\
name: demo
gates:
  tests:
    kind: quality
    commands:
      - name: tests
        run: [python, -m, pytest]
steps:
  - id: build
    persona: builder
    next: check
  - id: check
    type: gate
    gate: tests
    on_pass: end
    on_fail: build
    max_rounds: 2
"""


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    with pytest.raises((WorkflowValidationError, ConfigError)) as info:
        load_workflow(path)
    exc = info.value
    return [p.replace(str(path), "flow.yaml") for p in getattr(exc, "problems", [str(exc)])]


def test_good_workflow_loads(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(GOOD)
    spec = load_workflow(path)
    assert [s.id for s in spec.steps] == ["build", "check"]
    assert spec.entry_step == "build"


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    text = GOOD.replace("    next: check", "    next: [check")
    [problem] = problems_of(tmp_path, text)
    assert problem.startswith("flow.yaml:12: YAML syntax error")


def test_unknown_key_with_suggestion(tmp_path: Path) -> None:
    text = GOOD.replace("    persona: builder\n", "    persona: builder\n    instructons: go\n")
    assert problems_of(tmp_path, text) == [
        "flow.yaml:11: steps[0].instructons: unknown key 'instructons'. Did you mean 'instructions'?"
    ]


def test_wrong_type(tmp_path: Path) -> None:
    text = GOOD.replace("max_rounds: 2", "max_rounds: lots")
    [problem] = problems_of(tmp_path, text)
    assert problem.startswith("flow.yaml:17: steps[1].max_rounds: ")
    assert "'lots'" in problem


def test_unknown_persona(tmp_path: Path) -> None:
    text = GOOD.replace("persona: builder", "persona: buildr")
    assert problems_of(tmp_path, text) == [
        "flow.yaml:10: steps[0].persona: unknown persona 'buildr'. Did you mean 'builder'?" + NO_REPO
    ]


def test_unknown_gate(tmp_path: Path) -> None:
    text = GOOD.replace("gate: tests", "gate: test")
    assert problems_of(tmp_path, text) == ["flow.yaml:14: steps[1].gate: unknown gate 'test'. Did you mean 'tests'?"]


def test_unknown_step_target(tmp_path: Path) -> None:
    text = GOOD.replace("on_fail: build", "on_fail: biuld")
    assert problems_of(tmp_path, text) == [
        "flow.yaml:16: steps[1].on_fail: unknown step target 'biuld'. Did you mean 'build'?"
    ]


def test_unreachable_step(tmp_path: Path) -> None:
    text = GOOD + "  - id: orphan\n    persona: critic\n"
    assert problems_of(tmp_path, text) == [
        "flow.yaml:18: steps[2].id: unreachable step 'orphan': no path leads here from the entry step"
    ]


def test_no_entry_step(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "name: empty\nsteps: []\n") == [
        "flow.yaml:2: steps: no entry step: the workflow has no steps"
    ]
    text = "entry: biuld\n" + GOOD
    assert problems_of(tmp_path, text) == [
        "flow.yaml:1: entry: no entry step: unknown step 'biuld'. Did you mean 'build'?"
    ]


def test_cycle_without_cap(tmp_path: Path) -> None:
    text = GOOD.replace("    max_rounds: 2\n", "")
    assert problems_of(tmp_path, text) == [
        "flow.yaml:9: steps[0]: cycle with no cap: build -> check; set max_rounds on a gate or dispatch step in it"
    ]


def test_duplicate_ids(tmp_path: Path) -> None:
    text = GOOD.replace("  - id: check", "  - id: build", 1).replace("next: check", "next: build")
    problems = problems_of(tmp_path, text)
    assert problems[0] == "flow.yaml:12: steps[1].id: duplicate id 'build' (first used at line 9)"


def test_unknown_step_type(tmp_path: Path) -> None:
    text = GOOD.replace("type: gate", "type: gait")
    [problem] = problems_of(tmp_path, text)
    assert problem == "flow.yaml:12: steps[1]: unknown step type 'gait'. Did you mean 'gate'?"


def test_missing_required_field(tmp_path: Path) -> None:
    text = GOOD.replace("    persona: builder\n", "")
    assert problems_of(tmp_path, text) == ["flow.yaml:9: steps[0].persona: required field is missing"]


@pytest.mark.parametrize("name", ["feature", "bugfix", "implement"])
def test_shipped_workflows_load(name: str) -> None:
    spec = load_workflow(find_workflow(name))
    assert spec.name == name


def test_every_shipped_workflow_file_validates() -> None:
    files = sorted(shipped_dir("workflows").glob("*.yaml"))
    assert files
    for path in files:
        load_workflow(path)


def test_bare_name_suggests(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown workflow 'featur'. Did you mean 'feature'?"):
        find_workflow("featur")


def test_validate_cli_exit_codes_and_no_heavy_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("persona: builder", "persona: buildr"))
    code = (
        "import sys; from orchestrator.cli import main\n"
        f"rc = main(['validate', {str(bad)!r}])\n"
        "heavy = [m for m in ('litellm', 'langgraph', 'llama_cpp') if m in sys.modules]\n"
        "print('HEAVY', heavy); sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1
    expected = f"Error: {bad}:10: steps[0].persona: unknown persona 'buildr'. Did you mean 'builder'?{NO_REPO}"
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "HEAVY []" in proc.stdout


def test_speculative_routing_on_an_agent_step_needs_a_gate_after_it(tmp_path: Path) -> None:
    parallel = GOOD.replace("    persona: builder\n", "    persona: builder\n    routing: {strategy: parallel}\n")
    assert load_workflow(_write(tmp_path, parallel)).steps[0].routing.strategy == "parallel"
    ungated = "routing: speculative\n" + GOOD.replace("    next: check\n", "    next: end\n")
    problems = problems_of(tmp_path, ungated)
    assert any(p.startswith("flow.yaml:12: steps[0].next: speculative routing verifies the draft with the gate")
               for p in problems), problems


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    return path


def test_high_stakes_under_a_strategy_that_cannot_honour_it_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("    persona: builder\n", "    persona: builder\n    stakes: high\n    routing: bandit\n")
    [problem] = problems_of(tmp_path, text)
    assert "steps[0]: stakes: high can't be honoured under bandit routing" in problem


def test_validate_reports_every_problem_of_a_file_in_one_pass(tmp_path: Path) -> None:
    """Schema errors (a bad type, an unknown key, an unknown step type) no longer hide the name and target
    checks of the rest of the file, nor its warnings; the lines come in file order."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("name: demo\n", "name: demo\nsettings:\n  max_tool_calls: lots\n")
                   .replace("    persona: builder\n", "    persona: buildr\n    instructons: go\n")
                   .replace("gate: tests", "gate: tsts").replace("on_fail: build", "on_fail: biuld")
                   + "  - id: broken\n    type: gait\n  - id: twice\n    persona: critic\n    instructions: '{taks}'\n")
    proc = subprocess.run([sys.executable, "-c", "import sys; from orchestrator.cli import main; sys.exit(main())",
                           "validate", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 1
    errors = [line.replace(str(bad), "bad.yaml") for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: bad.yaml:3: settings.max_tool_calls: Input should be a valid integer, unable to parse string as "
        "an integer (got 'lots')",
        "Error: bad.yaml:12: steps[0].persona: unknown persona 'buildr'. Did you mean 'builder'?" + NO_REPO,
        "Error: bad.yaml:13: steps[0].instructons: unknown key 'instructons'. Did you mean 'instructions'?",
        "Error: bad.yaml:17: steps[1].gate: unknown gate 'tsts'. Did you mean 'tests'?",
        "Error: bad.yaml:19: steps[1].on_fail: unknown step target 'biuld'. Did you mean 'build'?",
        "Error: bad.yaml:21: steps[2]: unknown step type 'gait'. Did you mean 'gate'?",
    ]
    assert "unknown placeholder {taks}" in proc.stderr  # warnings of the valid part, in the same pass


def test_a_step_set_aside_for_a_schema_error_is_no_unknown_target(tmp_path: Path) -> None:
    text = GOOD.replace("    persona: builder\n", "")  # `build` loses its persona; `check` still points at it
    assert problems_of(tmp_path, text) == ["flow.yaml:9: steps[0].persona: required field is missing"]
    text = GOOD.replace("max_rounds: 2", "max_rounds: lots").replace("gate: tests", "gate: tsts")
    problems = problems_of(tmp_path, text)
    assert [p.split(": ")[1] for p in problems] == ["steps[1].gate", "steps[1].max_rounds"]


def test_validate_takes_a_workflow_name_like_run_does(tmp_path: Path) -> None:
    code = "import sys; from orchestrator.cli import main\nsys.exit(main(['validate', 'feature', 'fetaure']))\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1
    assert "workflows/feature.yaml: ok" in proc.stdout
    assert "Error: unknown workflow 'fetaure'. Did you mean 'feature'?" in proc.stderr
