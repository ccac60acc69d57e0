"""A new user's first workflow, written from the docs alone: scaffolded, with a custom persona, a quality gate of
two pytest commands and a review gate. It validates, dry-runs and runs with scripted models on the first try."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLE, git, make_repo

from orchestrator.cli import main

SUBTRACT = '"""A tiny calculator."""\n\n\ndef add(a, b):\n    """Return a plus b."""\n    return a + b\n\n\n' \
           'def subtract(a, b):\n    """Return a minus b."""\n    return a - b\n'
SUBTRACT_TEST = "from calc import subtract\n\n\ndef test_subtract():\n    assert subtract(5, 3) == 2\n"


def _scaffold(repo: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """`new workflow` and `new persona`, then the edits docs/authoring.md walks through."""
    assert main(["new", "workflow", "mine", "--repo", str(repo)]) == 0
    assert main(["new", "persona", "implementer", "--repo", str(repo)]) == 0
    flow = repo / ".orchestrator" / "workflows" / "mine.yaml"
    text = flow.read_text().replace("persona: builder", "persona: implementer")
    # The second pytest command: the example's own tests alone, uncommented the way the scaffold shows.
    text = text.replace("      # - name: lint             # more commands: each runs without a shell, in the run's "
                        "sandbox\n      #   run: [ruff, check, .]\n      #   parser: ruff\n",
                        "      - name: calc-tests\n        run: [python, -m, pytest, -q, tests/test_calc.py]\n"
                        "        parser: pytest\n")
    assert "calc-tests" in text and "persona: implementer" in text
    flow.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "my workflow")
    capsys.readouterr()
    return flow


def _replies(tmp_path: Path) -> Path:
    """One scripts file for every role, in the format docs/scripted.md gives."""
    replies = {
        "implementer": [
            {"tool": "write_file", "arguments": {"path": "calc.py", "content": SUBTRACT}},
            {"tool": "write_file", "arguments": {"path": "tests/test_subtract.py", "content": SUBTRACT_TEST}},
            {"tool": "finish", "arguments": {"summary": "added subtract and its test"}},
        ],
        "critic": [{"tool": "submit_verdict", "arguments": {
            "verdict": "pass", "violations": [],
            "scenarios": [{"scenario": 1, "test": "tests/test_subtract.py::test_subtract", "met": True}]}}],
    }
    path = tmp_path / "replies.yaml"
    path.write_text(yaml.safe_dump(replies, sort_keys=False))
    return path


def test_a_scaffolded_workflow_with_a_custom_persona_validates_and_runs_first_time(tmp_path, capsys):
    repo = make_repo(tmp_path / "app", source=EXAMPLE)
    flow = _scaffold(repo, capsys)
    assert main(["validate", "mine", "--repo", str(repo)]) == 0
    assert main(["validate", str(flow)]) == 0  # the repo's personas are found from where the file sits
    assert main(["personas", "--repo", str(repo)]) == 0
    script = f"scripted:{_replies(tmp_path)}"
    models = ["--model", f"implementer={script}", "--model", f"critic={script}"]
    task = ["--task", "Add subtract(a, b) to calc.py"]
    capsys.readouterr()
    assert main(["run", "mine", "--repo", str(repo), *task, *models, "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "implementer -> scripted:" in plan and "critic -> scripted:" in plan and "calc-tests" not in plan
    assert "runs python -m pytest -q; python -m pytest -q tests/test_calc.py" in plan
    assert git(repo, "worktree", "list").count("\n") == 1  # the dry run made no worktree
    assert main(["run", "mine", "--repo", str(repo), *task, *models, "--approve", "auto"]) == 0
    out = capsys.readouterr().out
    assert "done" in out.lower()
    branch = git(repo, "branch", "--list", "--format=%(refname:short)", "orchestrator/*").split()
    assert len(branch) == 1 and "def subtract" in git(repo, "show", f"{branch[0]}:calc.py")


def test_scaffolds_refuse_a_bad_name_and_an_existing_file(tmp_path, capsys):
    repo = make_repo(tmp_path / "app", source=EXAMPLE)
    assert main(["new", "persona", "Bad-Name", "--repo", str(repo)]) == 1
    assert "a persona name uses lower-case letters" in capsys.readouterr().err
    assert main(["new", "workflow", "mine", "--repo", str(repo)]) == 0
    assert main(["new", "workflow", "mine", "--repo", str(repo)]) == 1
    assert "exists; keep it, or overwrite it with --force" in capsys.readouterr().err
    assert main(["new", "workflow", "mine", "--repo", str(repo), "--force"]) == 0


def test_the_scaffolds_validate_as_written(tmp_path, capsys):
    repo = make_repo(tmp_path / "app", source=EXAMPLE)
    assert main(["new", "workflow", "plain", "--repo", str(repo)]) == 0
    assert main(["new", "persona", "helper", "--repo", str(repo)]) == 0
    capsys.readouterr()
    assert main(["validate", "plain", "--repo", str(repo)]) == 0
    assert main(["personas", "--repo", str(repo)]) == 0
    assert "helper" in capsys.readouterr().out
