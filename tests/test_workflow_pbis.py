"""PBIs: the spec writer splits the spec; builders work in each PBI's file scope, disjoint scopes in parallel."""

from __future__ import annotations

import threading
from pathlib import Path

from conftest import git
from flows import add_workflow, bind, run
from scripts import SPEC_DRAFT, call, finish

from orchestrator.models.providers.scripted import FunctionModel, ScriptedModel
from orchestrator.steps.pbis import PbiSpec, check_pbis, next_wave, scopes_overlap

PBIS = [
    {"id": "calc", "directive": "Add subtract to calc.py", "scope": ["calc.py"], "checklist": ["subtract works"]},
    {"id": "strings", "directive": "Add shout to strings.py", "scope": ["strings.py"]},
    {"id": "docs", "directive": "Document subtract", "scope": ["docs/**"], "depends_on": ["calc"]},
]



def test_waves_respect_dependencies_and_disjoint_scopes() -> None:
    pbis = [PbiSpec(**p) for p in PBIS]
    assert [p.id for p in next_wave(pbis, set())] == ["calc", "strings"]
    assert [p.id for p in next_wave(pbis, {"calc", "strings"})] == ["docs"]
    overlapping = pbis + [PbiSpec(id="more", directive="x", scope=["calc.py", "extra.py"])]
    assert [p.id for p in next_wave(overlapping, set())] == ["calc", "strings"]
    assert scopes_overlap(["src/**"], ["src/a.py"]) and not scopes_overlap(["src/**"], ["tests/**"])
    assert check_pbis([*pbis, PbiSpec(id="x", directive="y", scope=["z"], depends_on=["nope"])]) == [
        "PBI 'x' depends on unknown 'nope'"]
    cycle = [PbiSpec(id="a", directive="a", scope=["a"], depends_on=["b"]),
             PbiSpec(id="b", directive="b", scope=["b"], depends_on=["a"])]
    assert check_pbis(cycle) == ["PBI dependency cycle among ['a', 'b']"]


def pbi_builder(barrier: threading.Barrier):
    """A builder that works from its packet's PBI; the first two PBIs must be in flight at the same time."""

    def reply(messages, tools, persona):
        packet = messages[1]["content"]
        if "PBI " not in packet:
            raise AssertionError(f"builder ran without a PBI: {packet[:800]}")
        pbi = packet.split("PBI ", 1)[1].split(":", 1)[0]
        turn = sum(1 for m in messages if m["role"] == "tool")
        if pbi in ("calc", "strings") and turn == 0:
            barrier.wait()  # raises BrokenBarrierError if the two PBIs ran one after another
        plan = {
            "calc": [call("write_file", path="strings.py", content="x = 1\n"),
                     call("write_file", path="calc.py", content="def add(a, b):\n    return a + b\n\n\n"
                                                                        "def subtract(a, b):\n    return a - b\n")],
            "strings": [call("write_file", path="strings.py", content="def shout(s):\n    return s.upper()\n")],
            "docs": [call("write_file", path="docs/subtract.md", content="subtract(a, b) returns a - b\n")],
        }[pbi] + [finish(f"{pbi} done")]
        return plan[turn]

    return reply


def test_pbis_run_in_scope_and_in_parallel(repo: Path) -> None:
    steps = [{"id": "spec", "persona": "spec_writer", "deliverable": "spec", "next": "build"},
             {"id": "build", "persona": "builder", "for_each": "pbi", "next": "end"}]
    name = add_workflow(repo, "pbis", steps, autonomy="L4")
    draft = {**SPEC_DRAFT, "domain": "subtract", "pbis": PBIS}
    writer = ScriptedModel({"spec_writer": [call("submit_spec", **draft)]}, name="writer")
    builder = FunctionModel(pbi_builder(threading.Barrier(2, timeout=20)), name="builder")
    outcome = run(repo, name, bind(spec_writer=writer, builder=builder))

    assert outcome.exit_code == 0, outcome.message
    phases = [p["step"] for p in outcome.phases]
    assert sorted(phases[1:3]) == ["build.calc", "build.strings"] and phases[3] == "build.docs"
    refusals = {m["content"] for c in builder.calls for m in c.messages
                if m["role"] == "tool" and m["content"].startswith("refused:")}
    assert len(refusals) == 1 and "strings.py" in refusals.pop()  # the calc PBI may not touch strings.py
    files = {}
    for sha in git(repo, "rev-list", f"main..{outcome.branch}").split():
        subject = git(repo, "log", "-1", "--format=%s", sha).strip()
        files[subject] = git(repo, "show", "--name-only", "--format=", sha).split()
    assert files["orchestrator: build.calc (builder)"] == ["calc.py"]
    assert files["orchestrator: build.strings (builder)"] == ["strings.py"]
    assert files["orchestrator: build.docs (builder)"] == ["docs/subtract.md"]
    assert sorted(files["orchestrator: spec (spec_writer)"]) == ["specs/subtract/pbis.yaml", "specs/subtract/spec.md"]
    assert git(repo, "show", f"{outcome.branch}:strings.py").startswith("def shout")
