"""The gate judges the branch's code even when the user's checkout is installed editable in the test venv."""

from __future__ import annotations

import site
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git, make_repo
from flows import QUALITY, add_workflow, bind, run
from hostile import fingerprint
from scripts import call, finish

from orchestrator.models.providers.scripted import ScriptedModel

BUGGY = "def subtract(a, b):\n    return a + b\n"
FIXED = "def subtract(a, b):\n    return a - b\n"
TEST = "from mathpkg import subtract\n\n\ndef test_subtract():\n    assert subtract(5, 3) == 2\n"


def _editable_venv(venv: Path, checkout: Path) -> Path:
    """A venv whose site-packages holds an editable-install `.pth` pointing at the user's checkout."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site_dir = next(venv.glob("lib/python*/site-packages"))
    (site_dir / "__editable__.mathpkg.pth").write_text(f"{checkout / 'src'}\n")
    # pytest itself comes from the orchestrator's venv (cheaper than installing it again).
    (site_dir / "orchestrator_venv.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv / "bin"


def test_gate_imports_the_branch_not_the_users_editable_checkout(tmp_path: Path, monkeypatch) -> None:
    repo = make_repo(tmp_path / "app", {"src/mathpkg/__init__.py": BUGGY, "tests/test_sub.py": TEST})
    bin_dir = _editable_venv(tmp_path / "venv", repo)
    monkeypatch.setenv("PATH", f"{bin_dir}:{sys.exec_prefix}/bin:/usr/bin:/bin")
    name = add_workflow(repo, "fix", [{"id": "build", "persona": "builder", "next": "quality"},
                                      {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end",
                                       "on_fail": "build", "max_rounds": 1}], {"tests": QUALITY}, autonomy="L4")
    before = fingerprint(repo)
    builder = ScriptedModel({"builder": [call("write_file", path="src/mathpkg/__init__.py", content=FIXED),
                                         call("run_tests"), finish("fixed subtract")]}, name="builder")
    outcome = run(repo, name, bind(builder=builder))

    assert outcome.exit_code == 0, outcome.message  # the fix on the branch is what the gate tested
    run_tests_output = builder.calls[2].messages[-1]["content"]
    assert "1 passed" in run_tests_output
    assert fingerprint(repo) == before
    assert not list((repo / "src").rglob("__pycache__"))  # the user's checkout gained no file


def test_unconfined_the_same_venv_would_import_the_users_checkout(tmp_path: Path) -> None:
    """The control: without the sandbox's mount, the editable install points at the user's unfixed code."""
    repo = make_repo(tmp_path / "app", {"src/mathpkg/__init__.py": BUGGY})
    bin_dir = _editable_venv(tmp_path / "venv", repo)
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "fix")
    imported = subprocess.run([str(bin_dir / "python"), "-c", "import mathpkg; print(mathpkg.__file__)"],
                              cwd=tmp_path / "wt", capture_output=True, text=True, check=True).stdout.strip()
    assert imported == str(repo / "src" / "mathpkg" / "__init__.py")


@pytest.fixture(autouse=True)
def _no_bytecode_leak_from_this_process(monkeypatch) -> None:
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)  # a user's shell usually lacks it
