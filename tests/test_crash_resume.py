"""A real `orchestrator run` killed with SIGKILL mid model call, then resumed, ends like an uninterrupted run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from conftest import git, make_repo
from scripts import CALC_BUGGY, SPEC_DRAFT, TEST, call, finish

from orchestrator.store.log import RunLog

CALC = '"""Calculator."""\n\n\ndef add(a, b):\n    """Return a plus b."""\n    return a + b\n'
FIXED = CALC_BUGGY.replace("def subtract(a, b):\n    return a + b\n", "def subtract(a, b):\n    return a - b\n")
WORKFLOW = {
    "name": "crashy",
    "settings": {"autonomy": "L4", "max_tool_calls": 4},
    "gates": {"tests": {"kind": "quality", "commands": [{"name": "tests", "run": ["python", "-m", "pytest", "-q"]}]}},
    "steps": [
        {"id": "spec", "persona": "spec_writer", "deliverable": "spec", "next": "tests"},
        {"id": "tests", "persona": "tester", "next": "build"},
        {"id": "build", "persona": "builder", "next": "quality"},
        {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "build", "max_rounds": 1},
    ],
}


def script(sentinel: Path) -> dict:
    """The builder's first call blocks for a minute unless the sentinel exists (then it answers at once)."""
    return {
        "spec_writer": [call("submit_spec", **SPEC_DRAFT)],
        "tester": [call("write_file", path="tests/test_subtract.py", content=TEST), finish("tests written")],
        "builder": [
            {**call("write_file", path="calc.py", content=FIXED), "pause_once": str(sentinel), "delay_s": 60},
            finish("implemented"),
        ],
    }


def start(repo: Path, replies: Path) -> subprocess.Popen:
    model = f"scripted:{replies}"
    args = [a for role in ("spec_writer", "tester", "builder") for a in ("--model", f"{role}={model}")]
    code = "import sys; from orchestrator.cli import main; sys.exit(main())"
    return subprocess.Popen([sys.executable, "-c", code, "run", "crashy", "--repo", str(repo), "--task",
                             "Add subtract", *args, "--approve", "auto"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def history(repo: Path, branch: str) -> list[tuple[str, ...]]:
    fields = "%s%x1f%T%x1f%(trailers:key=Persona,valueonly,separator=%x2C)%x1f" \
             "%(trailers:key=Model,valueonly,separator=%x2C)%x1f" \
             "%(trailers:key=Orchestrator-Phase,valueonly,separator=%x2C)%x1f" \
             "%(trailers:key=Gate-Verdicts,valueonly,separator=%x2C)"
    log = git(repo, "log", f"--format={fields}", f"main..{branch}")
    return [tuple(line.split("\x1f")) for line in log.strip().splitlines()]


def test_sigkill_during_a_model_call_then_resume(tmp_path: Path) -> None:
    files = {"calc.py": CALC, "conftest.py": "", ".orchestrator/workflows/crashy.yaml": yaml.safe_dump(WORKFLOW)}
    crashed = make_repo(tmp_path / "crashed", files)
    clean = tmp_path / "clean"
    shutil.copytree(crashed, clean)

    sentinel = tmp_path / "builder-call-in-progress"
    replies = tmp_path / "replies.yaml"
    replies.write_text(yaml.safe_dump(script(sentinel), sort_keys=False))

    proc = start(crashed, replies)
    deadline = time.monotonic() + 120
    while not sentinel.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the builder's model call never started"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    (crashed / ".git" / "orchestrator" / "worktrees").exists()

    log = RunLog(crashed / ".git" / "orchestrator" / "runs.sqlite")
    run_id = log.runs()[0]["id"]
    assert log.run(run_id)["status"] == "running"  # killed: nobody recorded an end
    log.close()
    code = "import sys; from orchestrator.cli import main; sys.exit(main())"
    resumed = subprocess.run([sys.executable, "-c", code, "resume", run_id, "--repo", str(crashed),
                              "--approve", "auto"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    # The same script, uninterrupted (the sentinel exists now, so nothing blocks).
    uninterrupted = start(clean, replies)
    out, err = uninterrupted.communicate(timeout=300)
    assert uninterrupted.returncode == 0, out + err

    branch_crashed = f"orchestrator/{run_id}"
    branch_clean = next(b.strip(" *+") for b in git(clean, "branch").splitlines() if "orchestrator/" in b)
    after_crash, reference = history(crashed, branch_crashed), history(clean, branch_clean)
    assert after_crash == reference  # same subjects, trees and trailers: no phase redone twice, none lost
    assert [h[4] for h in reference] == ["final", "build#1", "tests#1", "spec#1"]
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=crashed, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
