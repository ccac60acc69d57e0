"""Bounded commands, config that can't be swapped for a link, and an allowlist that matches what runs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from flows import CALC_FIXED, QUALITY, add_file, add_workflow, bind, run
from hostile import fingerprint
from scripts import CALC_BUGGY, call, finish

from orchestrator.agents import limits as limits_module
from orchestrator.agents.limits import LimitsSpec, cgroup_version
from orchestrator.agents.sandbox import run_command, sandbox_policy
from orchestrator.errors import SandboxViolation
from orchestrator.gates.pytest_run import _replace_file
from orchestrator.models.providers.scripted import ScriptedModel

FORK_BOMB = '''\
import os, time


def test_bomb():
    children = []
    try:
        for _ in range(200):
            pid = os.fork()
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            children.append(pid)
    finally:
        for pid in children:
            os.kill(pid, 9)
'''
MEMORY_HOG = "def test_hog():\n    hog = b'x' * (512 * 1024 * 1024)\n    assert hog\n"
DISK_FILL = '''\
def test_fill():
    with open("junk.bin", "wb") as handle:
        for _ in range(64):
            handle.write(b"x" * (1024 * 1024))
'''


def _flow(repo: Path, name: str, **settings) -> str:
    steps = [{"id": "tests", "persona": "tester", "next": "build"},
             {"id": "build", "persona": "builder", "next": "quality"},
             {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "build",
              "max_rounds": 1}]
    return add_workflow(repo, name, steps, {"tests": QUALITY}, autonomy="L4", **settings)


def _tests_then_build(repo: Path, name: str, test_file: str, **settings) -> object:
    return _run_flow(repo, _flow(repo, name, **settings), test_file)


def _run_flow(repo: Path, flow: str, test_file: str, first_build: str = CALC_FIXED) -> object:
    """The tester writes test_file, the builder first_build, then (after a failed gate) the right code."""
    tester = ScriptedModel({"tester": [call("write_file", path="tests/test_hostile.py", content=test_file),
                                       finish("tests written")]}, name="tester")
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=first_build), finish("built"),
                                         call("write_file", path="calc.py", content=CALC_FIXED), finish("fixed")]},
                            name="builder")
    return run(repo, flow, bind(tester=tester, builder=builder))


@pytest.mark.parametrize("test_file, limits, reason", [
    (FORK_BOMB, {"processes": 40}, "process limit (40"),
    (MEMORY_HOG, {"memory_mb": 160}, "memory limit (160 MiB)"),
    (DISK_FILL, {"file_size_mb": 8}, "file size limit (8 MiB"),
], ids=["fork-bomb", "memory-hog", "disk-fill"])
def test_a_test_past_a_limit_fails_the_gate_with_its_reason(repo: Path, test_file: str, limits: dict,
                                                             reason: str) -> None:
    if test_file is FORK_BOMB and cgroup_version() is None and os.geteuid() == 0:
        pytest.skip("no cgroup can be made here and rlimits don't bind root: processes are not limited")
    outcome = _tests_then_build(repo, "bounded", test_file, limits=limits)
    assert outcome.exit_code != 0, outcome.message
    assert reason in json.dumps(outcome.gates), outcome.gates
    assert not (outcome.worktree / "junk.bin").exists() or (outcome.worktree / "junk.bin").stat().st_size <= 8 << 20


def test_the_run_says_which_limits_are_in_force(repo: Path) -> None:
    heard: list[str] = []
    from orchestrator.runner import RunOptions, start_run

    steps = [{"id": "build", "persona": "builder", "next": "end"}]
    flow = add_workflow(repo, "said", steps, limits={"processes": 64})
    builder = ScriptedModel({"builder": [finish("nothing")]}, name="builder")
    start_run(RunOptions(workflow=flow, repo=repo, task="t", model_overrides=bind(builder=builder), approve="auto"),
              notify=heard.append)
    said = [m for m in heard if m.startswith("limits of each sandboxed command")]
    assert said and "64 processes (" in said[0] and "MiB per private /tmp" in said[0]


def test_a_full_private_tmp_is_named(tmp_path: Path) -> None:
    script = "open('/tmp/fill', 'wb').write(b'x' * (40 * 1024 * 1024))"
    with sandbox_policy(resource_limits=LimitsSpec(tmpfs_mb=16)):
        result = run_command([sys.executable, "-c", script], tmp_path, allowlist={"python"}, timeout_s=60,
                             max_output_chars=4000)
    assert not result.ok and "private /tmp (16 MiB)" in (result.limit or ""), result.output


@pytest.mark.parametrize("code, bounds, reason", [
    ("x = b'x' * (400 * 1024 * 1024)", LimitsSpec(memory_mb=100), "memory limit (100 MiB)"),
    ("open('big', 'wb').write(b'x' * (20 * 1024 * 1024))", LimitsSpec(file_size_mb=5), "file size limit (5 MiB"),
], ids=["memory", "file-size"])
def test_without_a_cgroup_rlimits_still_bound_a_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: str,
                                                       bounds: LimitsSpec, reason: str) -> None:
    monkeypatch.setattr(limits_module, "cgroup_version", lambda: None)
    with sandbox_policy(resource_limits=bounds):
        result = run_command([sys.executable, "-c", code], tmp_path, allowlist={"python"}, timeout_s=60,
                             max_output_chars=4000)
    assert not result.ok and reason in (result.limit or ""), result.output


@pytest.mark.parametrize("target", ["outside", "calc.py", ".git/config"])
def test_a_test_cannot_swap_pyproject_for_a_link_the_gate_writes_through(repo: Path, tmp_path: Path,
                                                                         target: str) -> None:
    add_file(repo, "pyproject.toml", "[tool.pytest.ini_options]\naddopts = \"-q\"\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("the user's file\n")
    link_to = str(outside if target == "outside" else repo / target)
    swap = ("import os\n\n\ndef test_swap():\n    try:\n        os.remove('pyproject.toml')\n"
            f"        os.symlink({link_to!r}, 'pyproject.toml')\n    except OSError:\n        pass\n")
    flow = _flow(repo, "swap")
    before = fingerprint(repo)
    _run_flow(repo, flow, swap, first_build=CALC_BUGGY)  # the second gate restores after the first one's tests
    assert outside.read_text() == "the user's file\n"
    assert fingerprint(repo) == before  # the user's checkout and .git/config untouched


def test_restoring_a_config_file_never_follows_a_link(tmp_path: Path) -> None:
    worktree, outside = tmp_path / "wt", tmp_path / "outside"
    worktree.mkdir()
    outside.mkdir()
    (outside / "conftest.py").write_text("mine\n")
    (outside / "pyproject.toml").write_text("mine\n")
    (worktree / "tests").symlink_to(outside)
    (worktree / "pyproject.toml").symlink_to(outside / "pyproject.toml")
    _replace_file(worktree, "tests/conftest.py", "base\n")
    _replace_file(worktree, "pyproject.toml", "base\n")
    assert (outside / "conftest.py").read_text() == "mine\n" and (outside / "pyproject.toml").read_text() == "mine\n"
    assert (worktree / "tests" / "conftest.py").read_text() == "base\n" and not (worktree / "tests").is_symlink()
    (worktree / "setup.cfg").mkdir()  # a folder where the base has a file
    _replace_file(worktree, "setup.cfg", "[tool:pytest]\n")
    assert (worktree / "setup.cfg").read_text() == "[tool:pytest]\n"


def test_a_repo_script_named_like_an_allowed_program_is_refused(repo: Path) -> None:
    add_file(repo, "tools/python", "#!/bin/sh\ntouch RAN\n")
    (repo / "tools" / "python").chmod(0o755)
    with pytest.raises(SandboxViolation, match="inside the repository"):
        run_command(["./tools/python", "-c", "1"], repo, allowlist={"python"}, timeout_s=30, max_output_chars=100)
    gate = {"kind": "quality", "commands": [{"name": "lint", "run": ["./tools/python", "x"]},
                                            {"name": "alias", "run": ["git", "-c", "alias.x=!touch RAN", "x"]}]}
    steps = [{"id": "build", "persona": "builder", "next": "quality"},
             {"id": "quality", "type": "gate", "gate": "lint", "on_pass": "end", "on_fail": "build",
              "max_rounds": 1}]
    flow = add_workflow(repo, "repo-tool", steps, {"lint": gate}, autonomy="L4")
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED),
                                         finish("done")] * 2}, name="builder")
    outcome = run(repo, flow, bind(builder=builder))
    assert outcome.exit_code != 0 and not (outcome.worktree / "RAN").exists()
    assert "inside the repository" in json.dumps(outcome.gates) or "refused" in json.dumps(outcome.gates)


@pytest.mark.parametrize("argv", [
    ["git", "-c", "alias.x=!touch RAN", "x"],
    ["git", "-c", "core.sshCommand=touch RAN", "fetch", "origin"],
    ["git", "-ccore.pager=touch RAN", "log"],
    ["git", "fetch", "--upload-pack=touch RAN", "origin"],
    ["git", "clone", "-u", "touch RAN", "origin", "x"],
    ["git", "fetch", "ext::sh -c touch% RAN"],
    ["git", "rebase", "--exec", "touch RAN", "HEAD~1"],
    ["git", "--config-env=alias.x=EVIL", "x"],
])
def test_git_options_that_start_programs_are_refused(repo: Path, argv: list[str]) -> None:
    with pytest.raises(SandboxViolation, match="refused"):
        run_command(argv, repo, allowlist={"git"}, timeout_s=30, max_output_chars=100)
    assert not (repo / "RAN").exists()


def test_ordinary_git_commands_still_run(repo: Path) -> None:
    for argv in (["git", "-c", "core.quotepath=off", "--no-pager", "log", "--oneline"], ["git", "grep", "-c", "add"],
                 ["git", "-c", "core.hooksPath=/dev/null", "status"]):
        assert run_command(argv, repo, allowlist={"git"}, timeout_s=30, max_output_chars=2000).ok
