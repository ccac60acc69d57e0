"""Retries that change something: a round after a failed gate that repeats the rejected deliverable is redone.

Measured 2026-12-07 (issue 21): after a failed spec gate the 1.5B spec writer submitted the same 1,340-token
spec twice, and the 0.5B builder ended rounds with the code the quality gate had just failed. A round that
repeats the rejected work (the same text, layout aside) costs minutes and changes nothing, so it is caught
here, once, before the gate: the work is undone and asked again at a higher temperature with the gate's
report last in the packet, and the run log says what changed (a `retry_changed` event).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.agents.loop import AgentResult
from orchestrator.run.context import RunContext
from orchestrator.workflow.spec import AgentStepSpec
from orchestrator.workflow.state import RunState

CHANGED_TEMPERATURE = 0.8
"""The changed attempt samples hot: the local models default to 0.2, where the same context gives the same work."""
REPORT_CHARS = 1500
KINDS = ("spec", "tests", "source")


@dataclass
class Retry:
    """What the repeat check did: the result to keep, every reply spent, and the deliverable's fingerprint (the
    run state keeps the hash of the whole normalised text, never a cut: a change past a cut is still a change)."""

    result: AgentResult
    replies: list[Any] = field(default_factory=list)
    deliverable: str = ""


def deliverable_text(ctx: RunContext, step: AgentStepSpec, result: AgentResult) -> str:
    """The step's deliverable as normalised text: the submitted spec, or the run's test or source files."""
    if step.deliverable == "spec":
        return spec_layout_free(result.final.arguments if result.final is not None else {})
    if step.deliverable not in ("tests", "source"):
        return ""
    from orchestrator.gates.changes import run_changes

    changes = run_changes(ctx.workspace)
    paths = changes.tests if step.deliverable == "tests" else changes.source
    root = ctx.workspace.path
    return code_layout_free("\n".join(f"# {p}\n{(root / p).read_text(errors='replace')}"
                                      for p in sorted(paths) if (root / p).is_file()))


# Near-identical means identical once layout that changes nothing is gone. A similarity ratio would not do: the fix
# of a sign (`a + b` to `a - b`) is 0.994 similar to the code it fixes (measured on the calc demo's files).
def spec_layout_free(arguments: dict[str, Any]) -> str:
    """A submitted spec as JSON, each of its strings with every run of whitespace made one space (none at the ends)."""
    return json.dumps(_squeezed(arguments), sort_keys=True, default=str)


def _squeezed(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, dict):
        return {key: _squeezed(item) for key, item in value.items()}
    return [_squeezed(item) for item in value] if isinstance(value, list) else value


def code_layout_free(text: str) -> str:
    """Code without trailing whitespace and blank lines; indentation stays, as it is meaning in Python."""
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


def changed_if_repeated(ctx: RunContext, step: AgentStepSpec, state: RunState, key: str,
                        first: Callable[[], AgentResult],
                        again: Callable[[float, str], AgentResult]) -> Retry:
    """Run `first()`; when it repeats the deliverable a failed gate rejected last round, undo it and run
    `again(temperature, extra packet text)` once, logging what changed."""
    if step.deliverable not in KINDS:
        result = first()
        return Retry(result, list(result.replies))
    before = state.get("deliverables", {}).get(key)
    judged = before is not None and state.get("last_verdict") not in (None, "pass")
    start = _snapshot(ctx) if judged else None
    result = first()
    now = fingerprint(ctx, step, result)
    if not judged or now != before:
        return Retry(result, list(result.replies), now)
    _restore(ctx, start)
    second = again(CHANGED_TEMPERATURE, _changed_ask(step, state))
    after = fingerprint(ctx, step, second)
    ctx.event("retry_changed", step.id, step.persona, repeated_again=after == before, deliverable=step.deliverable,
              changes=[f"temperature {CHANGED_TEMPERATURE}", "the gate's report placed last in the packet",
                       "told that its answer repeated the rejected one"],
              previous_sha=before, repeated_sha=now, new_sha=after)
    return Retry(second, [*result.replies, *second.replies], after)


def fingerprint(ctx: RunContext, step: AgentStepSpec, result: AgentResult) -> str:
    """The hash of the step's normalised deliverable, what the run state remembers of it."""
    return hashlib.sha256(deliverable_text(ctx, step, result).encode()).hexdigest()[:16]


def _changed_ask(step: AgentStepSpec, state: RunState) -> str:
    """The packet's new last section: the gate's report, and that the answer just given repeated what it rejected."""
    what = {"spec": "spec", "tests": "tests", "source": "code"}.get(step.deliverable or "", "work")
    report = (state.get("gate_report") or "the gate gave no report").strip()[:REPORT_CHARS]
    return (f"\n\n## Your answer repeated the rejected one\nThe last gate rejected your previous {what}. "
            f"Your answer just now was the same {what} again, so it would fail the same way. "
            f"The gate's report:\n{report}\nWrite different {what} that fixes what the report names.")


def _snapshot(ctx: RunContext) -> str:
    from orchestrator.steps.candidates import snapshot

    return snapshot(ctx)


def _restore(ctx: RunContext, tree: str | None) -> None:
    from orchestrator.steps.candidates import restore

    if tree is not None:
        restore(ctx, tree)
