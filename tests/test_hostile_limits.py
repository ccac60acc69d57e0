"""Limits that hold inside one reply and in every tool: tool-call cap, slow regex, wall budget, deep paths."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flows import add_workflow, bind, run
from scripts import call, finish

from orchestrator.agents.loop import AgentLoop
from orchestrator.agents.sandbox import run_command, sandbox_policy
from orchestrator.agents.tools import Toolbox
from orchestrator.errors import SandboxViolation
from orchestrator.models.providers.scripted import ScriptedModel
from orchestrator.models.types import ModelReply, ToolCall
from orchestrator.run.budgets import BudgetSpec


def test_one_reply_with_200_tool_calls_runs_only_the_cap(tmp_path: Path) -> None:
    calls = tuple(ToolCall(name="write_file", arguments={"path": f"f{i}.txt", "content": "x"}, id=f"c{i}")
                  for i in range(200))
    replies = [ModelReply(text="", tool_calls=calls, model="m"),
               ModelReply(text="", tool_calls=(ToolCall(name="finish", arguments={"summary": "ok"}, id="f"),),
                          model="m")]

    def complete(model, messages, **kwargs):
        return replies.pop(0)

    loop = AgentLoop(complete=complete, model="m", persona="builder", system_prompt="s",
                     toolbox=Toolbox(tmp_path), max_tool_calls=20)
    result = loop.run("go")
    assert len(list(tmp_path.glob("f*.txt"))) == 20 and result.tool_calls == 20
    assert result.capped or result.final is not None


def test_catastrophic_regex_is_cut_off(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a" * 60 + "!\n")
    toolbox = Toolbox(tmp_path)
    # The pattern: answered, not cut off (a cut-off search says "too slow" instead).
    assert toolbox.call("search", {"pattern": "(a+)+$"}).startswith("no matches")
    start = time.monotonic()
    out = toolbox.call("search", {"pattern": "(a|aa)+$"})  # one the regex engine can't shortcut: ~1e12 steps
    # The cut-off is what is asserted; the wall bound only catches a hang, loose enough for a loaded CI machine.
    assert "too slow" in out
    assert time.monotonic() - start < 120


def test_wall_clock_deadline_interrupts_a_stuck_command(tmp_path: Path) -> None:
    start = time.monotonic()
    with sandbox_policy(deadline=time.monotonic() + 1.5):
        result = run_command([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path,
                             allowlist={"python"}, timeout_s=60, max_output_chars=1000)
    assert result.timed_out and time.monotonic() - start < 10


def test_run_budget_seconds_stops_a_run_whose_tests_hang(repo: Path) -> None:
    name = add_workflow(repo, "hang", [{"id": "build", "persona": "builder", "next": "end"}],
                        test_command=["python", "-c", "import time; time.sleep(120)"])
    builder = ScriptedModel({"builder": [call("run_tests"), finish("done")]}, name="builder")
    start = time.monotonic()
    outcome = run(repo, name, bind(builder=builder), budget=BudgetSpec(seconds=4))
    assert time.monotonic() - start < 60
    assert outcome.exit_code == 3 and "wall-time" in outcome.message


def test_a_2000_level_deep_path_is_refused_with_a_message(tmp_path: Path) -> None:
    toolbox = Toolbox(tmp_path)
    deep = "/".join(["d"] * 2000) + "/f.py"
    for name, args in (("write_file", {"path": deep, "content": "x"}), ("read_file", {"path": deep}),
                       ("list_files", {"path": deep.rsplit("/", 1)[0]})):
        with pytest.raises(SandboxViolation, match="too deep"):
            toolbox.call(name, args)


def test_a_deep_tree_made_by_code_does_not_crash_the_walk(tmp_path: Path) -> None:
    os.chdir(tmp_path)  # build 1,200 levels with relative mkdirs (an absolute path would pass PATH_MAX)
    try:
        for _ in range(1200):
            os.mkdir("d")
            os.chdir("d")
        Path("deep.txt").write_text("needle\n")
    finally:
        os.chdir(tmp_path)
    (tmp_path / "top.txt").write_text("needle\n")
    toolbox = Toolbox(tmp_path)
    try:
        assert "top.txt" in toolbox.call("list_files", {})
        assert "top.txt:1" in toolbox.call("search", {"pattern": "needle"})
    finally:  # shutil.rmtree (pytest's clean-up) recurses too deep for this tree; rm doesn't
        subprocess.run(["rm", "-rf", str(tmp_path / "d")], check=True)
