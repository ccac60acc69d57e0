"""`validate` warnings (exit 0): placeholders, critics, the role policy and unknown model ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.errors import ConfigError
from orchestrator.workflow.lint import workflow_warnings
from orchestrator.workflow.validate import load_workflow

FLOW = """\
name: w
models:
  builder: openai/gpt-4o-mnii
gates:
  review:
    kind: review
    critics: [critic, critic, tester]
steps:
  - id: build
    persona: builder
    instructions: "Do {task} with {taks}"
    next: review
  - id: review
    type: gate
    gate: review
    on_pass: end
    on_fail: build
    max_rounds: 1
"""


def test_each_kind_of_warning_is_named_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(FLOW)
    warnings = workflow_warnings(load_workflow(path))
    assert warnings[:3] == [
        "steps.build.instructions: unknown placeholder {taks}; only {task} is filled in, the rest reaches the "
        "model as written",
        "gates.review.critics: 'critic' is listed more than once",
        "gates.review: 'tester' has write_file, edit, run_tests, but a review runs read-only: those tools are withheld",
    ]
    assert warnings[3].startswith("models: workflow models.builder: unknown model id 'openai/gpt-4o-mnii'. "
                                  "Did you mean 'openai/gpt-4o-mini'?")


def test_a_critic_on_the_builders_model_is_a_warning_and_validate_still_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(FLOW.replace("builder: openai/gpt-4o-mnii", "builder: high_reasoning")
                    .replace("[critic, critic, tester]", "[critic]").replace(" with {taks}", ""))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0
    assert "critic and builder both resolve to 'local/qwen2.5-coder-1.5b'" in result.output



def test_a_step_opening_outside_the_personas_tools_is_a_warning_and_a_typo_an_error(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    tester_step = "    persona: tester\n    opening: [append_file, write_file, finish]\n"
    path.write_text(FLOW.replace("    persona: builder\n", tester_step, 1))
    tester_tools = "list_files, read_file, search, write_file, edit, run_tests"
    assert (f"steps.build.opening: 'append_file' not among 'tester''s tools ({tester_tools}), so never offered on "
            "the first turn") in workflow_warnings(load_workflow(path))  # finish is the step's call: on offer
    fixer = "    persona: builder\n    opening: [edit, append_file]\n"
    path.write_text(FLOW.replace("    persona: builder\n", fixer, 1))
    assert not [w for w in workflow_warnings(load_workflow(path)) if "opening" in w]
    path.write_text(FLOW.replace("    persona: builder\n", "    persona: builder\n    opening: [edti]\n", 1))
    with pytest.raises(ConfigError,
                       match=r"w.yaml:11: steps\[0\]\.opening\[0\]: unknown tool 'edti'\. Did you mean 'edit'\?"):
        load_workflow(path)
