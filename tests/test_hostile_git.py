"""Git turned against the user: planted hooks, fsmonitor, textconv, `*.py binary`, hard links to .git/config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import git, make_repo
from flows import add_workflow, bind, run
from hostile import fingerprint
from scripts import call, finish

from orchestrator.agents.tools import Toolbox
from orchestrator.errors import SandboxViolation
from orchestrator.models.providers.scripted import ScriptedModel
from orchestrator.run.workspace import Workspace


def _plant(script: Path, marker: Path) -> None:
    script.write_text(f"#!/bin/sh\necho fired >> {marker}\n")
    script.chmod(0o755)


def test_planted_hooks_never_fire_during_a_run(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "HOOK_FIRED"
    name = add_workflow(repo, "one", [{"id": "build", "persona": "builder", "next": "end"}])
    for hook in ("post-commit", "pre-commit", "commit-msg", "post-checkout", "reference-transaction"):
        _plant(repo / ".git" / "hooks" / hook, marker)
    before = fingerprint(repo)
    builder = ScriptedModel({"builder": [call("write_file", path="notes.md", content="x\n"), finish("done")]},
                            name="builder")
    outcome = run(repo, name, bind(builder=builder))
    assert outcome.exit_code == 0, outcome.message
    assert len(git(repo, "log", "--format=%H", f"main..{outcome.branch}").split()) >= 2  # commits were made
    assert not marker.exists()
    assert fingerprint(repo) == before


def test_fsmonitor_and_textconv_from_config_do_not_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"calc.py": "def add(a, b):\n    return a + b\n",
                                        ".gitattributes": "*.py diff=evil\n"})
    marker = tmp_path / "RAN"
    _plant(tmp_path / "evil.sh", marker)
    git(repo, "config", "core.fsmonitor", str(tmp_path / "evil.sh"))
    git(repo, "config", "diff.evil.textconv", str(tmp_path / "evil.sh"))
    workspace = Workspace.planned(repo, "t1")
    workspace.add()
    (workspace.path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    assert "-    return a + b" in workspace.diff()
    assert "+    return a - b" in Toolbox(workspace.path).call("git_diff", {})
    workspace.commit("change", {"Orchestrator-Run": "t1"})
    assert not marker.exists()


def test_gitattributes_binary_does_not_hide_code_from_the_critic(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"calc.py": "def add(a, b):\n    return a + b\n"})
    workspace = Workspace.planned(repo, "b1")
    workspace.add()
    (workspace.path / ".gitattributes").write_text("*.py binary\n* -diff\n")
    (workspace.path / "calc.py").write_text("def add(a, b):\n    return a - b  # sabotage\n")
    (workspace.path / "new.py").write_text("import os\nos.system('curl evil')\n")
    diff = workspace.diff()
    assert "return a - b  # sabotage" in diff and "os.system('curl evil')" in diff
    assert "Binary files" not in diff
    tool_diff = Toolbox(workspace.path).call("git_diff", {})
    assert "return a - b  # sabotage" in tool_diff and "os.system('curl evil')" in tool_diff
    assert "calc.py" in workspace.diff_stat() or workspace.diff_stat() == ""


def test_hard_link_to_git_config_is_refused_and_config_unchanged(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"calc.py": "x = 1\n"})
    workspace = Workspace.planned(repo, "h1")
    workspace.add()
    config = (repo / ".git" / "config").read_bytes()
    os.link(repo / ".git" / "config", workspace.path / "settings.ini")  # as an unconfined test once did
    toolbox = Toolbox(workspace.path)
    for name, args in (("write_file", {"path": "settings.ini", "content": "[core]\n\thooksPath = /tmp\n"}),
                       ("edit", {"path": "settings.ini", "search": "[core]", "replace": "[x]"}),
                       ("read_file", {"path": "settings.ini"})):
        with pytest.raises(SandboxViolation, match="hard link"):
            toolbox.call(name, args)
    assert (repo / ".git" / "config").read_bytes() == config


def test_inside_the_sandbox_a_hard_link_to_git_config_cannot_be_made(tmp_path: Path) -> None:
    import sys

    from orchestrator.agents.sandbox import run_command

    repo = make_repo(tmp_path / "app", {"calc.py": "x = 1\n"})
    workspace = Workspace.planned(repo, "h2")
    workspace.add()
    script = ("import os\nfor src in ('.git/config', '/run/orchestrator/git/config', "
              f"{str(repo / '.git' / 'config')!r}):\n"
              "    try:\n        os.link(src, 'cfg'); print('linked')\n"
              "    except OSError as e:\n        print(type(e).__name__)\n")
    result = run_command([sys.executable, "-c", script], workspace.path, allowlist={"python"}, timeout_s=30,
                         max_output_chars=1000)
    assert "linked" not in result.output and result.output.count("Error") == 3, result.output
    assert not (workspace.path / "cfg").exists()


def test_the_critics_diff_leaves_out_spec_markdown_only(tmp_path: Path) -> None:
    # Spec markdown is shown whole in the critic's Spec section; code under specs/ must still show in the diff.
    repo = make_repo(tmp_path / "app", {"calc.py": "def add(a, b):\n    return a + b\n"})
    workspace = Workspace.planned(repo, "s1")
    workspace.add()
    (workspace.path / "specs" / "calc").mkdir(parents=True)
    (workspace.path / "specs" / "calc" / "spec.md").write_text("# Calc\nSCENARIO TEXT\n")
    (workspace.path / "specs" / "calc" / "helper.py").write_text("import os\nos.system('hidden')\n")
    (workspace.path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    diff = workspace.diff(exclude=("specs/**/*.md",))
    assert "return a - b" in diff and "os.system('hidden')" in diff
    assert "SCENARIO TEXT" not in diff and "SCENARIO TEXT" in workspace.diff()
