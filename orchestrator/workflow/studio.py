"""LangGraph Studio's entry points (langgraph.json): the shipped workflows compiled to view, with no-op nodes.

Studio shows each graph's steps, gates and loops. Its nodes do nothing there: a run needs a repo, a worktree and
models, so runs go through `orchestrator run` (or `run_workflow`), whose graphs are these same graphs.
"""

from __future__ import annotations

from typing import Any

from orchestrator.workflow.autonomy import apply_autonomy
from orchestrator.workflow.compile import compile_workflow
from orchestrator.workflow.validate import find_workflow, load_workflow


def shipped_graph(name: str) -> Any:
    """A shipped workflow compiled as `orchestrator run` compiles it, with no-op nodes and no checkpointer."""
    return compile_workflow(apply_autonomy(load_workflow(find_workflow(name))))


feature = shipped_graph("feature")
bugfix = shipped_graph("bugfix")
implement = shipped_graph("implement")
