"""Each step node in one run-log transaction, with its history (phase rows, handoffs) moved out of the state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.run.context import RunContext
from orchestrator.workflow.spec import AnyStep
from orchestrator.workflow.state import RunState, StepNode


def logged_nodes(ctx: RunContext, factory: Callable[..., StepNode]) -> Callable[..., StepNode]:
    """Wrap a node factory (`make_node(step, role)`): every node it makes runs through `logged`."""

    def make(step: AnyStep, role: str = "main") -> StepNode:
        return _Logged(ctx, factory(step, role))

    return make


class _Logged:
    """A step node run through `logged`. An object, not a closure: LangGraph reads a function node's bytecode
    (for subgraphs it may call) when the graph compiles, at a cost per step of the workflow."""

    __slots__ = ("ctx", "node")

    def __init__(self, ctx: RunContext, node: StepNode):
        self.ctx, self.node = ctx, node

    def __call__(self, state):  # unannotated on purpose: LangGraph evaluates a node's type hints in add_node
        return logged(self.ctx, self.node, state)


def logged(ctx: RunContext, node: StepNode, state: RunState) -> dict[str, Any]:
    """Run one node with the run log's writes held until it ends, then committed in one transaction.

    The node's `phases` rows and its handoffs are logged under the LangGraph task that ran it: a task
    re-run after a crash has the same id, so `RunLog.phases` keeps only its last rows.
    """
    with ctx.runlog.batch():
        update = dict(node(state))
        rows = update.pop("phases", [])
        if rows or update.get("handoffs"):
            ctx.runlog.phase_rows(ctx.run_id, _task_id(), rows, update.get("handoffs") or {})
    return update


def _task_id() -> str:
    """The running LangGraph task's id (checkpoint namespace `node:task-id`), stable when a task runs again."""
    from langgraph.config import get_config

    config = get_config()
    return str(config.get("metadata", {}).get("langgraph_checkpoint_ns")
               or config.get("configurable", {}).get("checkpoint_ns", ""))
