"""`tests_from_task`: a tests step whose task states its own examples writes them as a test, with no model call.

`true` (a bug report): the examples come from `task_examples.stated_examples` (literal calls of the function the task
names, each with the literal value it should give); the function must be defined in the Python file the task names,
as it was at the run's base commit; the test replaces the persona's on the step's first visit.
`also` (a feature request): the examples come from `request_examples` (calls and results the request states, and that
the inputs stay unchanged when it says so); the task must name one Python file; the test is written on the first
visit beside the one the persona then writes.

The test goes to a new file, through the same worktree write as every orchestrator write (never through a link),
and is committed with the step's trailers as its own phase, so a resumed run reuses it.
"""

from __future__ import annotations

from typing import Any

from orchestrator.agents.packets import Handoff
from orchestrator.agents.worktree_files import write_text
from orchestrator.errors import SandboxViolation
from orchestrator.gates.changes import is_test
from orchestrator.run.context import RunContext
from orchestrator.run.records import PhaseRecord
from orchestrator.steps.code_step import new_test_file
from orchestrator.steps.relevant import base_text, named_files
from orchestrator.steps.request_examples import (
    EXAMPLES_FILE_SUFFIX,
    examples_test,
    inputs_stay_unchanged,
    request_examples,
)
from orchestrator.steps.task_examples import defines, module_name, reproduction_test, stated_examples
from orchestrator.steps.task_size import task_subject
from orchestrator.workflow.spec import AgentStepSpec

STATED_MODEL = "none (the task's own examples)"
"""What a phase row and its commit name as the model: no model wrote this test."""


def task_tests(ctx: RunContext, step: AgentStepSpec, key: str, listed: list[str], trailers: dict[str, str]
               ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """`tests_from_task` on a step's first visit: (the step's whole update when the task's examples replace the
    persona's test (`true`), else None; the phase rows of a test written beside the persona's (`also`))."""
    if step.tests_from_task == "also":
        row = request_tests(ctx, step, key, listed, trailers)
        return None, [row] if row else []
    return stated_tests(ctx, step, key, listed, trailers), []


def stated_tests(ctx: RunContext, step: AgentStepSpec, key: str, listed: list[str], trailers: dict[str, str]
                 ) -> dict[str, Any] | None:
    """The step's update when the task states examples of the function it names: the test written and committed;
    None when it states none (the persona then writes the test)."""
    found = _stated(ctx, listed)
    if found is None:
        return None
    path, asserts, text = found
    written = _write(ctx, step, key, path, asserts, text, trailers)
    if written is None:
        return None
    record, summary = written
    handoff = Handoff(step=key, persona=step.persona, summary=summary)
    return {"handoffs": {key: handoff.model_dump()}, "phases": [record]}


def request_tests(ctx: RunContext, step: AgentStepSpec, key: str, listed: list[str], trailers: dict[str, str]
                  ) -> dict[str, Any] | None:
    """The phase row of the test written from a feature request's stated examples (`tests_from_task: also`), or
    None when the request states none, names no single Python file, or a resumed run already wrote it."""
    phase = f"{key}.examples"
    sources = [p for p in named_files(listed, ctx.task) if p.endswith(".py") and not is_test(p)]
    function = task_subject(ctx.task)
    if not function or len(sources) != 1 or ctx.workspace.phase_commit(f"{phase}#1") is not None:
        return None
    examples = request_examples(ctx.task, function)
    if not examples:
        return None
    unchanged = inputs_stay_unchanged(ctx.task, function)
    text = examples_test(module_name(sources[0]), function, examples, unchanged)
    asserts = [f"{e.call} raises {e.raises}" if e.raises else f"{e.call} == {e.expected}" for e in examples]
    asserts += ["the arguments stay unchanged"] * ("leaves_its_arguments_unchanged" in text)
    path = new_test_file(listed, ctx.task, sources, stem=function + EXAMPLES_FILE_SUFFIX.removesuffix(".py"))
    written = _write(ctx, step, phase, path, asserts, text, {**trailers, "Orchestrator-Phase": f"{phase}#1"})
    return written[0] if written else None


def _write(ctx: RunContext, step: AgentStepSpec, key: str, path: str, asserts: list[str], text: str,
           trailers: dict[str, str]) -> tuple[dict[str, Any], str] | None:
    """Write and commit the test, and log it: (its phase row, a summary of what it checks); None when the path
    leads out of the worktree (a tests folder that is a link out): nothing is written, the persona is asked."""
    try:
        write_text(ctx.workspace.path, path, text)
    except SandboxViolation as refused:
        ctx.event("tests_from_task_refused", key, step.persona, path=path, reason=str(refused))
        return None
    ctx.workspace.adopt([path])
    ctx.event("tests_from_task", key, step.persona, path=path, asserts=asserts)
    summary = f"Wrote {path} from the examples the task states: " + "; ".join(asserts)
    commit = ctx.workspace.commit(f"orchestrator: {key} ({step.persona})", {**trailers, "Model": STATED_MODEL},
                                  body=summary, authored_only=True) if step.commit else None
    record = PhaseRecord(step=key, persona=step.persona, model=STATED_MODEL, verdict="done", commit=commit,
                         reason="the test holds the task's own examples; no model call").row()
    ctx.event("phase_end", key, step.persona, **{k: v for k, v in record.items() if k not in ("step", "persona")})
    return record, summary


def _stated(ctx: RunContext, listed: list[str]) -> tuple[str, list[str], str] | None:
    """(test path, asserts, test text) when the task states examples of a function its named file defines."""
    function = task_subject(ctx.task)
    sources = [p for p in named_files(listed, ctx.task) if p.endswith(".py")]
    if not function or len(sources) != 1 or not defines(base_text(ctx.workspace, sources[0]) or "", function):
        return None
    examples = stated_examples(ctx.task, function)
    if not examples:
        return None
    path = new_test_file(listed, ctx.task, sources)
    asserts = [f"{e.call} == {e.expected}" for e in examples]
    return path, asserts, reproduction_test(module_name(sources[0]), function, examples)
