"""The Python API: cheap to import, and the embedding example of docs/python-api.md runs as printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import DOCS, EXAMPLE, make_repo
from scripts import feature_critic, feature_team

API = ("run_workflow", "resume_run", "load_workflow", "compile_workflow", "RunOptions", "ResumeOptions",
       "RunOutcome", "RunEvent")


def test_import_orchestrator_stays_cheap_and_every_api_name_resolves() -> None:
    code = ("import sys, orchestrator\n"
            "heavy = [m for m in ('orchestrator.runner', 'langgraph', 'litellm', 'rich') if m in sys.modules]\n"
            f"names = [callable(getattr(orchestrator, n)) for n in {API!r}]\n"
            "print(heavy, all(names), sorted(orchestrator.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("[] True"), out
    assert all(name in out for name in API)


def test_the_docs_embedding_example_runs_as_printed(tmp_path: Path) -> None:
    page = (DOCS / "python-api.md").read_text()
    example = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    make_repo(tmp_path / "app", source=EXAMPLE)
    (tmp_path / "replies.yaml").write_text(yaml.safe_dump({**feature_team(), **feature_critic()}, sort_keys=False))
    proc = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r"\d+ nodes", lines[0])
    assert lines[1:-2] == ["spec_check: pass", "red_check: pass", "quality: fail", "quality: pass", "review: fail",
                           "quality: pass", "review: pass"]
    assert lines[-2] == "paused 4" and re.fullmatch(r"done 0 orchestrator/\d{8}-\d{6}-\w+", lines[-1])
