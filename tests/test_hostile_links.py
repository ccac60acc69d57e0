"""Links out of the worktree never carry the orchestrator's environment into a packet (issue 22, item 3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import git
from flows import CALC_FIXED, QUALITY, add_workflow, bind
from hostile import CANARY_VARS, leaks, plant_canaries
from openai_server import completion, fake_openai
from scripts import call, finish, verdict

from orchestrator.models.providers.scripted import ScriptedModel
from orchestrator.runner import RunOptions, start_run

BUILD_REVIEW = [{"id": "build", "persona": "builder", "next": "quality"},
                {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "review", "on_fail": "end",
                 "max_rounds": 1},
                {"id": "review", "type": "gate", "gate": "review", "on_pass": "end", "on_fail": "end",
                 "max_rounds": 1}]
GATES = {"tests": QUALITY, "review": {"kind": "review", "critics": ["critic"]}}
ENVIRON = "/proc/self/environ"
TASK = "Add subtract(a, b) to calc.py; see helper.py"
CODE = "import sys; from orchestrator.cli import main; sys.exit(main())"
LINK_TEST = f"""\
import os

for name in ("AGENTS.md", "specs/made/spec.md", "helper.py"):
    os.makedirs(os.path.dirname(name) or ".", exist_ok=True)
    if not os.path.lexists(name):
        os.symlink("{ENVIRON}", name)


def test_nothing():
    assert True
"""


def _sent(*models: ScriptedModel) -> str:
    """Every message every scripted model received, as one text."""
    return "\n".join(json.dumps(c.messages, default=str) for m in models for c in m.calls)


def _canaries(text: str) -> list[str]:
    return [name for name, value in CANARY_VARS.items() if value in text]


def _team() -> tuple[ScriptedModel, ScriptedModel]:
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED),
                                         finish("subtract in calc.py and helper.py")]}, name="builder")
    critic = ScriptedModel({"critic": [verdict("pass")]}, name="critic")
    return builder, critic


def _run(repo: Path, builder: ScriptedModel, critic: ScriptedModel):
    name = add_workflow(repo, "linked", BUILD_REVIEW, GATES)
    return start_run(RunOptions(workflow=name, repo=repo, task=TASK,
                                model_overrides=bind(builder=builder, critic=critic), approve="auto"))


def _answer(body: dict) -> dict:
    """The served team: the critic passes; the builder writes the fix, then finishes."""
    tools = {t["function"]["name"] for t in body.get("tools") or []}
    if "submit_verdict" in tools:
        passing = verdict("pass")
        return completion(tool_calls=[{"name": passing["tool"], "arguments": passing["arguments"]}])
    if any(m.get("role") == "tool" for m in body["messages"]):
        return completion(tool_calls=[{"name": "finish", "arguments": {"summary": "done"}}])
    return completion(tool_calls=[{"name": "write_file", "arguments": {"path": "calc.py", "content": CALC_FIXED}}])


def test_committed_links_to_proc_self_environ_reach_no_request(repo: Path, tmp_path: Path) -> None:
    """The attack as found: a real `orchestrator run` process holding keys in its environment; the repo commits
    AGENTS.md, a spec and the file the task names as links to /proc/self/environ."""
    (repo / "specs" / "x").mkdir(parents=True)
    for link in ("AGENTS.md", "specs/x/spec.md", "helper.py"):
        os.symlink(ENVIRON, repo / link)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "links to the environment")
    name = add_workflow(repo, "linked", BUILD_REVIEW, GATES)
    config = tmp_path / "xdg" / "orchestrator" / "models.yaml"
    config.parent.mkdir(parents=True)
    with fake_openai(_answer) as server:
        config.write_text(yaml.safe_dump({"models": {m: {"api_base": server.api_base, "api_key_env": "SERVED_KEY",
                                                         "input_cost_per_token": 0, "output_cost_per_token": 0}
                                                     for m in ("openai/served-builder", "openai/served-critic")}}))
        env = {**os.environ, **CANARY_VARS, "SERVED_KEY": "served-key-0123456789",
               "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
        result = subprocess.run([sys.executable, "-c", CODE, "run", name, "--repo", str(repo), "--task", TASK,
                                 "--model", "builder=openai/served-builder", "--model", "critic=openai/served-critic",
                                 "--approve", "auto", "--quiet"], capture_output=True, text=True, env=env, timeout=300)
        sent = json.dumps([r["body"] for r in server.requests])
    assert len(server.requests) >= 3, result.stdout + result.stderr  # builder twice, then the critic
    assert _canaries(sent) == []
    assert _canaries(result.stdout + result.stderr) == []
    assert leaks(repo / ".git") == []  # run log, checkpoints, the worktree and the branch's objects


def test_links_a_test_makes_reach_no_packet_of_the_review(repo: Path, monkeypatch, tmp_path: Path) -> None:
    plant_canaries(monkeypatch)
    secret = tmp_path / "outside" / "credentials"
    secret.parent.mkdir()
    secret.write_text(f"OPENAI_API_KEY={CANARY_VARS['OPENAI_API_KEY']}\n")
    (repo / "tests" / "test_links.py").write_text(LINK_TEST.replace(ENVIRON, str(secret)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a test that plants links")
    builder, critic = _team()
    outcome = _run(repo, builder, critic)
    assert critic.calls, outcome.message  # the review ran after the test planted its links
    assert _canaries(_sent(builder, critic)) == []
    assert leaks(repo / ".git") == []


def test_a_secret_in_a_plain_file_is_redacted_from_every_request(repo: Path, monkeypatch) -> None:
    """A file of the repo that holds a key's value (a .env committed by mistake) is shown redacted."""
    plant_canaries(monkeypatch)
    (repo / "AGENTS.md").write_text(f"Use the key {CANARY_VARS['OPENAI_API_KEY']} for the staging server.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "agents notes")
    builder, critic = _team()
    _run(repo, builder, critic)
    sent = _sent(builder, critic)
    assert _canaries(sent) == [] and "[redacted OPENAI_API_KEY]" in sent


def test_the_orchestrators_own_reads_and_restores_refuse_links(tmp_path: Path) -> None:
    from orchestrator.agents.worktree_files import read_text, write_text

    root = tmp_path / "wt"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    outside.write_text("user data\n")
    os.symlink(outside, root / "pyproject.toml")
    os.link(outside, root / "hard.txt")
    os.symlink(tmp_path, root / "sub" / "up")
    assert read_text(root, "pyproject.toml") is None and read_text(root, "hard.txt") is None
    assert read_text(root, "sub/up/outside.txt") is None
    write_text(root, "pyproject.toml", "[tool.pytest.ini_options]\n")  # replaces the link, never writes through
    assert outside.read_text() == "user data\n"
    assert not (root / "pyproject.toml").is_symlink() and read_text(root, "pyproject.toml").startswith("[tool")
