"""What each kind of agent step must leave behind, checked in the worktree: the step fails without it."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.gates.changes import is_spec, is_test
from orchestrator.run.context import RunContext

MISSING = {
    "tests": "a new or changed test file (write_file tests/test_<name>.py)",
    "source": "a change to a source file (edit or write_file the module the task names)",
    "spec": "a spec submitted with submit_spec",
}
"""Per deliverable, what a step that lacks it is told (and what its failure says)."""


def deliverable_check(ctx: RunContext, kind: str, scope: list[str] | None = None) -> Callable[[], str]:
    """A check of the step's deliverable: "" once it exists in the worktree, else what is still missing."""
    def missing() -> str:
        if kind not in ("tests", "source"):
            return ""
        # Pending files the tools wrote are this phase's own changes: earlier phases have committed theirs, and
        # what a test run made is not the agent's work.
        files = [p for p in ctx.workspace.pending_files(scope, authored_only=True) if not is_spec(p)]
        found = [p for p in files if is_test(p)] if kind == "tests" else [p for p in files if not is_test(p)]
        return "" if found else MISSING[kind]
    return missing
