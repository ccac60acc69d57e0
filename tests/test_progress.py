"""Live progress of `orchestrator run` in a real terminal (pexpect), `--json` event lines, `--quiet`, the
plain-text event log, Ctrl-C with its resume command, and the approval prompt's diff and rebind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
import yaml
from flows import CALC_FIXED, QUALITY, add_workflow
from scripts import call as tool
from scripts import finish, verdict

from orchestrator.store.log import RunLog

CODE = "import sys; from orchestrator.cli import main; sys.exit(main())"
WIDTH = 100
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STEPS = [
    {"id": "build", "persona": "builder", "next": "quality"},
    {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "review", "on_fail": "build", "max_rounds": 2},
    {"id": "review", "type": "gate", "gate": "review", "on_pass": "end", "on_fail": "build", "max_rounds": 2},
]
GATES = {"tests": QUALITY, "review": {"kind": "review", "critics": ["critic"]}}


def team(builder_first: dict | None = None) -> dict:
    """Builder writes the fix, the critic passes it (the critic shares the builder's script, so its model)."""
    first = builder_first or tool("write_file", path="calc.py", content=CALC_FIXED)
    return {"builder": [first, finish("subtract implemented")], "critic": [verdict("pass")]}


def args(repo: Path, script: Path, workflow: str, *extra: str) -> list[str]:
    binds = [a for role in ("builder", "critic") for a in ("--model", f"{role}=scripted:{script}")]
    return ["-c", CODE, "run", workflow, "--repo", str(repo), "--task", "Add subtract(a, b)", *binds, *extra]


def spawn(argv: list[str]) -> pexpect.spawn:
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(WIDTH), "LINES": "30"}
    return pexpect.spawn(sys.executable, argv, env=env, dimensions=(30, WIDTH), encoding="utf-8", timeout=120,
                         preexec_fn=_sigint_as_on_a_terminal)


def _sigint_as_on_a_terminal() -> None:
    """The child takes Ctrl-C as a terminal's program does, even when pytest was started in the background
    (`cmd &` ignores SIGINT, children inherit that, and the Ctrl-C test then waited out its 120 s model call)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def screen_lines(raw: str) -> list[str]:
    """What the terminal showed, line by line: escapes dropped, each carriage return starting over."""
    return [ANSI.sub("", part) for line in raw.replace("\r\n", "\n").split("\n") for part in line.split("\r")]


@pytest.fixture
def flow(repo: Path, tmp_path: Path) -> tuple[Path, Path, str]:
    script = tmp_path / "replies.yaml"
    script.write_text(yaml.safe_dump(team(), sort_keys=False))
    return repo, script, add_workflow(repo, "live", STEPS, GATES)


def test_a_terminal_sees_the_notice_first_then_phases_tool_calls_and_verdicts_as_they_happen(flow) -> None:
    repo, script, workflow = flow
    child = spawn(args(repo, script, workflow, "--approve", "auto"))
    # Up front, before any phase runs: the critic shares the builder's model.
    child.expect("critic and builder both resolve to")
    before = child.before
    child.expect(r"phase build \(builder\) on scripted:")
    child.expect(r"tool build \(builder\): write_file -> ok \{")
    child.expect(r"gate quality \[quality\]: pass")
    child.expect(r"tool review \(critic\): submit_verdict -> final \{")
    child.expect(r"gate review \[review\]: pass: all 1 scenario")
    child.expect("Run done")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "phase " not in before


def test_live_lines_fit_the_screen_and_the_status_line_names_phase_model_tokens_and_time(flow) -> None:
    import io

    repo, script, workflow = flow
    child = spawn(args(repo, script, workflow, "--approve", "auto"))
    child.logfile_read = io.StringIO()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    lines = screen_lines(child.logfile_read.getvalue())
    progress = [line for line in lines if line.startswith(("phase ", "tool ", "gate ")) or "│ run:" in line]
    assert any(line.startswith("tool build (builder): write_file -> ok {") for line in progress)
    assert all(len(line) <= WIDTH for line in progress), max(progress, key=len)
    # The long write_file arguments were cut with an ellipsis, not wrapped onto the next line.
    assert any(line.startswith("tool build (builder): write_file") and line.endswith("…") for line in progress)
    status = [line for line in lines if "│ run:" in line]
    assert any(re.search(r"build · builder · \d+ tokens \$0\.0000 \d+s │ run: \d+ tokens \$0\.0000 \d+s │ scripted:", s)
               for s in status), status[:5]


def test_json_writes_one_event_per_line_and_nothing_else_on_stdout(flow) -> None:
    repo, script, workflow = flow
    proc = subprocess.run([sys.executable, *args(repo, script, workflow, "--approve", "auto", "--json")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]  # every line parses
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "warning" and "critic and builder both resolve to" in events[0]["message"]
    assert {"phase_start", "model_call", "tool_call", "gate", "phase_end", "run_end"} <= set(kinds)
    assert kinds[-1] == "outcome" and events[-1]["status"] == "done" and events[-1]["exit_code"] == 0
    assert all(isinstance(e["ts"], float) for e in events)
    write = next(e for e in events if e["kind"] == "tool_call" and e["tool"] == "write_file")
    assert write["step"] == "build" and write["status"] == "ok" and write["arguments"].endswith("...")
    gates = [(e["step"], e["verdict"]) for e in events if e["kind"] == "gate"]
    assert gates == [("quality", "pass"), ("review", "pass"), ("sign_off", "pass")]  # L3 adds the sign-off
    assert all(e["run_id"] == events[-1]["run_id"] for e in events)


def test_quiet_shows_no_live_progress_and_the_plain_log_keeps_the_same_events(flow) -> None:
    repo, script, workflow = flow
    proc = subprocess.run([sys.executable, *args(repo, script, workflow, "--approve", "auto", "--quiet")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Run done" in proc.stdout
    assert not [line for line in proc.stdout.splitlines() if line.startswith(("phase ", "tool ", "gate "))]
    run_id = re.search(r"Run (\d{8}-\d{6}-\w+)", proc.stdout).group(1)
    path = repo / ".git" / "orchestrator" / "runs" / run_id / "events.log"
    log = path.read_text()
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d tool build \(builder\): write_file -> ok \{", log, re.M)
    assert "gate review [review]: pass" in log and "run done (exit 0)" in log
    removed = subprocess.run([sys.executable, "-c", CODE, "runs", "rm", run_id, "--repo", str(repo)],
                             capture_output=True, text=True, timeout=120)
    assert "run folder" in removed.stdout and not path.exists()


def test_ctrl_c_stops_the_run_cleanly_naming_the_resume_command_with_repo(repo: Path, tmp_path: Path) -> None:
    sentinel = tmp_path / "paused"
    slow = {**tool("write_file", path="calc.py", content=CALC_FIXED), "pause_once": str(sentinel), "delay_s": 120}
    script = tmp_path / "replies.yaml"
    script.write_text(yaml.safe_dump(team(slow), sort_keys=False))
    workflow = add_workflow(repo, "live", STEPS, GATES)
    child = spawn(args(repo, script, workflow, "--approve", "auto"))
    child.expect(r"phase build \(builder\) on scripted:")
    while not sentinel.exists():  # the builder's model call is in flight
        child.expect([pexpect.TIMEOUT], timeout=0.2)
    child.sendintr()
    child.expect(r"Interrupted: run (\S+) interrupted \(Ctrl-C\); resume with `orchestrator resume (\S+) --repo (\S+)`",
                 timeout=120)
    run_id, hinted, where = child.match.group(1), child.match.group(2), child.match.group(3)
    child.expect(pexpect.EOF, timeout=120)
    child.close()
    assert child.exitstatus == 130 and "Traceback" not in child.before
    assert hinted == run_id and Path(where) == repo.resolve()
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    try:
        assert log.run(run_id)["status"] == "interrupted"
    finally:
        log.close()
    resumed = subprocess.run([sys.executable, "-c", CODE, "resume", run_id, "--repo", where, "--quiet"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Run done" in resumed.stdout


def test_the_approval_prompt_shows_the_diff_and_refuses_a_bad_rebind(repo: Path, tmp_path: Path) -> None:
    steps = [{"id": "build", "persona": "builder", "next": "sign_off"},
             {"id": "sign_off", "type": "gate", "gate": "accept", "on_pass": "end", "on_fail": "build",
              "max_rounds": 2}]
    workflow = add_workflow(repo, "asked", steps, {"accept": {"kind": "acceptance"}})
    script = tmp_path / "replies.yaml"
    script.write_text(yaml.safe_dump({"builder": [tool("write_file", path="calc.py", content=CALC_FIXED),
                                                  finish("done"), finish("nothing left to change")]}))
    child = spawn(["-c", CODE, "run", workflow, "--repo", str(repo), "--task", "Add subtract(a, b)",
                   "--model", f"builder=scripted:{script}", "--approve", "ask"])
    prompt = r"approve / reject / diff / rebind ROLE=MODEL"
    child.expect(prompt)
    child.sendline("diff")
    child.expect(r"\+    return a - b")
    child.expect(prompt)
    child.sendline("rebind critic=high_reasonin")
    child.expect(r"Not rebound:.*Did you mean 'high_reasoning'\?")
    child.expect(prompt)
    child.sendline("rebind builder=openai/gpt-4o-mnii")
    child.expect(r"Not rebound:.*Did you mean 'openai/gpt-4o-mini'\?")
    child.expect(prompt)
    child.sendline("rebind critic=scripted:" + str(script))
    child.expect(r"Rebound: \{'critic': 'scripted:")
    child.expect(prompt)
    child.sendline("reject")
    child.expect("comment")
    child.sendline("needs: a docstring")
    child.expect(prompt)  # the builder went again; asked once more
    child.sendline("approve")
    child.expect("Run done")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    branch = subprocess.run(["git", "branch", "--list", "orchestrator/*", "--format=%(refname:short)"], cwd=repo,
                            capture_output=True, text=True).stdout.split()[0]
    final = subprocess.run(["git", "log", "-1", "--format=%(trailers:key=Human-Rejection,valueonly)", branch],
                           cwd=repo, capture_output=True, text=True).stdout
    assert final.strip() == "needs: a docstring"
