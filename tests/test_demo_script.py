"""The demo script (`make run`) works from wherever a user clones: home, /tmp, a path with spaces, a linked venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT
from scripts import small_team

ROLES = ["surveyor", "spec_writer", "tester", "builder", "dispatcher", "critic"]


def test_demo_script_runs_from_a_clone_under_a_hidden_root(tmp_path: Path) -> None:
    # tmp_path lives under /tmp, which the sandbox replaces with an empty tmpfs, as it does the home folder.
    clone = tmp_path / "a clone with spaces"
    shutil.copytree(ROOT / "examples", clone / "examples")
    (clone / ".venv").symlink_to(Path(sys.prefix))  # the project's venv, reached through a link
    script = tmp_path / "replies.yaml"
    # The demo's task is small: the feature workflow takes its lean path (tests, red, build, quality).
    script.write_text(yaml.safe_dump(small_team(), sort_keys=False))
    models = [arg for role in ROLES for arg in ("--model", f"{role}=scripted:{script}")]
    # The user's shell PATH, not this test run's: the demo must find the venv's python by itself.
    env = {**os.environ, "PATH": os.defpath, "TMPDIR": str(tmp_path)}
    proc = subprocess.run(["bash", str(clone / "examples" / "run_demo.sh"), *models], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Run done" in proc.stdout and "ended without its report" not in proc.stdout
    assert "dispatch size (rule): -> small_tests (small_task: yes" in proc.stdout
