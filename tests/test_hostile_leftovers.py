"""Commits hold what the agents wrote: what a test run leaves behind is discarded and reported (issue 22, items 4-5)."""

from __future__ import annotations

from pathlib import Path

from conftest import git
from flows import CALC_FIXED, QUALITY, add_file, add_workflow, bind, run
from scripts import call, finish

from orchestrator.models.providers.scripted import ScriptedModel
from orchestrator.store.log import RunLog

BUILD_QUALITY = [{"id": "build", "persona": "builder", "next": "quality"},
                 {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "end",
                  "max_rounds": 1}]
LITTERING_TEST = """\
import os
import sqlite3

# What ordinary and hostile test runs leave behind: a cache database, junk, runner shadows, odd names.
sqlite3.connect("cache.db").execute("create table if not exists t (x)").connection.commit()
with open("junk.bin", "wb") as out:
    out.write(os.urandom(3_000_000))
for name, text in (("pytest.py", "import sys\\n"), ("sitecustomize.py", "import os\\n"), ("evil.pth", "import os\\n"),
                   ("made_by_test.py", "X = 1\\n")):
    with open(name, "w") as out:
        out.write(text)
os.makedirs("docs", exist_ok=True)
with open(b"docs/caf\\xe9.txt", "w") as out:  # a latin-1 name: not UTF-8
    out.write("latin-1 name\\n")


def test_litter():
    assert True
"""
SOLVING_TEST = '''\
# A test that "implements" the feature itself: it rewrites calc.py when imported.
with open("calc.py", "a") as out:
    out.write("\\n\\ndef subtract(a, b):\\n    return a - b\\n")
'''
LEFT = ("cache.db", "junk.bin", "pytest.py", "sitecustomize.py", "evil.pth", "made_by_test.py")


def _branch_files(repo: Path, branch: str) -> set[str]:
    out = git(repo, "log", "--name-only", "--format=", f"main..{branch}")
    return {line for line in out.splitlines() if line}


def _discarded(repo: Path, run_id: str) -> list[str]:
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    try:
        return [f for e in log.events(run_id, "files_discarded") for f in e["data"]["files"]]
    finally:
        log.close()


def test_files_a_test_run_leaves_are_never_committed(repo: Path) -> None:
    add_file(repo, "tests/test_litter.py", LITTERING_TEST)
    name = add_workflow(repo, "litter", BUILD_QUALITY, {"tests": QUALITY}, test_command=["python", "-m", "pytest"])
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), call("run_tests"),
                                         finish("subtract added")]}, name="builder")
    outcome = run(repo, name, bind(builder=builder))
    committed = _branch_files(repo, outcome.branch)
    assert "calc.py" in committed, outcome.message
    assert not committed & set(LEFT) and not any("docs/" in f for f in committed)
    reported = "\n".join(_discarded(repo, outcome.run_id))
    assert "cache.db: a binary file made by a test run" in reported
    assert "junk.bin: made by a test run, not by the agent (3,000,000 bytes)" in reported
    for left in ("pytest.py", "sitecustomize.py", "evil.pth", "made_by_test.py", "docs/caf\ufffd.txt"):
        assert left in reported
    big = [line for line in git(repo, "rev-list", "--objects", "--all").splitlines() if "junk.bin" in line]
    assert big == []  # no 3 MB blob in the user's object store


def test_a_change_a_test_made_is_not_the_builders_work(repo: Path) -> None:
    """The builder writes nothing (every write refused); a test rewrites calc.py. Nothing counts as built."""
    add_file(repo, "tests/test_solving.py", SOLVING_TEST)
    name = add_workflow(repo, "solving", BUILD_QUALITY, {"tests": QUALITY}, test_command=["python", "-m", "pytest"])
    builder = ScriptedModel({"builder": [call("write_file", path="tests/test_subtract.py", content="x = 1\n"),
                                         call("run_tests"), finish("the tests pass")]}, name="builder")
    outcome = run(repo, name, bind(builder=builder))
    assert outcome.exit_code == 3, outcome.message  # stopped: the builder changed nothing
    assert "calc.py" not in _branch_files(repo, outcome.branch)
    assert any(f.startswith("calc.py: made or changed by a test run") for f in _discarded(repo, outcome.run_id))


def test_a_file_the_agent_wrote_then_a_test_changed_keeps_the_agents_version(repo: Path) -> None:
    add_file(repo, "tests/test_solving.py", SOLVING_TEST)
    name = add_workflow(repo, "rewrite", [{"id": "build", "persona": "builder", "next": "end"}],
                        test_command=["python", "-m", "pytest"])
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), call("run_tests"),
                                         finish("done")]}, name="builder")
    outcome = run(repo, name, bind(builder=builder))
    assert git(repo, "show", f"{outcome.branch}:calc.py") == CALC_FIXED, outcome.message
