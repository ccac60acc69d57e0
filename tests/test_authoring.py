"""Authoring aids: JSON Schemas for editors, `init` on a bare repo, --version and -h."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import ROOT, git
from scripts import feature_critic, feature_team
from typer.testing import CliRunner

from orchestrator.cli import app, main
from orchestrator.cli.author import json_schema
from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.runner import RunOptions, start_run


def test_the_shipped_workflow_schema_is_the_generated_one_and_workflows_point_at_it() -> None:
    shipped = json.loads((ROOT / "workflows" / "workflow.schema.json").read_text())
    assert shipped == json_schema("workflow")
    for path in (ROOT / "workflows").glob("*.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=workflow.schema.json\n"), path


def test_schema_prints_each_kind_and_refuses_an_unknown_one() -> None:
    for kind, field in (("workflow", "steps"), ("models", "profiles"), ("persona", "goal")):
        result = CliRunner().invoke(app, ["schema", kind])
        assert result.exit_code == 0 and field in json.loads(result.output)["properties"]
    assert main(["schema", "workflo"]) == 2


def test_version_and_short_help() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("orchestrator 0.")
    assert CliRunner().invoke(app, ["-h"]).exit_code == 0


def test_init_then_run_feature_works_on_a_bare_new_repo(tmp_path: Path) -> None:
    repo = tmp_path / "new"
    repo.mkdir()
    subprocess.run(["git", "init", "--quiet", str(repo)], check=True)
    assert main(["init", "--repo", str(repo)]) == 0
    assert git(repo, "log", "--format=%s") == "orchestrator init\n"
    assert (repo / "specs" / "TEMPLATE.md").is_file() and (repo / "AGENTS.md").is_file()
    team, critic = ScriptedModel(feature_team(), name="team"), ScriptedModel(feature_critic(), name="critic")
    personas = ["surveyor", "spec_writer", "tester", "builder", "dispatcher"]
    overrides = {p: register_scripted(team) for p in personas} | {"critic": register_scripted(critic)}
    outcome = start_run(RunOptions(workflow="feature", repo=repo, task="Add subtract(a, b) to calc.py",
                                   model_overrides=overrides, approve="auto"))
    assert outcome.exit_code == 0, outcome.message


def test_init_keeps_existing_files_and_commits_nothing_in_a_repo_with_history(example_repo: Path) -> None:
    (example_repo / "AGENTS.md").write_text("ours\n")
    head = git(example_repo, "rev-parse", "HEAD")
    assert main(["init", "--repo", str(example_repo)]) == 0
    assert (example_repo / "AGENTS.md").read_text() == "ours\n"
    assert git(example_repo, "rev-parse", "HEAD") == head
    assert (example_repo / ".orchestrator" / "models.yaml").read_text().startswith("# Role bindings")
