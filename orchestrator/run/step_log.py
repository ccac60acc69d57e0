"""Each step node in one run-log transaction, with its history (phase rows, handoffs) moved out of the state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.run.context import RunContext

Node = Callable[[Any], dict[str, Any]]


def logged_nodes(ctx: RunContext, factory: Callable[..., Node]) -> Callable[..., Node]:
    """Wrap a node factory (`make_node(step, role)`): every node it makes runs through `logged`."""

    def make(step: Any, role: str = "main") -> Node:
        node = factory(step, role)
        return lambda state: logged(ctx, node, state)

    return make


def logged(ctx: RunContext, node: Node, state: Any) -> dict[str, Any]:
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
