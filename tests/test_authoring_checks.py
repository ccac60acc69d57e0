"""What `validate` and `personas` check for an author: the personas a workflow uses, repo personas found from
where the file sits, a name that is also a folder; tool-argument errors that name the field; the review's
evidence naming the scenarios it judged."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_repo

from orchestrator.cli import main
from orchestrator.errors import ConfigError, ToolError
from orchestrator.workflow.validate import find_workflow

FLOW = """\
name: {name}
steps:
  - id: look
    persona: {persona}
    instructions: "Look around: {{task}}"
"""

PERSONA = """\
goal: Find things.
tools: [read_file, {tool}]
{extra}
"""


def _repo(tmp_path: Path, tool: str = "search", extra: str = "", name: str = "mine", persona: str = "finder") -> Path:
    repo = make_repo(tmp_path / "app", {"README.md": "app\n"})
    (repo / ".orchestrator" / "workflows").mkdir(parents=True)
    (repo / ".orchestrator" / "personas").mkdir(parents=True)
    (repo / ".orchestrator" / "workflows" / f"{name}.yaml").write_text(FLOW.format(name=name, persona=persona))
    (repo / ".orchestrator" / "personas" / "finder.yaml").write_text(PERSONA.format(tool=tool, extra=extra))
    return repo


def test_validate_checks_the_tools_of_the_personas_a_workflow_uses(tmp_path, capsys):
    repo = _repo(tmp_path, tool="serch")
    assert main(["validate", "mine", "--repo", str(repo)]) == 1
    err = capsys.readouterr().err
    assert "steps[0].persona: persona 'finder' is invalid" in err
    assert "finder.yaml:2: tools[1]: unknown tool 'serch'. Did you mean 'search'?" in err


def test_validate_checks_the_keys_of_the_personas_a_workflow_uses(tmp_path, capsys):
    repo = _repo(tmp_path, extra="guidlines: [be brief]\ncolour: blue")
    assert main(["validate", "mine", "--repo", str(repo)]) == 1
    err = capsys.readouterr().err
    assert "unknown key 'guidlines'. Did you mean 'guidelines'?" in err


def test_personas_exits_1_on_an_invalid_persona_and_still_lists_the_others(tmp_path, capsys):
    repo = _repo(tmp_path, extra="colour: blue")
    assert main(["personas", "--repo", str(repo)]) == 1
    captured = capsys.readouterr()
    assert "unknown key 'colour'" in captured.err and "builder" in captured.out


def test_validate_finds_repo_personas_from_where_the_file_sits(tmp_path, capsys):
    repo = _repo(tmp_path)
    assert main(["validate", str(repo / ".orchestrator" / "workflows" / "mine.yaml")]) == 0


def test_an_unknown_persona_outside_a_repo_hints_at_repo(tmp_path, capsys):
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW.format(name="x", persona="finder"))
    assert main(["validate", str(path)]) == 1
    assert "(without --repo, only shipped personas are known)" in capsys.readouterr().err


def test_a_workflow_named_like_a_folder_runs_by_name(tmp_path, monkeypatch):
    repo = _repo(tmp_path, name="docs")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    assert find_workflow("docs", repo) == repo / ".orchestrator" / "workflows" / "docs.yaml"


def test_a_folder_that_is_no_workflow_is_named_as_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    with pytest.raises(ConfigError, match=r"'notes' is a folder \(.*notes\), not a workflow file"):
        find_workflow("notes", None)


def test_submit_spec_errors_name_the_field():
    from orchestrator.models.schema import validate_with
    from orchestrator.steps.spec_authoring import SpecDraft

    draft = {"domain": "calc", "title": "t", "context": "c", "architecture": "a", "constraints": "none",
             "definition_of_done": ["d"], "guardrails": ["g"],
             "scenarios": [{"given": "a", "when": "b", "then": "c"}]}
    with pytest.raises(ToolError, match=r"submit_spec: argument 'constraints': input should be a valid list"):
        validate_with(SpecDraft, "submit_spec", draft)
    draft |= {"constraints": ["x"], "scenarios": [{"given": "a", "when": "b"}]}
    with pytest.raises(ToolError, match=r"missing required argument 'scenarios.0.then'"):
        validate_with(SpecDraft, "submit_spec", draft)


def test_the_review_evidence_lists_the_scenarios_it_judged():
    from orchestrator.gates.result import GateResult
    from orchestrator.gates.review import with_scenarios

    judged = with_scenarios(GateResult(gate="review", kind="review", verdict="pass", report="ok"),
                            ["The task is done: add subtract"])
    assert judged.document == {"scenarios_judged": ["The task is done: add subtract"]}
    assert judged.report.startswith("Scenarios judged (from the task itself (no spec in this run)):\n"
                                    "1. The task is done: add subtract")
    spec = with_scenarios(GateResult(gate="review", kind="review", verdict="fail"),
                          ["Given a=5, When subtract, Then 2"])
    assert "(from the spec)" in spec.report


def test_an_unusable_verdict_names_the_field() -> None:
    from orchestrator.gates.verdict import parse_verdict

    _, reason = parse_verdict({"verdict": "pass", "violations": [], "scenarios": [{"scenario": 1, "test": "t"}]})
    assert reason == "unusable verdict: submit_verdict: missing required argument 'scenarios.0.met'."
