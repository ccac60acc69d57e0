"""Autonomy levels: the approval steps each level adds, applied once, whatever gates the workflow declares."""

from __future__ import annotations

from pathlib import Path

from flows import CALC_FIXED, add_workflow, bind, run
from scripts import call, finish

from orchestrator.models.providers.scripted import ScriptedModel
from orchestrator.workflow.autonomy import ACCEPTANCE_GATE, apply_autonomy
from orchestrator.workflow.spec import WorkflowSpec

OWN_ACCEPTANCE = [{"id": "build", "persona": "builder", "next": "accept"},
                  {"id": "accept", "type": "gate", "gate": "human", "on_pass": "end", "on_fail": "build",
                   "max_rounds": 2}]


def _spec(level: str, steps: list[dict], gates: dict) -> WorkflowSpec:
    return WorkflowSpec.model_validate({"name": "w", "settings": {"autonomy": level}, "gates": gates,
                                        "steps": steps})


def test_l2_approves_each_committing_step_even_with_the_workflows_own_acceptance_gate() -> None:
    spec = apply_autonomy(_spec("L2", OWN_ACCEPTANCE, {"human": {"kind": "acceptance"}}))
    assert [s.id for s in spec.steps] == ["build", "build_approval", "accept"]  # no second sign-off
    assert spec.steps[0].next == "build_approval" and spec.steps[1].on_pass == "accept"


def test_applying_autonomy_twice_adds_nothing_more() -> None:
    once = apply_autonomy(_spec("L2", [{"id": "build", "persona": "builder", "next": "end"}], {}))
    assert [s.id for s in once.steps] == ["build", "build_approval", "sign_off"]
    assert apply_autonomy(once) == once and ACCEPTANCE_GATE in once.gates


def test_l3_keeps_the_workflows_own_acceptance_gate_as_its_sign_off() -> None:
    spec = _spec("L3", OWN_ACCEPTANCE, {"human": {"kind": "acceptance"}})
    assert apply_autonomy(spec) is spec


def test_an_l2_run_with_its_own_acceptance_gate_asks_after_the_build(repo: Path) -> None:
    name = add_workflow(repo, "l2_own", OWN_ACCEPTANCE, {"human": {"kind": "acceptance"}}, autonomy="L2")
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("v1")]},
                            name="builder")
    outcome = run(repo, name, bind(builder=builder))
    assert outcome.exit_code == 0, outcome.message
    assert [(g["gate"], g["verdict"]) for g in outcome.gates] == [("build_approval", "pass"), ("accept", "pass")]
