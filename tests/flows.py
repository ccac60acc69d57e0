"""Helpers for workflow tests: a calc repo, small workflows committed into it, scripted bindings."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import git, make_repo
from scripts import CALC_BUGGY, SPEC, TEST

from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.runner import RunOptions, start_run

CALC = '"""Calculator."""\n\n\ndef add(a, b):\n    """Return a plus b."""\n    return a + b\n'
CALC_FIXED = CALC_BUGGY.replace("def subtract(a, b):\n    return a + b\n",
                                'def subtract(a, b):\n    """Return a minus b."""\n    return a - b\n')
QUALITY = {"kind": "quality", "commands": [{"name": "tests", "run": ["python", "-m", "pytest", "-q"],
                                             "parser": "pytest"}]}


def add_workflow(repo: Path, name: str, steps: list[dict], gates: dict | None = None, **settings) -> str:
    """Commit a workflow into the repo's .orchestrator/workflows/ and return its name."""
    flow = {"name": name, "settings": {"max_tool_calls": 6, **settings}, "gates": gates or {}, "steps": steps}
    path = repo / ".orchestrator" / "workflows" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(flow, sort_keys=False))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"workflow {name}")
    return name


def add_file(repo: Path, rel: str, text: str) -> None:
    """Commit one more file into the user's repo."""
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"add {rel}")


def calc_repo(path: Path) -> Path:
    """A calc project with subtract specified and tested, but not implemented."""
    return make_repo(path, {
        "calc.py": CALC, "conftest.py": "", "tests/test_add.py": "from calc import add\n\n\ndef test_add():\n"
        "    assert add(2, 3) == 5\n", "tests/test_subtract.py": TEST, "specs/calc/spec.md": SPEC,
    })


def bind(**models: ScriptedModel) -> dict[str, str]:
    """--model overrides binding each persona to a scripted model."""
    return {persona: register_scripted(model) for persona, model in models.items()}


def run(repo: Path, workflow: str, overrides: dict[str, str], **options):
    return start_run(RunOptions(workflow=workflow, repo=repo, task="Add subtract(a, b)",
                                model_overrides=overrides, **{"approve": "auto", **options}))


def decisions(repo: Path, run_id: str) -> list[dict]:
    """The routing decisions a run logged."""
    return _read_log(repo, "decisions", run_id)


def events(repo: Path, run_id: str) -> list[dict]:
    """The events a run logged."""
    return _read_log(repo, "events", run_id)


def _read_log(repo: Path, what: str, run_id: str) -> list[dict]:
    from orchestrator.store.log import RunLog

    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    try:
        return getattr(log, what)(run_id)
    finally:
        log.close()
