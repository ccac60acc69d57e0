"""Gates that gate, in scripted runs on real temporary repos: nothing done is never 'done'."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git
from flows import CALC_FIXED, QUALITY, add_workflow, bind, run
from scripts import FULL_PATH_TASK, SPEC_DRAFT, call, finish

from orchestrator.models.providers.scripted import FunctionModel, ScriptedModel, register_scripted
from orchestrator.runner import RunOptions, start_run

PERSONAS = ["surveyor", "spec_writer", "tester", "builder", "dispatcher", "critic"]


def run_feature(repo: Path, team: ScriptedModel) -> object:
    model = register_scripted(team)
    return start_run(RunOptions(workflow="feature", repo=repo, task=FULL_PATH_TASK,
                                model_overrides={p: model for p in PERSONAS}, approve="auto"))


def test_a_team_that_does_nothing_on_a_green_repo_does_not_exit_0(example_repo: Path) -> None:
    # Each attempt answers in text three times: the reply and two reminders to call a tool. Visits 2 and 3 repeat
    # the rejected (empty) spec, so each is asked once more, changed: 5 attempts in all.
    team = ScriptedModel({"surveyor": [finish("looked")], "spec_writer": ["nothing to say"] * 15},
                         name="idle")
    outcome = run_feature(example_repo, team)
    assert outcome.exit_code == 3
    assert outcome.message.startswith("gate 'spec_check' failed 3 times, past its cap max_rounds=2: no spec")
    assert outcome.gates == [{"gate": "spec_check", "kind": "spec", "verdict": "fail", "reason": (
        "no spec: write specs/<domain>/spec.md with a Blueprint and a Contract before building")}]
    assert team.remaining() == 0


def test_a_filler_spec_stops_at_the_spec_gate_with_section_reasons(example_repo: Path) -> None:
    filler = {**SPEC_DRAFT, "context": "100", "architecture": "100", "constraints": ["100"],
              "definition_of_done": ["100"], "guardrails": ["100"], "title": "100", "domain": "search",
              "scenarios": [{"given": "100", "when": "100", "then": "100"}] * 4}
    team = ScriptedModel({"surveyor": [finish("calc.py holds add")],
                          "spec_writer": [call("submit_spec", **filler)] * 5}, name="filler")  # 3 + 2 changed
    outcome = run_feature(example_repo, team)
    assert outcome.exit_code == 3 and "spec_check" in outcome.message
    assert "section 'Context' is empty of meaning" in outcome.message


def test_tests_that_pass_before_the_build_stop_at_the_red_gate(example_repo: Path) -> None:
    passing = "from calc import add\n\n\ndef test_add_still_adds():\n    assert add(2, 2) == 4\n"
    team = ScriptedModel({"surveyor": [finish("calc.py holds add")],
                          "spec_writer": [call("submit_spec", **SPEC_DRAFT)],
                          # Visits 2 and 3 leave the rejected test as it is: each is asked once more, changed.
                          "tester": [call("write_file", path="tests/test_more.py", content=passing), finish("t1"),
                                     finish("nothing more"), finish("no"), finish("still nothing"), finish("no")]},
                         name="tester")
    outcome = run_feature(example_repo, team)
    assert outcome.exit_code == 3
    red = [g for g in outcome.gates if g["gate"] == "red_check"][0]
    assert red["verdict"] == "fail"
    assert "gate 'red_check' failed 3 times" in outcome.message
    log = [p for p in outcome.phases if p["step"] == "red_check"]
    assert log[0]["reason"] == "tests/test_more.py::test_add_still_adds passes before the build: it proves nothing"
    assert log[1]["reason"] == "tests/test_more.py::test_add_still_adds passes before the build: it proves nothing"


BUILD_QUALITY = [{"id": "build", "persona": "builder", "next": "quality"},
                 {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "stop"}]


def _worktree(repo: Path) -> Path:
    """The worktree of the run in progress: the newest one."""
    return max((repo / ".git" / "orchestrator" / "worktrees").iterdir(), key=lambda p: p.stat().st_ctime_ns)


def builder_that(action) -> FunctionModel:
    """A builder that edits the worktree directly (as a hostile test would), then finishes."""

    def respond(messages, tools, persona):
        action(_worktree(Path(messages[1]["content"].split("REPO=")[1].split()[0])))
        return finish("done")

    return FunctionModel(respond, name="direct")


def _run_direct(repo: Path, action) -> object:
    """A run whose builder changes files behind the tools' back. A phase commit would discard those changes (they
    are not the agent's: test_hostile_leftovers), so the build step commits nothing and the gate judges them as a
    test run would have left them; the run's final commit discards them."""
    build = {**BUILD_QUALITY[0], "instructions": f"REPO={repo} go", "commit": False}
    name = add_workflow(repo, "build_quality", [build, BUILD_QUALITY[1]], {"tests": QUALITY}, autonomy="L4")
    outcome = run(repo, name, bind(builder=builder_that(action)))
    assert git(repo, "diff", "--name-only", f"main..{outcome.branch}") == ""  # never on the branch
    return outcome


@pytest.mark.parametrize("weaken", ["delete", "skip", "xfail"])
def test_deleting_or_skipping_an_existing_test_fails_the_quality_gate(repo: Path, weaken: str) -> None:
    def act(tree: Path) -> None:
        (tree / "calc.py").write_text(CALC_FIXED)
        target = tree / "tests" / "test_add.py"
        if weaken == "delete":
            target.unlink()
        else:
            target.write_text(f"import pytest\npytestmark = pytest.mark.{weaken}\n" + target.read_text())

    outcome = _run_direct(repo, act)
    assert outcome.exit_code == 3
    reason = outcome.gates[0]["reason"]
    expected = "lost (collected at the base commit, not now)" if weaken == "delete" else "now skipped or xfailed"
    assert expected in reason and "tests/test_add.py::test_add" in reason


def test_a_builder_that_changed_nothing_fails_although_the_suite_is_green(example_repo: Path) -> None:
    outcome = _run_direct(example_repo, lambda tree: None)
    assert outcome.exit_code == 3
    assert outcome.gates[0]["reason"] == "the builder changed nothing: no source file differs from the base commit"


def test_pytest_config_edits_are_refused_and_the_gate_uses_the_base_config(repo: Path) -> None:
    git(repo, "rm", "-q", "conftest.py")
    (repo / "pyproject.toml").write_text('[project]\nname = "calc"\n\n[tool.pytest.ini_options]\npythonpath = ["."]\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pyproject")
    hostile = '[project]\nname = "calc"\n\n[tool.pytest.ini_options]\npythonpath = ["."]\n' \
              'addopts = "--deselect tests/test_add.py::test_add"\n'
    broken = CALC_FIXED.replace("return a + b", "return a * b")
    builder = ScriptedModel({"builder": [call("write_file", path="pyproject.toml", content=hostile),
                                         call("write_file", path="calc.py", content=broken), finish("done")]},
                            name="sneaky")
    name = add_workflow(repo, "build_quality", BUILD_QUALITY, {"tests": QUALITY}, autonomy="L4")
    outcome = run(repo, name, bind(builder=builder))
    tool_result = builder.calls[1].messages[-1]["content"]
    assert tool_result.startswith("refused: pyproject.toml: its [tool.*] tables")
    # The refused edit, and the same edit made behind the tools' back, both leave the gate on the base config.
    assert outcome.exit_code == 3 and "tests/test_add.py::test_add" in outcome.gates[0]["reason"]

    def sneak(tree: Path) -> None:
        (tree / "pyproject.toml").write_text(hostile)
        (tree / "calc.py").write_text(broken)

    direct = _run_direct(repo, sneak)
    assert direct.exit_code == 3
    reason = [p for p in direct.phases if p["step"] == "quality"][0]["reason"]
    assert "1 test(s) failing: tests/test_add.py::test_add" in reason
    assert 'addopts' not in git(repo, "show", f"{direct.branch}:pyproject.toml")


def test_bytecode_and_caches_never_land_on_the_branch(repo: Path) -> None:
    def act(tree: Path) -> None:
        (tree / "calc.py").write_text(CALC_FIXED)
        (tree / "__pycache__").mkdir()
        (tree / "__pycache__" / "calc.cpython-311.pyc").write_bytes(b"\0")

    outcome = _run_direct(repo, act)
    assert outcome.exit_code == 0, outcome.message
    files = git(repo, "ls-tree", "-r", "--name-only", outcome.branch).split()
    assert "calc.py" in files and not [f for f in files if "__pycache__" in f or ".pytest_cache" in f]


def test_after_a_failed_red_gate_the_tester_may_rework_the_tests_it_wrote(example_repo: Path) -> None:
    passing = "from calc import add\n\n\ndef test_add_still_adds():\n    assert add(2, 2) == 4\n"
    red = "from calc import subtract\n\n\ndef test_subtract_five_three():\n    assert subtract(5, 3) == 2\n"
    steps = [{"id": "write_tests", "persona": "tester", "deliverable": "tests", "next": "red_check"},
             {"id": "red_check", "type": "gate", "gate": "red", "on_pass": "end", "on_fail": "write_tests",
              "max_rounds": 1}]
    name = add_workflow(example_repo, "tests_only", steps, {"red": {"kind": "red"}}, autonomy="L4")
    tester = ScriptedModel({"tester": [call("write_file", path="tests/test_more.py", content=passing), finish("t1"),
                                       call("write_file", path="tests/test_more.py", content=red), finish("t2")]},
                           name="reworking")
    outcome = run(example_repo, name, bind(tester=tester))
    assert outcome.exit_code == 0, outcome.message
    assert [g["verdict"] for g in outcome.gates if g["gate"] == "red_check"] == ["pass"]
    assert git(example_repo, "show", f"{outcome.branch}:tests/test_more.py") == red
