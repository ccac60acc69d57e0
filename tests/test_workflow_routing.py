"""Routing inside runs: cascade after a failed gate, pinned mode, the decision log, and the real dispatcher."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from flows import CALC_FIXED, QUALITY, add_file, add_workflow, bind, decisions, run
from scripts import CALC_BUGGY, call, finish, verdict

from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.store.log import RunLog

LADDER = {"profiles": {"high_throughput": ["scripted/cheap"], "high_reasoning": ["scripted/strong"]},
          "ladder": ["high_throughput", "high_reasoning"], "roles": {"builder": "high_reasoning"}}
BUILD_QUALITY = [{"id": "build", "persona": "builder", "next": "quality", "task_type": "code"},
                 {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "build",
                  "max_rounds": 2}]



def test_cascade_starts_cheap_and_escalates_after_a_failed_gate(repo: Path) -> None:
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump(LADDER))
    name = add_workflow(repo, "cascading", BUILD_QUALITY, {"tests": QUALITY}, autonomy="L4")
    flow = repo / ".orchestrator" / "workflows" / f"{name}.yaml"
    data = yaml.safe_load(flow.read_text())
    data["routing"] = {"personas": {"builder": "cascade"}}
    flow.write_text(yaml.safe_dump(data, sort_keys=False))
    add_file(repo, "README.md", "routing test\n")  # commits the edited workflow too
    cheap = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_BUGGY), finish("cheap try")]},
                          name="cheap")
    strong = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("fixed")]},
                           name="strong")
    register_scripted(cheap), register_scripted(strong)
    outcome = run(repo, name, {})

    assert outcome.exit_code == 0, outcome.message
    assert [p["model"] for p in outcome.phases if p["step"] == "build"] == ["scripted/cheap", "scripted/strong"]
    rows = decisions(repo, outcome.run_id)
    assert [(r["strategy"], r["chosen"], r["gate_outcome"]) for r in rows] == [
        ("cascade", "scripted/cheap", "fail"), ("cascade", "scripted/strong", "pass")]
    assert rows[1]["reason"].startswith("cascade: escalated high_throughput -> high_reasoning")
    first = rows[0]
    assert first["run_id"] == outcome.run_id and first["step"] == "build" and first["persona"] == "builder"
    assert first["candidates"] == ["scripted/cheap"] and first["latency_us"] > 0
    assert first["features"]["task_type"] == "code" and len(first["prompt_hash"]) == 16
    assert first["tokens"] > 0 and first["gate"] == "quality"
    # Typical latency, learned from the logged calls (no state file: concurrent runs add up).
    learned = {model for model, _ in RunLog(repo / ".git" / "orchestrator" / "runs.sqlite").recent_latencies()}
    assert {"scripted/cheap", "scripted/strong"} <= learned


def test_pinned_mode_puts_every_role_on_one_model_and_logs_sampling(repo: Path) -> None:
    steps = [{"id": "build", "persona": "builder", "next": "review"},
             {"id": "review", "type": "gate", "gate": "review", "on_pass": "end", "on_fail": "build",
              "max_rounds": 1}]
    name = add_workflow(repo, "pinned", steps, {"review": {"kind": "review", "critics": ["critic"]}}, autonomy="L4")
    audited = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("done")],
                             "critic": [verdict("pass")]}, name="audited")
    other = ScriptedModel({}, name="other")
    from orchestrator.runner import RunOptions, start_run

    outcome = start_run(RunOptions(workflow=name, repo=repo, task="t", approve="auto", pin=register_scripted(audited),
                                   model_overrides=bind(builder=other, critic=other)))
    assert outcome.exit_code == 0, outcome.message
    assert {p["model"] for p in outcome.phases if p["model"] != "-"} == {"scripted/audited"}
    assert other.calls == []
    assert {r["strategy"] for r in decisions(repo, outcome.run_id)} == {"pinned"}
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    calls = log.calls(outcome.run_id)
    log.close()
    assert calls and all(c["provider_model_version"] for c in calls) and all(c["sampling"] for c in calls)


def test_pin_covers_the_moderator_with_its_own_decision_row(repo: Path) -> None:
    # The moderator used to call its bound model directly: no routing decision, and --pin didn't hold for it.
    add_file(repo, ".orchestrator/personas/security_critic.yaml",
             "goal: Review the diff for unsafe input handling.\ntools: [read_file, git_diff]\n")
    steps = [{"id": "build", "persona": "builder", "next": "review"},
             {"id": "review", "type": "gate", "gate": "review", "on_pass": "end", "on_fail": "build",
              "max_rounds": 1}]
    gates = {"review": {"kind": "review", "critics": ["critic", "security_critic"], "moderator": "moderator"}}
    name = add_workflow(repo, "pinned_moderator", steps, gates, autonomy="L4")
    audited = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("done")],
                             "critic": [verdict("pass")], "security_critic": [verdict("pass")],
                             "moderator": [verdict("pass")]}, name="audited")
    bound = ScriptedModel({}, name="bound")  # what every role (the moderator included) is bound to
    from orchestrator.runner import RunOptions, start_run

    outcome = start_run(RunOptions(workflow=name, repo=repo, task="t", approve="auto", pin=register_scripted(audited),
                                   model_overrides=bind(builder=bound, critic=bound, security_critic=bound,
                                                        moderator=bound)))
    assert outcome.exit_code == 0, outcome.message
    assert bound.calls == [] and [c.persona for c in audited.calls].count("moderator") == 1
    rows = [r for r in decisions(repo, outcome.run_id) if r["persona"] == "moderator"]
    assert len(rows) == 1 and rows[0]["strategy"] == "pinned" and rows[0]["chosen"] == "scripted/audited"
    assert rows[0]["tokens"] > 0  # the moderator's spend is booked on its own decision


@pytest.mark.local_model
def test_dispatcher_on_the_embedded_model_makes_a_valid_allowed_choice(repo: Path) -> None:
    steps = [{"id": "triage", "type": "dispatch", "persona": "dispatcher", "description":
              "The review failed: subtract lacks a docstring. Fix the code, revise the spec, or escalate.",
              "choices": ["build", "spec", "escalate"], "default": "spec"},
             {"id": "build", "persona": "builder", "next": "end"},
             {"id": "spec", "persona": "spec_writer", "next": "end"},
             {"id": "escalate", "persona": "critic", "next": "end"}]
    name = add_workflow(repo, "triage", steps, autonomy="L4")
    done = ScriptedModel({p: [finish("ok")] for p in ("builder", "spec_writer", "critic")}, name="done")
    outcome = run(repo, name, bind(builder=done, spec_writer=done, critic=done))  # dispatcher: local/smollm2
    assert outcome.exit_code == 0, outcome.message
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    [event] = log.events(outcome.run_id, "dispatch")
    [dispatch_call] = [c for c in log.calls(outcome.run_id) if c["persona"] == "dispatcher"]
    log.close()
    assert dispatch_call["model"] == "local/smollm2" and dispatch_call["completion_tokens"] > 0
    assert event["data"]["fallback"] is None, event["data"]
    assert event["data"]["chosen"] in ("build", "spec", "escalate") and event["data"]["reason"]


def test_a_provider_outage_fails_over_along_the_profile_and_is_logged(repo: Path) -> None:
    from orchestrator.models import gateway
    from orchestrator.models.providers.scripted import FunctionModel

    litellm = gateway.load_litellm()
    outage = litellm.ServiceUnavailableError("overloaded", llm_provider="openai", model="gpt-4o-mini")

    def down(messages, tools, persona):
        raise outage

    down_id = register_scripted(FunctionModel(down, name="down"))
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump({
        "profiles": {"high_throughput": [down_id, "scripted/up"]}, "roles": {"builder": "high_throughput"}}))
    name = add_workflow(repo, "outage", [{"id": "build", "persona": "builder", "next": "end"}], autonomy="L4")
    up = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("done")]},
                       name="up")
    register_scripted(up)
    outcome = run(repo, name, {})
    assert outcome.exit_code == 0, outcome.message
    assert len(up.calls) == 2
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    failovers = [e["data"] for e in log.events(outcome.run_id, "failover")]
    calls = {c["model"] for c in log.calls(outcome.run_id)}
    log.close()
    assert failovers[0] == {"model": down_id, "error": "ServiceUnavailableError", "next_model": "scripted/up"}
    assert calls == {"scripted/up"}


TRIAGE = [{"id": "triage", "type": "dispatch", "persona": "dispatcher", "choices": ["build", "spec"],
           "default": "spec"},
          {"id": "build", "persona": "builder", "next": "end"},
          {"id": "spec", "persona": "spec_writer", "next": "end"}]


LADDERED = {"profiles": {"cheapest": ["scripted/cheap"], "high_reasoning": ["scripted/strong"]},
            "ladder": ["cheapest", "high_reasoning"], "roles": {"dispatcher": "cheapest"}}


def _triage_repo(repo: Path, routing: dict, models: dict = LADDERED) -> str:
    """A dispatch-only workflow whose dispatcher uses `routing`, with `models` as the repo's registry."""
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump(models))
    name = add_workflow(repo, "triage", TRIAGE, autonomy="L4")
    flow = repo / ".orchestrator" / "workflows" / f"{name}.yaml"
    data = yaml.safe_load(flow.read_text())
    data["routing"] = {"personas": {"dispatcher": routing}}
    flow.write_text(yaml.safe_dump(data, sort_keys=False))
    add_file(repo, "NOTES.md", "triage\n")
    return name


def _events(repo: Path, run_id: str, kind: str) -> list[dict]:
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    try:
        return [e["data"] for e in log.events(run_id, kind)]
    finally:
        log.close()


def test_parallel_dispatch_keeps_the_answer_that_passes_the_gate(repo: Path) -> None:
    one_profile = {"profiles": {"cheapest": ["scripted/cheap", "scripted/strong"]}, "roles": {"dispatcher": "cheapest"}}
    name = _triage_repo(repo, {"strategy": "parallel", "parallel": {"n": 2}}, one_profile)
    cheap = ScriptedModel({"dispatcher": [call("escalate", reason="not allowed here")]}, name="cheap")
    strong = ScriptedModel({"dispatcher": [call("build", reason="the code is wrong")]}, name="strong")
    builder = ScriptedModel({"builder": [finish("built")]}, name="builder")
    register_scripted(cheap), register_scripted(strong)
    outcome = run(repo, name, bind(builder=builder))
    assert outcome.exit_code == 0, outcome.message
    assert len(cheap.calls) == 1 and len(strong.calls) == 1  # both asked, in parallel
    [dispatch] = _events(repo, outcome.run_id, "dispatch")
    assert dispatch["chosen"] == "build" and dispatch["fallback"] is None
    assert _events(repo, outcome.run_id, "ensemble")[0]["reason"] == "gate passed scripted/strong"
    [decision] = [r for r in decisions(repo, outcome.run_id) if r["persona"] == "dispatcher"]
    assert decision["chosen"] == "scripted/strong"  # the decision names the model whose answer won


def test_speculative_dispatch_refines_only_a_draft_that_fails(repo: Path) -> None:
    name = _triage_repo(repo, {"strategy": "speculative"})
    cheap = ScriptedModel({"dispatcher": [call("escalate", reason="draft")]}, name="cheap")
    strong = ScriptedModel({"dispatcher": [call("spec", reason="the spec misses a case")]}, name="strong")
    writer = ScriptedModel({"spec_writer": [finish("revised")]}, name="writer")
    register_scripted(cheap), register_scripted(strong)
    outcome = run(repo, name, bind(spec_writer=writer))
    assert outcome.exit_code == 0, outcome.message
    [dispatch] = _events(repo, outcome.run_id, "dispatch")
    assert dispatch["chosen"] == "spec" and dispatch["fallback"] is None
    assert "failed verification" in _events(repo, outcome.run_id, "ensemble")[0]["reason"]
    assert "disallowed choice 'escalate'" in str(strong.calls[0].messages[-1]["content"])
