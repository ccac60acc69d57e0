"""Best-of-n and speculative builder and critic steps inside real runs: candidates isolated, a verifier picks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import git
from flows import CALC_FIXED, QUALITY, add_file, add_workflow, bind, decisions, run
from scripts import CALC_BUGGY, call, finish, verdict

from orchestrator.errors import WorkflowValidationError
from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.store.log import RunLog

LADDER = {"profiles": {"high_throughput": ["scripted/cheap"], "high_reasoning": ["scripted/strong"]},
          "ladder": ["high_throughput", "high_reasoning"], "roles": {"builder": "high_throughput"}}


def build_then(gate: dict | None, **build: object) -> list[dict]:
    """A build step followed by a quality gate (or nothing)."""
    steps = [{"id": "build", "persona": "builder", "next": "quality" if gate else "end", **build}]
    if gate:
        steps.append({"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "stop"})
    return steps


def events(repo: Path, run_id: str, kind: str) -> list[dict]:
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    try:
        return [e["data"] for e in log.events(run_id, kind)]
    finally:
        log.close()


def calls(repo: Path, run_id: str) -> list[dict]:
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    try:
        return log.calls(run_id)
    finally:
        log.close()


def committed_calc(repo: Path, run_id: str) -> str:
    return git(repo, "show", f"orchestrator/{run_id}:calc.py")


def test_a_best_of_2_builder_calls_two_models_and_keeps_the_passing_one(repo: Path) -> None:
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump(LADDER))
    steps = build_then(QUALITY, routing={"strategy": "parallel", "parallel": {"n": 2}})
    name = add_workflow(repo, "bestof", steps, {"tests": QUALITY}, autonomy="L4")
    cheap = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_BUGGY), finish("v1")]},
                          name="cheap")
    # The second candidate reads calc.py first: it must see the start of the step, not the first one's write.
    strong = ScriptedModel({"builder": [call("read_file", path="calc.py"),
                                        call("write_file", path="calc.py", content=CALC_FIXED), finish("v2")]},
                           name="strong")
    register_scripted(cheap), register_scripted(strong)
    outcome = run(repo, name, {})

    assert outcome.exit_code == 0, outcome.message
    assert len(cheap.calls) == 2 and len(strong.calls) == 3  # both candidates ran
    assert "def subtract" not in strong.calls[1].messages[-1]["content"]  # isolated from the first's write
    assert committed_calc(repo, outcome.run_id) == CALC_FIXED  # the winner's work is what's committed
    [build] = [p for p in outcome.phases if p["step"] == "build"]
    assert build["model"] == "scripted/strong" and build["model_calls"] == 5
    row = decisions(repo, outcome.run_id)[0]
    assert row["chosen"] == "scripted/strong" and "gate quality passed candidate 2 (scripted/strong)" in row["reason"]
    assert row["gate_outcome"] == "pass"
    assert row["tokens"] == sum(c["prompt_tokens"] + c["completion_tokens"] for c in calls(repo, outcome.run_id))
    assert build["tokens"] == row["tokens"]  # every candidate's tokens are counted
    first, second = events(repo, outcome.run_id, "candidate")
    assert (first["model"], first["verdict"], first["winner"]) == ("scripted/cheap", "fail", False)
    assert (second["model"], second["verdict"], second["winner"]) == ("scripted/strong", "pass", True)
    assert first["tokens"] > 0 and second["tokens"] > 0


def test_best_of_on_one_model_samples_hot_and_stops_at_the_first_pass(repo: Path) -> None:
    steps = build_then(QUALITY, best_of={"n": 3, "temperature": 0.9})
    name = add_workflow(repo, "hot", steps, {"tests": QUALITY}, autonomy="L4")
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_BUGGY), finish("v1"),
                                         call("write_file", path="calc.py", content=CALC_FIXED), finish("v2")]},
                            name="builder")
    outcome = run(repo, name, bind(builder=builder))

    assert outcome.exit_code == 0, outcome.message
    assert len(builder.calls) == 4  # the third candidate is never sampled: the second passed
    assert [c["verdict"] for c in events(repo, outcome.run_id, "candidate")] == ["fail", "pass"]
    builds = [c for c in calls(repo, outcome.run_id) if c["step"] == "build"]
    assert all('"temperature": 0.9' in c["sampling"] for c in builds)
    assert committed_calc(repo, outcome.run_id) == CALC_FIXED


def test_no_candidate_passing_keeps_the_first_and_the_gate_stops_the_run(repo: Path) -> None:
    name = add_workflow(repo, "nopass", build_then(QUALITY, best_of=2), {"tests": QUALITY}, autonomy="L4")
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_BUGGY), finish("v1"),
                                         call("write_file", path="calc.py", content=CALC_BUGGY + "\n"),
                                         finish("v2")]}, name="builder")
    outcome = run(repo, name, bind(builder=builder))

    assert outcome.exit_code == 3
    assert committed_calc(repo, outcome.run_id) == CALC_BUGGY
    [ensemble] = events(repo, outcome.run_id, "ensemble")
    assert ensemble["reason"].startswith("no candidate passed gate quality, kept the first")


def test_without_a_gate_a_judge_model_picks_among_the_candidates_diffs(repo: Path) -> None:
    name = add_workflow(repo, "judged", build_then(None, best_of={"n": 2, "judge": "critic"}), autonomy="L4")
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_BUGGY), finish("v1"),
                                         call("write_file", path="calc.py", content=CALC_FIXED), finish("v2")]},
                            name="builder")
    judge = ScriptedModel({"critic": [call("pick", candidate=2, reason="subtracts; has a docstring")]}, name="judge")
    outcome = run(repo, name, bind(builder=builder, critic=judge))

    assert outcome.exit_code == 0, outcome.message
    packet = judge.calls[0].messages[-1]["content"]
    assert "## Candidate 1" in packet and "## Candidate 2" in packet and "+    return a - b" in packet
    assert committed_calc(repo, outcome.run_id) == CALC_FIXED
    build = [r for r in decisions(repo, outcome.run_id) if r["persona"] == "builder"]
    assert "judge critic picked candidate 2" in build[0]["reason"]


def test_a_speculative_builder_refines_the_draft_only_when_its_gate_fails(repo: Path) -> None:
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump(LADDER))
    name = add_workflow(repo, "spec", build_then(QUALITY, routing="speculative"), {"tests": QUALITY}, autonomy="L4")
    cheap = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_BUGGY), finish("draft")]},
                          name="cheap")
    strong = ScriptedModel({"builder": [call("read_file", path="calc.py"),
                                        call("write_file", path="calc.py", content=CALC_FIXED), finish("refined")]},
                           name="strong")
    register_scripted(cheap), register_scripted(strong)
    outcome = run(repo, name, {})

    assert outcome.exit_code == 0, outcome.message
    assert "Draft to refine" in strong.calls[0].messages[-1]["content"]
    assert "def subtract(a, b):\n    return a + b" in strong.calls[1].messages[-1]["content"]  # works on the draft
    assert committed_calc(repo, outcome.run_id) == CALC_FIXED
    assert decisions(repo, outcome.run_id)[0]["chosen"] == "scripted/strong"


def test_a_speculative_draft_that_passes_never_calls_the_verifier(repo: Path) -> None:
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump(LADDER))
    name = add_workflow(repo, "spec", build_then(QUALITY, routing="speculative"), {"tests": QUALITY}, autonomy="L4")
    cheap = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("draft")]},
                          name="cheap")
    strong = ScriptedModel({}, name="strong")
    register_scripted(cheap), register_scripted(strong)
    outcome = run(repo, name, {})

    assert outcome.exit_code == 0, outcome.message
    assert strong.calls == []
    assert decisions(repo, outcome.run_id)[0]["chosen"] == "scripted/cheap"


DOCSTRING = {"clause": "DoD: docstring", "severity": "major", "description": "subtract lacks a docstring"}


def test_parallel_critics_keep_the_verdict_the_gate_upholds(repo: Path) -> None:
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump(
        {**LADDER, "roles": {"critic": "high_throughput"}}))
    steps = [{"id": "build", "persona": "builder", "next": "review"},
             {"id": "review", "type": "gate", "gate": "review", "on_pass": "end", "on_fail": "stop"}]
    name = add_workflow(repo, "critics", steps, {"review": {"kind": "review", "critics": ["critic"]}}, autonomy="L4")
    flow = repo / ".orchestrator" / "workflows" / f"{name}.yaml"
    data = yaml.safe_load(flow.read_text())
    data["routing"] = {"personas": {"critic": {"strategy": "parallel"}}}
    flow.write_text(yaml.safe_dump(data, sort_keys=False))
    add_file(repo, "NOTES.md", "critics\n")
    # The cheap critic passes the work while listing a major violation: the gate's checks don't uphold that.
    cheap = ScriptedModel({"critic": [verdict("pass", DOCSTRING)]}, name="cheap")
    strong = ScriptedModel({"critic": [verdict("pass")]}, name="strong")
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("done")]},
                            name="builder")
    register_scripted(cheap), register_scripted(strong)
    outcome = run(repo, name, bind(builder=builder))

    assert outcome.exit_code == 0, outcome.message
    [review] = [p for p in outcome.phases if p["step"] == "review" and p["persona"] == "critic"]
    assert review["model"] == "scripted/strong" and review["model_calls"] == 2
    critic = [r for r in decisions(repo, outcome.run_id) if r["persona"] == "critic"][0]
    assert critic["chosen"] == "scripted/strong" and "verdict of scripted/strong upheld" in critic["reason"]
    assert [(c["model"], c["upheld"]) for c in events(repo, outcome.run_id, "candidate")] == [
        ("scripted/cheap", False), ("scripted/strong", True)]


@pytest.mark.parametrize(("build", "message"), [
    ({"routing": "speculative", "next": "end"}, "speculative routing verifies the draft with the gate after"),
    ({"best_of": 2, "for_each": "pbi"}, "can't use for_each: pbi"),
    ({"best_of": 2, "deliverable": "spec"}, "can't use deliverable: spec"),
    ({"best_of": 2, "routing": "speculative"}, "best_of and speculative routing both pick"),
])
def test_validate_refuses_ensembles_with_nothing_to_judge(repo: Path, build: dict, message: str) -> None:
    steps = [{"id": "build", "persona": "builder", "next": "quality", **build},
             {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "stop"}]
    if build.get("next") == "end":
        steps = steps[:1]
    name = add_workflow(repo, "refused", steps, {"tests": QUALITY} if len(steps) > 1 else {})
    with pytest.raises(WorkflowValidationError, match=message):
        run(repo, name, {})


def test_best_of_shorthand_and_bounds() -> None:
    from orchestrator.workflow.spec import AgentStepSpec

    step = AgentStepSpec.model_validate({"id": "b", "persona": "builder", "best_of": 3})
    assert step.best_of is not None and (step.best_of.n, step.best_of.temperature) == (3, 0.7)
    with pytest.raises(ValueError, match="greater than 0"):
        AgentStepSpec.model_validate({"id": "b", "persona": "builder", "best_of": {"n": 2, "temperature": 0}})


def test_a_best_of_2_tester_keeps_the_tests_the_red_gate_passes(repo: Path) -> None:
    steps = [{"id": "write_tests", "persona": "tester", "deliverable": "tests", "best_of": 2, "next": "red"},
             {"id": "red", "type": "gate", "gate": "red", "on_pass": "end", "on_fail": "stop"}]
    name = add_workflow(repo, "red-best-of", steps, {"red": {"kind": "red"}}, autonomy="L4")
    passing_already = "from calc import add\n\n\ndef test_add_again():\n    assert add(1, 1) == 2\n"
    red = "from calc import subtract\n\n\ndef test_subtract_small():\n    assert subtract(3, 1) == 2\n"
    tester = ScriptedModel({"tester": [call("write_file", path="tests/test_add_again.py", content=passing_already),
                                       finish("t1"),
                                       call("write_file", path="tests/test_subtract_small.py", content=red),
                                       finish("t2")]}, name="tester")
    outcome = run(repo, name, bind(tester=tester))

    assert outcome.exit_code == 0, outcome.message
    files = git(repo, "ls-tree", "-r", "--name-only", f"orchestrator/{outcome.run_id}", "tests").split()
    assert "tests/test_subtract_small.py" in files and "tests/test_add_again.py" not in files
    assert [c["verdict"] for c in events(repo, outcome.run_id, "candidate")] == ["fail", "pass"]
