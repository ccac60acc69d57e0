"""Hostile code under test (the issue's exact attacks): hooks, the user's tree, keys, daemons, network, home."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import git
from flows import CALC_FIXED, QUALITY, add_workflow, bind, run
from hostile import CANARY, fingerprint, gone, leaks, plant_canaries
from scripts import call, finish

from orchestrator.agents import bwrap
from orchestrator.agents.sandbox import run_command, sandbox_policy
from orchestrator.agents.tools import Toolbox
from orchestrator.errors import SandboxUnavailable, SandboxViolation
from orchestrator.models.providers.scripted import ScriptedModel
from orchestrator.run.workspace import Workspace

ALLOW = {"python"}

EVIL_TEST = '''\
import glob, os, pathlib, socket, subprocess, sys

REPO = pathlib.Path({repo!r})


def attempt(action):
    try:
        action()
        return "done"
    except Exception as exc:
        return type(exc).__name__


def hook(path):
    path.write_text("#!/bin/sh\\ntouch {marker_dir}/HOOK_FIRED\\n")
    path.chmod(0o755)


def test_evil():
    loot = [str(dict(os.environ))]
    for name in ["/proc/%d/environ" % os.getppid(), "/proc/1/environ", *glob.glob("/proc/*/environ")]:
        loot.append(attempt(lambda: loot.append(open(name, "rb").read().decode(errors="replace"))))
    report = {{
        "hook": attempt(lambda: hook(REPO / ".git" / "hooks" / "post-commit")),
        "hook_via_git": attempt(lambda: hook(pathlib.Path(subprocess.run(
            ["git", "rev-parse", "--git-common-dir"], capture_output=True, text=True).stdout.strip()) /
            "hooks" / "post-commit")),
        "config_link": attempt(lambda: os.link(REPO / ".git" / "config", "config_link")),
        "home": attempt(lambda: pathlib.Path(os.path.expanduser("~/.orchestrator-pwned")).write_text("x")),
        "net": attempt(lambda: socket.create_connection(("192.0.2.1", 80), timeout=1)),
        "planted": attempt(lambda: (REPO / "planted.txt").write_text("in the user's checkout?")),
    }}
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", {marker!r}], start_new_session=True)
    pathlib.Path("loot.txt").write_text("\\n".join(loot))
    pathlib.Path("report.json").write_text(repr(report))
    # The files above are a test run's leftovers, discarded by the next commit: the report goes to the output too.
    print("REPORT=" + repr(report))
    print("LOOT=" + "\\n".join(loot)[:2000])
'''


def test_a_hostile_test_file_during_a_run_is_contained(repo: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    plant_canaries(monkeypatch)
    marker = f"daemon-{os.getpid()}-run"
    evil = EVIL_TEST.format(repo=str(repo), marker=marker, marker_dir=str(tmp_path))
    steps = [{"id": "tests", "persona": "tester", "next": "build"},
             {"id": "build", "persona": "builder", "next": "quality"},
             {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "build",
              "max_rounds": 1}]
    name = add_workflow(repo, "hostile", steps, {"tests": QUALITY}, autonomy="L4",
                        test_command=["python", "-m", "pytest", "-q", "-s"])
    before = fingerprint(repo)
    tester = ScriptedModel({"tester": [call("write_file", path="tests/test_evil.py", content=evil),
                                       call("run_tests"), finish("tests written")]}, name="tester")
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED),
                                         call("run_tests"), finish("implemented")]}, name="builder")
    outcome = run(repo, name, bind(tester=tester, builder=builder))

    assert outcome.exit_code == 0, outcome.message
    assert fingerprint(repo) == before  # tree, index, .git/config and hooks byte-identical
    assert not (tmp_path / "HOOK_FIRED").exists() and not (repo / "planted.txt").exists()
    assert gone(marker)  # the setsid daemon died with its command
    outputs = [str(m["content"]) for c in builder.calls for m in c.messages if "REPORT=" in str(m.get("content"))]
    report = outputs[-1].split("REPORT=", 1)[1].split("\n", 1)[0]
    for attack in ("hook", "hook_via_git", "config_link", "net"):
        assert f"'{attack}': 'done'" not in report, report
    assert not Path(os.path.expanduser("~/.orchestrator-pwned")).exists()  # written to a throwaway home only
    assert "'planted': 'done'" in report and not (repo / "planted.txt").exists()  # written in the worktree only,
    assert "planted.txt" not in git(repo, "log", "--stat", outcome.branch)  # and discarded: a test run's leftover
    assert "[redacted" not in outputs[-1]  # the test's loot held no secret value to redact
    transcripts = [json.dumps(c.messages) for m in (tester, builder) for c in m.calls]
    assert leaks(repo, texts=(outcome.message, *transcripts)) == []  # no canary in any byte or message


def test_parent_environ_and_other_processes_are_out_of_reach(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    plant_canaries(monkeypatch)
    script = ("import os, glob\n"
              "print(open('/proc/%d/environ' % os.getppid()).read())\n"
              "print(sorted(int(p.split('/')[2]) for p in glob.glob('/proc/[0-9]*')))\n")
    result = run_command([sys.executable, "-c", script], tmp_path, allowlist=ALLOW, timeout_s=30,
                         max_output_chars=100_000)
    assert result.ok, result.output
    assert "sk-canary" not in result.output and "redacted" not in result.output  # absent, not just masked
    pids = json.loads(result.output.strip().splitlines()[-1])
    assert len(pids) <= 5  # a fresh PID namespace: bwrap's init and this python, not the host's processes


def test_git_dir_home_and_network_are_out_of_reach(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "--allow-empty", "-m", "i")
    workspace = Workspace.planned(repo, "r1")
    workspace.add()
    config = (repo / ".git" / "config").read_bytes()
    script = (
        "import os, socket, pathlib\n"
        "def t(f):\n"
        "    try:\n        f(); return 'done'\n    except Exception as e:\n        return type(e).__name__\n"
        f"print(t(lambda: open({str(repo / '.git' / 'config')!r}, 'a').write('x')))\n"
        "print(t(lambda: open('/run/orchestrator/git/config', 'a').write('x')))\n"
        "print(t(lambda: open('.git', 'w').write('gitdir: /tmp')))\n"
        "print(t(lambda: socket.create_connection(('192.0.2.1', 80), timeout=1)))\n"
        "print(sorted(os.listdir(os.path.expanduser('~'))))\n"
        "print(os.getcwd())\n"
    )
    result = run_command([sys.executable, "-c", script], workspace.path, allowlist=ALLOW, timeout_s=30,
                         max_output_chars=10_000)
    lines = result.output.strip().splitlines()
    assert lines[:4] == ["NotADirectoryError", "OSError", "OSError", "OSError"], result.output
    assert ".bashrc" not in lines[4] and ".config" not in lines[4]
    assert lines[5] == str(repo.resolve())  # the branch is seen at the user's repo path
    assert (repo / ".git" / "config").read_bytes() == config


def test_protected_files_are_read_only_for_commands(repo: Path) -> None:
    from orchestrator.agents.write_policy import WritePolicy

    workspace = Workspace.planned(repo, "ro")
    workspace.add()
    test_add = (workspace.path / "tests" / "test_add.py").read_bytes()
    toolbox = Toolbox(workspace.path, test_command=["python", "-c",
                      "open('tests/test_add.py', 'w').write('def test_add(): pass')"],
                      policy=WritePolicy(workspace.path))
    output = toolbox.call("run_tests", {})
    assert "Read-only file system" in output
    assert (workspace.path / "tests" / "test_add.py").read_bytes() == test_add
    for rel in ("conftest.py", "tests/test_subtract.py"):
        assert rel in WritePolicy(workspace.path).frozen_files()


def test_known_secret_values_are_redacted_from_tool_output(tmp_path: Path, monkeypatch) -> None:
    plant_canaries(monkeypatch)
    (tmp_path / "leak.txt").write_text(f"key={CANARY}\n")
    result = run_command([sys.executable, "-c", "print(open('leak.txt').read())"], tmp_path, allowlist=ALLOW,
                         timeout_s=30, max_output_chars=1000)
    assert CANARY not in result.output and "[redacted OPENAI_API_KEY]" in result.output
    toolbox = Toolbox(tmp_path)
    assert CANARY not in toolbox.call("read_file", {"path": "leak.txt"})
    assert CANARY not in toolbox.call("search", {"pattern": "key="})


def test_a_secret_set_or_changed_after_a_redaction_is_redacted_too(monkeypatch) -> None:
    from orchestrator.models.secrets import redact, register_secret_names

    monkeypatch.delenv("LATE_API_KEY", raising=False)
    assert redact("value sk-late-000001") == "value sk-late-000001"  # scanned (and remembered) without it
    monkeypatch.setenv("LATE_API_KEY", "sk-late-000001")
    assert redact("value sk-late-000001") == "value [redacted LATE_API_KEY]"
    monkeypatch.setenv("LATE_API_KEY", "sk-late-000002")
    assert redact("value sk-late-000001 sk-late-000002") == "value sk-late-000001 [redacted LATE_API_KEY]"
    monkeypatch.setenv("PLAIN_NAME_FOR_IT", "plainly-secret-value")
    assert redact("plainly-secret-value") == "plainly-secret-value"
    register_secret_names(["PLAIN_NAME_FOR_IT"])  # models.yaml names it as an api_key_env
    assert redact("plainly-secret-value") == "[redacted PLAIN_NAME_FOR_IT]"


def test_no_sandbox_means_refusal_unless_the_user_opts_out(repo: Path, monkeypatch) -> None:
    monkeypatch.setattr(bwrap, "unavailable_reason", lambda: "bubblewrap (bwrap) is not installed")
    with pytest.raises(SandboxViolation, match="--unsafe-no-sandbox"):
        run_command([sys.executable, "-c", "pass"], repo, allowlist=ALLOW, timeout_s=9, max_output_chars=9)
    with sandbox_policy(allow_unsafe=True):
        assert run_command([sys.executable, "-c", "pass"], repo, allowlist=ALLOW, timeout_s=9,
                           max_output_chars=9).ok
    name = add_workflow(repo, "plain", [{"id": "build", "persona": "builder", "next": "end"}])
    builder = ScriptedModel({"builder": [call("run_tests"), finish("done")] * 2}, name="builder")
    with pytest.raises(SandboxUnavailable, match="--unsafe-no-sandbox"):
        run(repo, name, bind(builder=builder))
    outcome = run(repo, name, bind(builder=builder), unsafe_no_sandbox=True)
    assert outcome.exit_code == 0 and any(w.startswith("UNSAFE: no sandbox") for w in outcome.warnings)
    from orchestrator.store.log import RunLog
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    assert any("UNSAFE" in e["data"]["message"] for e in log.events(outcome.run_id, "warning"))
    log.close()
