"""`validate` warnings (exit 0): placeholders, critics, the role policy and unknown model ids."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from orchestrator.cli import app
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
