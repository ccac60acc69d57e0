"""`edit_format: code`: the agent step whose model answers with code blocks, and the file they go to."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from orchestrator.agents.code_loop import CodeReplyLoop
from orchestrator.gates.changes import is_test, run_changes, spec_text
from orchestrator.run.context import RunContext
from orchestrator.steps.deliverables import deliverable_check
from orchestrator.steps.pbis import PbiSpec
from orchestrator.steps.relevant import base_text, working_files
from orchestrator.steps.request_examples import EXAMPLES_FILE_SUFFIX
from orchestrator.steps.task_size import task_subject
from orchestrator.workflow.spec import AgentStepSpec

MAX_CODE_TURNS = 3
"""Each turn is a whole reply (the code, not one tool call): three is the step's cap, or its own if lower."""


def code_loop(ctx: RunContext, step: AgentStepSpec, persona: Any, model: str, toolbox: Any,
              decision: int | None, failovers: list[str], pbi: PbiSpec | None) -> CodeReplyLoop:
    """The step's code-reply loop: the step's toolbox writes, the run's caller calls, the run log hears."""
    scope = pbi.scope if pbi else step.scope
    listed = toolbox.all_files()
    sources, target = code_targets(ctx, step.deliverable, listed)
    cap = step.max_tool_calls or ctx.spec.settings.max_tool_calls
    return CodeReplyLoop(
        complete=ctx.caller(step.id, decision, failovers), model=model, persona=persona.name,
        system_prompt=code_system_prompt(persona), toolbox=toolbox, deliverable_kind=step.deliverable, target=target,
        allowed=sources, max_turns=min(cap, MAX_CODE_TURNS), subject=task_subject(ctx.task),
        deliverable=deliverable_check(ctx, step.deliverable, scope),
        on_tool_call=ctx.tool_logger(step.id, persona.name))


def code_system_prompt(persona: Any) -> str:
    """The persona's goal and boundaries: its guidelines and hand-off name tools this step doesn't offer."""
    boundaries = "".join(f"\n- {item}" for item in persona.boundaries)
    return f"You are the {persona.name} in a software team. Goal: {persona.goal}" + \
        (f"\n\nBoundaries:{boundaries}" if boundaries else "")


def code_targets(ctx: RunContext, kind: str, listed: list[str]) -> tuple[list[str], str]:
    """(the source files the task and spec name, the file a block that names none goes to).

    Source: the first named source file (else the first Python file outside the tests). Tests: the test file an
    earlier round of the run created (not the one of the task's stated examples), else a new one named after the
    task's first called name (`subtract(` gives tests/test_subtract.py), never one the repo had."""
    text = f"{ctx.task}\n{spec_text(ctx.workspace)}"
    run_tests = list(run_changes(ctx.workspace).tests)
    sources, _ = working_files(ctx.workspace.path, listed, text, run_tests)
    if kind == "source":
        return sources, source_target(sources, listed)
    # A later round rewrites the test file an earlier one created (measured 2026-12-07, bench_team's mean_bug: the
    # second round's file came beside the first, whose test asserting the bug's value kept the red gate failing).
    # The test written from a feature request's stated examples is not the tester's to rewrite.
    own = [p for p in run_tests if p.endswith(".py") and base_text(ctx.workspace, p) is None
           and not p.endswith(EXAMPLES_FILE_SUFFIX)]
    return [], own[0] if own else new_test_file(listed, ctx.task, sources)


def source_target(sources: list[str], listed: list[str]) -> str:
    """The file a source block that names none goes to: the first Python file of `sources`, else of `listed`
    outside the tests, else main.py (never a README the task names: a python block would replace it whole)."""
    fallback = [p for p in listed if p.endswith(".py") and not is_test(p)]
    return ([p for p in sources if p.endswith(".py")] or fallback or ["main.py"])[0]


def new_test_file(listed: list[str], task: str, sources: list[str], stem: str = "") -> str:
    """A test path that doesn't exist yet, in the folder the repo keeps its tests in (named after `stem`, else the
    task's function or its first source file)."""
    stem = stem or task_subject(task) or (PurePosixPath(sources[0]).stem if sources else "task")
    folders = [str(PurePosixPath(p).parent) for p in listed if is_test(p)]
    folder = "tests" if "tests" in folders or not folders else folders[0]
    name = f"test_{stem.lower()}"
    candidate, n = (PurePosixPath(folder) / f"{name}.py").as_posix(), 2
    while candidate in listed:
        candidate, n = (PurePosixPath(folder) / f"{name}_{n}.py").as_posix(), n + 1
    return candidate
