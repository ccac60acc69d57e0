"""Context gates, approvals, denial rules, escalation, budgets and monitors: scripted runs on real temp repos."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import git
from flows import CALC_FIXED, QUALITY, add_file, add_workflow, bind, run
from scripts import CALC_BUGGY, SPEC, TEST, call, finish, verdict

from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.runner import ResumeOptions, RunOptions, resume_run, start_run
from orchestrator.workflow.budget import BudgetSpec

BUILD_REVIEW = [{"id": "build", "persona": "builder", "next": "review"},
                {"id": "review", "type": "gate", "gate": "review", "on_pass": "end", "on_fail": "build",
                 "max_rounds": 1}]


def test_the_critics_first_turn_is_its_verdict_and_a_capped_review_says_so(repo: Path) -> None:
    # The shipped critic opens with submit_verdict only: its packet holds the scenarios, the diff and the gates.
    name = add_workflow(repo, "opening", BUILD_REVIEW, {"review": {"kind": "review", "critics": ["critic"]}},
                        autonomy="L4")
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("v1")]},
                            name="builder")
    critic = ScriptedModel({"critic": [verdict("pass")]}, name="critic")
    outcome = run(repo, name, bind(builder=builder, critic=critic))
    assert outcome.exit_code == 0, outcome.message
    assert [tool.name for tool in critic.calls[0].tools] == ["submit_verdict"]
    from orchestrator.gates.verdict import parse_verdict

    reason = "unusable verdict: the critic used all its tool calls without calling submit_verdict"
    assert parse_verdict(None, "", capped=True)[1] == reason



def test_a_steps_opening_replaces_the_personas_on_its_first_turn(repo: Path) -> None:
    # The bugfix workflow's fix step opens with edit (the builder persona opens with append_file, for features).
    steps = [{"id": "build", "persona": "builder", "opening": ["edit", "append_file"], "next": "end"}]
    name = add_workflow(repo, "fix_opening", steps, autonomy="L4")
    fix = call("edit", path="calc.py", search="    return a + b\n", replace="    return b + a\n")
    builder = ScriptedModel({"builder": [fix, finish("v1")]}, name="builder")
    outcome = run(repo, name, bind(builder=builder))
    assert outcome.exit_code == 0, outcome.message
    assert [tool.name for tool in builder.calls[0].tools] == ["edit", "append_file"]
    assert "return b + a" in git(repo, "show", f"{outcome.branch}:calc.py")

def test_two_critics_on_different_models_merged_by_the_moderator(repo: Path) -> None:
    add_file(repo, ".orchestrator/personas/security_critic.yaml",
             "goal: Review the diff for unsafe input handling.\ntools: [read_file, git_diff]\n")
    gates = {"review": {"kind": "review", "critics": ["critic", "security_critic"], "moderator": "moderator"}}
    name = add_workflow(repo, "two_critics", BUILD_REVIEW, gates, autonomy="L4")
    docstring = {"clause": "DoD: docstring", "severity": "major", "description": "subtract lacks a docstring"}
    types = {"clause": "Guardrails", "severity": "minor", "description": "subtract accepts strings"}
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_BUGGY), finish("v1"),
                                         call("write_file", path="calc.py", content=CALC_FIXED), finish("v2")]},
                            name="builder")
    critic_a = ScriptedModel({"critic": [verdict("fail", docstring), verdict("pass")]}, name="critic_a")
    critic_b = ScriptedModel({"security_critic": [verdict("fail", types), verdict("pass")]}, name="critic_b")
    merged = {"clause": "Merged", "severity": "major", "description": "add a docstring and reject strings"}
    moderator = ScriptedModel({"moderator": [verdict("fail", merged), verdict("pass")]}, name="moderator")
    outcome = run(repo, name, bind(builder=builder, critic=critic_a, security_critic=critic_b, moderator=moderator))

    assert outcome.exit_code == 0, outcome.message
    assert not [w for w in outcome.warnings if "critic and builder" in w]  # different models
    moderator_packet = moderator.calls[0].messages[1]["content"]
    assert "subtract lacks a docstring" in moderator_packet and "subtract accepts strings" in moderator_packet
    second_builder_packet = builder.calls[2].messages[1]["content"]
    assert "1. [major] Merged: add a docstring and reject strings" in second_builder_packet
    assert "subtract accepts strings" not in second_builder_packet  # one merged checklist, not two lists
    models = {p["persona"]: p["model"] for p in outcome.phases if p["step"] == "review" and p["persona"] != "-"}
    assert models == {"critic": "scripted/critic_a", "security_critic": "scripted/critic_b"}


def test_fix_round_cap_then_escalation_to_a_stronger_rung(repo: Path) -> None:
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump({
        "profiles": {"high_throughput": ["scripted/cheap"], "high_reasoning": ["scripted/strong"]},
        "ladder": ["high_throughput", "high_reasoning"],
        "roles": {"builder": "high_throughput"},
    }))
    steps = [{"id": "build", "persona": "builder", "next": "quality"},
             {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "build",
              "max_rounds": 1, "on_exhausted": "escalate"},
             {"id": "escalate", "type": "escalate", "persona": "builder", "next": "build"}]
    name = add_workflow(repo, "escalation", steps, {"tests": QUALITY}, autonomy="L4")
    cheap = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_BUGGY), finish("try 1"),
                                       finish("try 2: no idea")]}, name="cheap")
    strong = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("fixed")]},
                           name="strong")
    register_scripted(cheap), register_scripted(strong)
    outcome = run(repo, name, {})

    assert outcome.exit_code == 0, outcome.message
    builds = [p["model"] for p in outcome.phases if p["step"] == "build"]
    assert builds == ["scripted/cheap", "scripted/cheap", "scripted/strong"]
    escalation = [p for p in outcome.phases if p["step"] == "escalate"]
    assert escalation[0]["verdict"] == "scripted/cheap -> scripted/strong"
    assert len(strong.calls) == 2 and cheap.remaining() == 0


def test_escalation_at_the_top_of_the_ladder_goes_to_a_human(repo: Path) -> None:
    steps = [{"id": "build", "persona": "builder", "next": "quality"},
             {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "build",
              "max_rounds": 1, "on_exhausted": "escalate"},
             {"id": "escalate", "type": "escalate", "persona": "builder", "next": "build"}]
    name = add_workflow(repo, "no_ladder", steps, {"tests": QUALITY}, autonomy="L4")
    cheap = ScriptedModel({"builder": [finish("nothing"), finish("still nothing")]}, name="cheap")
    outcome = run(repo, name, bind(builder=cheap))
    assert outcome.exit_code == 3
    assert "escalated to a human: builder is at the top of the escalation ladder" in outcome.message


ACCEPT_FLOW = [{"id": "build", "persona": "builder", "next": "end"}]


def builder_replies(*rounds: str) -> list:
    replies = []
    for content in rounds:
        replies += [call("write_file", path="calc.py", content=content), finish("done")]
    return replies


def test_acceptance_approve_at_the_prompt(repo: Path) -> None:
    name = add_workflow(repo, "accept", ACCEPT_FLOW)
    builder = ScriptedModel({"builder": builder_replies(CALC_FIXED)}, name="b")
    asked: list[dict] = []
    outcome = start_run(RunOptions(workflow=name, repo=repo, task="t", model_overrides=bind(builder=builder),
                                   approve="ask"), ask=lambda p: asked.append(p) or {"decision": "approve"})
    assert outcome.exit_code == 0
    assert asked and asked[0]["step"] == "sign_off" and "calc.py" in asked[0]["diff_stat"]


def test_acceptance_reject_with_comment_becomes_builder_work(repo: Path) -> None:
    name = add_workflow(repo, "accept", ACCEPT_FLOW)
    builder = ScriptedModel({"builder": builder_replies(CALC_BUGGY, CALC_FIXED)}, name="b")
    answers = iter([{"decision": "reject", "comment": "subtract must subtract"}, {"decision": "approve"}])
    outcome = start_run(RunOptions(workflow=name, repo=repo, task="t", model_overrides=bind(builder=builder),
                                   approve="ask"), ask=lambda p: next(answers))
    assert outcome.exit_code == 0
    assert "A human reviewer rejected the work: subtract must subtract" in builder.calls[2].messages[1]["content"]


def test_resume_after_interrupt_with_a_rebound_role(repo: Path) -> None:
    name = add_workflow(repo, "accept", ACCEPT_FLOW)
    first = ScriptedModel({"builder": builder_replies(CALC_BUGGY)}, name="first")
    paused = start_run(RunOptions(workflow=name, repo=repo, task="t", model_overrides=bind(builder=first),
                                  approve="defer"))
    assert paused.exit_code == 4 and paused.pending["step"] == "sign_off"

    second = ScriptedModel({"builder": builder_replies(CALC_FIXED)}, name="second")
    rejected = resume_run(ResumeOptions(repo=repo, run_id=paused.run_id, model_overrides=bind(builder=second),
                                        decision={"decision": "reject", "comment": "wrong sign"}))
    assert rejected.exit_code == 4  # the rebound builder worked, and sign-off is asked again
    assert len(second.calls) == 2 and "wrong sign" in second.calls[0].messages[1]["content"]
    done = resume_run(ResumeOptions(repo=repo, run_id=paused.run_id, decision={"decision": "approve"}))
    assert done.exit_code == 0
    trailers = git(repo, "log", "--format=%(trailers:key=Model,valueonly,separator=%x2C)", f"main..{done.branch}")
    assert [t for t in trailers.split() if t] == ["scripted/second", "scripted/first"]


def test_builder_reasoning_never_reaches_the_critic(repo: Path) -> None:
    name = add_workflow(repo, "canary", BUILD_REVIEW, {"review": {"kind": "review", "critics": ["critic"]}},
                        autonomy="L4")
    canary = "CANARY-7f3a9"
    builder = ScriptedModel({"builder": [
        {"text": f"thinking: {canary} the user wants subtraction",
         "tool_calls": [{"name": "write_file", "arguments": {"path": "calc.py", "content": CALC_FIXED}}]},
        finish(f"done ({canary})")]}, name="builder")
    critic = ScriptedModel({"critic": [call("git_diff"), verdict("pass")]}, name="critic")
    outcome = run(repo, name, bind(builder=builder, critic=critic))
    assert outcome.exit_code == 0
    seen = "\n".join(str(m) for c in critic.calls for m in c.messages)
    assert "def subtract" in seen  # the critic did get the diff ...
    assert canary not in seen  # ... and nothing of the builder's reasoning or handoff
    flag = "behaviour change without spec change: calc.py changed, no file under specs/"
    assert flag in seen and outcome.flags == [flag]



def test_a_swapped_parameter_list_is_flagged_to_the_critic(repo: Path) -> None:
    # The 0.5B's bugfix "fix": subtract(b, a) passes every positional test and changes what keyword callers get.
    name = add_workflow(repo, "swap", BUILD_REVIEW, {"review": {"kind": "review", "critics": ["critic"]}},
                        autonomy="L4")
    swapped = CALC_FIXED.replace("def add(a, b):", "def add(b, a, *, c=0):")
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=swapped), finish("v1")]},
                            name="builder")
    critic = ScriptedModel({"critic": [verdict("pass")]}, name="critic")
    outcome = run(repo, name, bind(builder=builder, critic=critic))
    flag = ("parameters changed (callers that pass them by name or position now get other results): "
            "calc.py add(a, b) -> add(b, a, *, c)")
    assert flag in critic.calls[0].messages[1]["content"] and flag in outcome.flags


def test_a_review_on_the_model_that_wrote_the_code_is_flagged(repo: Path) -> None:
    # Bindings are checked before the run; routing (escalation, a cascade) can still put the builder on the
    # critic's model. The review compares the critics' models with the builders' commit trailers.
    name = add_workflow(repo, "shared", BUILD_REVIEW, {"review": {"kind": "review", "critics": ["critic"]}},
                        autonomy="L4")
    shared = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("v1")],
                            "critic": [verdict("pass")]}, name="shared")
    model = register_scripted(shared)
    outcome = run(repo, name, {"builder": model, "critic": model})
    flag = (f"critic reviewed on {model}, the model builder wrote code of this diff with: critic ≠ builder does "
            "not hold for this review")
    assert flag in outcome.flags
    # The user bound both to one model (the role policy warned before the run): flagged, and the pass stands.
    # A builder that climbed onto the critic's model is held to more (tests/test_builder_ladder.py).
    assert outcome.exit_code == 0
    apart = add_workflow(repo, "apart", BUILD_REVIEW, {"review": {"kind": "review", "critics": ["critic"]}},
                         autonomy="L4")
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("v1")]},
                            name="builder")
    outcome = run(repo, apart, bind(builder=builder, critic=ScriptedModel({"critic": [verdict("pass")]}, name="c")))
    assert not [f for f in outcome.flags if "critic ≠ builder" in f]

def test_spec_without_scenarios_stops_at_the_spec_gate(repo: Path) -> None:
    steps = [{"id": "spec", "persona": "spec_writer", "next": "spec_check"},
             {"id": "spec_check", "type": "gate", "gate": "spec", "on_pass": "build", "on_fail": "spec",
              "max_rounds": 1},
             {"id": "build", "persona": "builder", "next": "end"}]
    name = add_workflow(repo, "specgate", steps, {"spec": {"kind": "spec"}}, autonomy="L4")
    no_scenarios = SPEC.split("### Scenarios")[0]
    writer = ScriptedModel({"spec_writer": [call("write_file", path="specs/div/spec.md", content=no_scenarios),
                                            finish("spec"), finish("unchanged")]}, name="writer")
    builder = ScriptedModel({"builder": [finish("should never run")]}, name="builder")
    outcome = run(repo, name, bind(spec_writer=writer, builder=builder))
    assert outcome.exit_code == 3
    assert "gate 'spec_check' failed 2 times" in outcome.message
    assert builder.calls == []
    assert "missing section '### Scenarios'" in writer.calls[2].messages[1]["content"]


def test_denial_rules_are_enforced_by_the_tools(repo: Path) -> None:
    # A builder that may write tests (the shipped one may not), so every rule of the tool layer is reached.
    add_file(repo, ".orchestrator/personas/builder.yaml",
             "goal: Implement the task.\ntools: [write_file, edit, read_file]\n")
    steps = [{"id": "build", "persona": "builder", "next": "end", "scope": ["calc.py", "tests/**"]}]
    name = add_workflow(repo, "denials", steps, autonomy="L4")
    weakened = TEST.replace("assert subtract(5, 3) == 2", "assert True")
    builder = ScriptedModel({"builder": [
        call("write_file", path="util.py", content="x = 1\n"),
        call("edit", path="tests/test_subtract.py", search="assert subtract(5, 3) == 2", replace="assert True"),
        call("write_file", path="tests/test_subtract.py", content=weakened),
        call("write_file", path=".orchestrator/workflows/denials.yaml", content="name: x\nsteps: []\n"),
        call("write_file", path="tests/test_more.py", content="def test_more():\n    assert 1 + 1 == 2\n"),
        finish("done"),
    ]}, name="builder")
    outcome = run(repo, name, bind(builder=builder))
    assert outcome.exit_code == 0
    results = [m["content"] for m in builder.calls[-1].messages if m["role"] == "tool"]
    assert results[0].startswith("refused:") and "scope" in results[0]
    assert results[1].startswith("refused:") and "test_subtract_returns_difference" in results[1]
    assert results[2].startswith("refused:")
    assert results[3].startswith("refused:")
    assert not results[4].startswith("refused:")
    tree = git(repo, "ls-tree", "-r", "--name-only", outcome.branch).split()
    assert "tests/test_more.py" in tree and "util.py" not in tree
    assert git(repo, "show", f"{outcome.branch}:tests/test_subtract.py") == TEST


def test_dollar_budget_breach_stops_before_the_call_then_resume_completes(repo: Path) -> None:
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump({
        "models": {"scripted/pricey": {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}}}))
    name = add_workflow(repo, "budget", [{"id": "build", "persona": "builder", "next": "end"}], autonomy="L4")
    pricey = ScriptedModel({"builder": [
        {"tool": "write_file", "arguments": {"path": "calc.py", "content": CALC_FIXED},
         "usage": {"prompt_tokens": 900, "completion_tokens": 100}},
        {"tool": "finish", "arguments": {"summary": "done"}, "usage": {"prompt_tokens": 1000, "completion_tokens": 5}},
    ]}, name="pricey")
    register_scripted(pricey)
    # $2.5: the first call (its packet holds the persona's worked example) fits, the second cannot.
    stopped = run(repo, name, {"builder": "scripted/pricey"}, budget=BudgetSpec(usd=2.5))
    assert stopped.exit_code == 3
    assert len(pricey.calls) == 1  # the breaching second call was never made
    assert "run usd budget of $2.5000 would be exceeded: $1.1000 spent" in stopped.message

    done = resume_run(ResumeOptions(repo=repo, run_id=stopped.run_id, budget=BudgetSpec(usd=10.0)))
    assert done.exit_code == 0, done.message
    assert len(pricey.calls) == 2 and pricey.remaining() == 0  # the stopped step reran from its start


def test_l4_run_halted_by_its_gate_pass_rate_monitor(repo: Path) -> None:
    steps = [{"id": "build", "persona": "builder", "next": "quality"},
             {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "build",
              "max_rounds": 5}]
    name = add_workflow(repo, "monitored", steps, {"tests": QUALITY}, autonomy="L4",
                        monitor={"window": 2, "min_pass_rate": 0.5})
    builder = ScriptedModel({"builder": [finish("nothing")] * 6}, name="b")
    outcome = run(repo, name, bind(builder=builder))
    assert outcome.exit_code == 3
    assert outcome.message.startswith("L4 monitor: gate pass rate 0.00 over the last 2 gates")
    assert len(builder.calls) == 2
