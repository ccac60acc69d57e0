"""`tests_from_task`: a tests step whose task states its own examples writes them as the test, with no model call.

The examples come from `task_examples.stated_examples` (literal calls of the function the task names, each with the
literal value it should give); the function must be defined in the Python file the task names, as it was at the
run's base commit. The test goes to a new file, through the same worktree write as every orchestrator write
(never through a link), and the phase is committed with the step's trailers, so a resumed run reuses it.
"""

from __future__ import annotations

from typing import Any

from orchestrator.agents.packets import Handoff
from orchestrator.agents.worktree_files import write_text
from orchestrator.run.context import RunContext
from orchestrator.run.records import PhaseRecord
from orchestrator.steps.code_step import new_test_file
from orchestrator.steps.relevant import base_text, named_files
from orchestrator.steps.task_examples import Example, defines, module_name, reproduction_test, stated_examples
from orchestrator.steps.task_size import task_subject
from orchestrator.workflow.spec import AgentStepSpec

STATED_MODEL = "none (the task's own examples)"
"""What a phase row and its commit name as the model: no model wrote this test."""


def stated_tests(ctx: RunContext, step: AgentStepSpec, key: str, listed: list[str], trailers: dict[str, str]
                 ) -> dict[str, Any] | None:
    """The step's update when the task states examples of the function it names: the test written and committed;
    None when it states none (the persona then writes the test)."""
    found = _stated(ctx, listed)
    if found is None:
        return None
    path, examples, text = found
    write_text(ctx.workspace.path, path, text)
    ctx.workspace.adopt([path])
    asserts = [f"{e.call} == {e.expected}" for e in examples]
    ctx.event("tests_from_task", key, step.persona, path=path, asserts=asserts)
    summary = f"Wrote {path} from the examples the task states: " + "; ".join(asserts)
    commit = ctx.workspace.commit(f"orchestrator: {key} ({step.persona})", {**trailers, "Model": STATED_MODEL},
                                  body=summary, authored_only=True) if step.commit else None
    record = PhaseRecord(step=key, persona=step.persona, model=STATED_MODEL, verdict="done", commit=commit,
                         reason="the test holds the task's own examples; no model call").row()
    ctx.event("phase_end", key, step.persona, **{k: v for k, v in record.items() if k not in ("step", "persona")})
    handoff = Handoff(step=key, persona=step.persona, summary=summary)
    return {"handoffs": {key: handoff.model_dump()}, "phases": [record]}


def _stated(ctx: RunContext, listed: list[str]) -> tuple[str, list[Example], str] | None:
    """(test path, examples, test text) when the task states examples of a function its named file defines."""
    function = task_subject(ctx.task)
    sources = [p for p in named_files(listed, ctx.task) if p.endswith(".py")]
    if not function or len(sources) != 1 or not defines(base_text(ctx.workspace, sources[0]) or "", function):
        return None
    examples = stated_examples(ctx.task, function)
    if not examples:
        return None
    path = new_test_file(listed, ctx.task, sources)
    return path, examples, reproduction_test(module_name(sources[0]), function, examples)
