"""Spec gate: no spec, no build. The run's spec needs its sections, scenarios that parse, and real content."""

from __future__ import annotations

from orchestrator.agents.worktree_files import read_text
from orchestrator.gates.changes import run_changes
from orchestrator.gates.result import GateResult
from orchestrator.gates.spec_content import names_something, scenario_problems, section_problems, vocabulary
from orchestrator.gates.spec_lint import lint_spec
from orchestrator.run.context import RunContext
from orchestrator.run.workspace import git
from orchestrator.workflow.spec import GateStepSpec
from orchestrator.workflow.state import RunState


def run_spec_gate(ctx: RunContext, step: GateStepSpec, state: RunState) -> GateResult:
    """Judge every spec.md this run wrote or changed; with none, the gate fails."""
    worktree = ctx.workspace.path
    texts = {p: read_text(worktree, p) for p in run_changes(ctx.workspace).specs if p.endswith("spec.md")}
    paths = [p for p, text in texts.items() if text is not None]  # a link out of the worktree is no spec
    if not paths:
        return GateResult(gate=step.id, kind="spec", verdict="fail", reasons=[
            "no spec: write specs/<domain>/spec.md with a Blueprint and a Contract before building"])
    words = spec_vocabulary(ctx, state)
    problems, scenarios = [], 0
    for path in paths:
        text = texts[path] or ""
        lint = lint_spec(text, path)
        scenarios += len(lint.scenarios)
        problems += lint.problems + section_problems(text, path) + scenario_problems(lint.scenarios, path)
        if words and not names_something(text, words):
            sample = ", ".join(sorted(words)[:6])
            problems.append(f"{path}: names nothing from the task or the code (e.g. {sample}); say which "
                            "functions, files or commands the change is about")
    if problems:
        return GateResult(gate=step.id, kind="spec", verdict="fail", reasons=problems)
    return GateResult(gate=step.id, kind="spec", verdict="pass",
                      reasons=[f"spec ok: {', '.join(paths)} with {scenarios} scenario(s)"])


def spec_vocabulary(ctx: RunContext, state: RunState) -> set[str]:
    """Words a spec of this task should use: identifiers of the task and survey map, and the repo's files."""
    survey = [h.get("summary", "") for h in state.get("handoffs", {}).values() if h.get("persona") == "surveyor"]
    files = git(ctx.workspace.path, "ls-files", check=False).split("\n")
    tracked = [f for f in files if f and not f.startswith(("specs/", ".orchestrator/"))]
    return vocabulary(ctx.task, *survey, files=tracked)
