"""Graph checks of a workflow: the engine's own node names, loop caps, edge fields and cycles (Tarjan)."""

from __future__ import annotations

from collections.abc import Iterator

from orchestrator.located_yaml import Location
from orchestrator.workflow.autonomy import SIGN_OFF_STEP
from orchestrator.workflow.spec import AgentStepSpec, EscalateStepSpec, WorkflowSpec


def engine_nodes(spec: WorkflowSpec) -> dict[str, str]:
    """Graph nodes that compiling adds beside the steps, with what each is for: a step id equal to one collides.

    The autonomy nodes count whatever the workflow's level, since `--autonomy` can change it at run time.
    """
    nodes = {"__start__": "the graph's start node", "__end__": "the graph's end node", "__stop__": "the stop node"}
    agents = [step for step in spec.steps if isinstance(step, AgentStepSpec)]
    for step in agents:
        if step.for_each == "pbi":
            nodes[f"{step.id}__pbi"] = nodes[f"{step.id}__single"] = f"the nodes of for_each step {step.id!r}"
    if any(gate.kind == "acceptance" for gate in spec.gates.values()):
        return nodes  # a workflow with its own acceptance gate gets no sign-off or approval steps
    nodes[SIGN_OFF_STEP] = "the sign-off step autonomy L2 and L3 add"
    for step in agents:
        if step.commit:
            nodes[f"{step.id}_approval"] = f"the approval step autonomy L2 adds after {step.id!r}"
    return nodes


def capped(step: object) -> bool:
    """A step that bounds a loop: a gate or dispatch with max_rounds, or an escalation (the ladder is finite)."""
    return bool(getattr(step, "max_rounds", None)) or isinstance(step, EscalateStepSpec)


def field_loc(field: str) -> Location:
    """'choices[1]' -> ('choices', 1)."""
    if field.endswith("]"):
        name, index = field[:-1].split("[")
        return (name, int(index))
    return (field,)


def cycles(edges: dict[str, list[str]]) -> list[set[str]]:
    """Strongly connected components that contain a cycle: Tarjan's algorithm, iterative, since a workflow of
    a thousand steps would overflow Python's stack with the recursive form."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def enter(node: str) -> tuple[str, Iterator[str]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        return node, iter(edges[node])

    for root in edges:
        work = [] if root in index else [enter(root)]
        while work:
            node, children = work[-1]
            for nxt in children:
                if nxt not in index:
                    work.append(enter(nxt))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    at = stack.index(node)
                    component = set(stack[at:])
                    del stack[at:]
                    on_stack.difference_update(component)
                    if len(component) > 1 or node in edges[node]:
                        found.append(component)
    return found
