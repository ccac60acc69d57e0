"""The compiled workflow graph as plain nodes and edges, laid out in layers for drawing (no graph library)."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.workflow.spec import AnyStep, GateStepSpec, WorkflowSpec

START, END, STOP = "__start__", "__end__", "__stop__"
_LABELS = {START: "start", END: "end", STOP: "stop"}

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN, LANE = 150, 40, 30, 34, 20, 16


@dataclass(frozen=True)
class GraphNode:
    """One step of the compiled graph (or start, end, stop)."""

    id: str
    kind: str
    """agent, gate, dispatch, escalate, or terminal for start, end and stop."""
    detail: str = ""
    """The persona of an agent, dispatch or escalate step; the gate's name and kind for a gate."""

    @property
    def label(self) -> str:
        """What the drawing calls the node."""
        return _LABELS.get(self.id, self.id)


@dataclass(frozen=True)
class WorkflowGraph:
    """Nodes in workflow order (start first) and the edges the compiled graph may take."""

    nodes: tuple[GraphNode, ...]
    edges: tuple[tuple[str, str], ...]

    def node_ids(self) -> set[str]:
        """Every node id."""
        return {n.id for n in self.nodes}


def workflow_graph(spec: WorkflowSpec) -> WorkflowGraph:
    """Nodes and edges of the compiled workflow; a for_each step's worker nodes fold into the step itself."""
    from orchestrator.workflow.autonomy import apply_autonomy
    from orchestrator.workflow.compile import compile_workflow

    spec = apply_autonomy(spec)
    drawn = compile_workflow(spec).get_graph()
    steps = {s.id: s for s in spec.steps}
    fold = {f"{s.id}{suffix}": s.id for s in spec.steps if getattr(s, "for_each", None)
            for suffix in ("__pbi", "__single")}
    edges = []
    for edge in drawn.edges:
        pair = (fold.get(edge.source, edge.source), fold.get(edge.target, edge.target))
        if pair[0] != pair[1] and pair not in edges:
            edges.append(pair)
    present = {node for pair in edges for node in pair}
    order = [START, *steps, STOP, END]
    nodes = tuple(_node(name, steps.get(name), spec) for name in order if name in present)
    return WorkflowGraph(nodes=nodes, edges=tuple(edges))


def _node(name: str, step: AnyStep | None, spec: WorkflowSpec) -> GraphNode:
    if step is None:
        return GraphNode(name, "terminal")
    if isinstance(step, GateStepSpec):
        gate_kind = spec.gates[step.gate].kind
        named = step.gate not in (gate_kind, f"__{gate_kind}__")
        return GraphNode(name, "gate", f"{step.gate} ({gate_kind})" if named else gate_kind)
    return GraphNode(name, step.type, getattr(step, "persona", ""))


@dataclass
class Layout:
    """Where each node sits (its box's top-left corner), each edge's SVG path, and the drawing's size."""

    boxes: dict[str, tuple[float, float]] = field(default_factory=dict)
    paths: dict[tuple[str, str], str] = field(default_factory=dict)
    back_edges: set[tuple[str, str]] = field(default_factory=set)
    width: float = 0.0
    height: float = 0.0


def layout(graph: WorkflowGraph) -> Layout:
    """Layers top to bottom by longest path from start. An edge to the next layer goes straight down; a
    longer one curves round the left side and an edge that loops back round the right, each in its own lane
    (or round the other side, when only that side keeps both ends clear of their neighbours in the layer)."""
    order = {n.id: i for i, n in enumerate(graph.nodes)}
    back = _back_edges(graph, order)
    rank = _ranks(graph, order, back)
    rows: dict[int, list[str]] = {}
    for node in sorted(order, key=order.__getitem__):
        rows.setdefault(rank[node], []).append(node)
    span = {e: abs(rank[e[0]] - rank[e[1]]) for e in graph.edges}
    sides = {e: _side(e, rows, rank, "right" if e in back else "left") for e in graph.edges
             if e in back or span[e] != 1}
    lanes = {side: sorted((e for e, s in sides.items() if s == side), key=lambda e: (span[e], order[e[0]]))
             for side in ("left", "right")}
    out = Layout(back_edges=back)
    _place(out, rows, MARGIN + LANE * (len(lanes["left"]) + 1))
    inner = max(x for x, _ in out.boxes.values()) + NODE_W
    left_edge = min(x for x, _ in out.boxes.values())
    for pair in graph.edges:
        if sides.get(pair) == "right":
            out.paths[pair] = _side_path(out, pair, inner + LANE * (lanes["right"].index(pair) + 1), NODE_W)
        elif sides.get(pair) == "left":
            out.paths[pair] = _side_path(out, pair, left_edge - LANE * (lanes["left"].index(pair) + 1), 0)
        else:
            out.paths[pair] = _down_path(out, pair)
    out.width = inner + MARGIN + LANE * (len(lanes["right"]) + 1)
    out.height = MARGIN * 2 + (max(rows, default=0) + 1) * (NODE_H + GAP_Y) - GAP_Y
    return out


def _side(pair: tuple[str, str], rows: dict[int, list[str]], rank: dict[str, int], preferred: str) -> str:
    """The side an edge goes round: the preferred one, unless a neighbour in a layer blocks it and not the other."""

    def clear(side: str) -> bool:
        return all(rows[rank[n]][0 if side == "left" else -1] == n for n in pair)

    other = "right" if preferred == "left" else "left"
    return other if not clear(preferred) and clear(other) else preferred


def _place(out: Layout, rows: dict[int, list[str]], left: float) -> None:
    """Each layer's nodes side by side, centred on the widest layer."""
    widest = max((len(r) for r in rows.values()), default=1)
    inner = widest * NODE_W + (widest - 1) * GAP_X
    for level, members in rows.items():
        span = len(members) * NODE_W + (len(members) - 1) * GAP_X
        for i, node in enumerate(members):
            out.boxes[node] = (left + (inner - span) / 2 + i * (NODE_W + GAP_X), MARGIN + level * (NODE_H + GAP_Y))


def _back_edges(graph: WorkflowGraph, order: dict[str, int]) -> set[tuple[str, str]]:
    """Edges to a node still on the depth-first stack from start: the loops of the workflow."""
    succ: dict[str, list[str]] = {n: [] for n in order}
    for source, target in graph.edges:
        succ[source].append(target)
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    for root in sorted(order, key=order.__getitem__):
        if root in state:
            continue
        stack = [(root, iter(sorted(succ[root], key=order.__getitem__)))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(sorted(succ[child], key=order.__getitem__))))
    return back


def _ranks(graph: WorkflowGraph, order: dict[str, int], back: set[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layer of each node over the forward edges (the back edges removed make it acyclic)."""
    import graphlib

    preds: dict[str, set[str]] = {n: set() for n in order}
    for pair in graph.edges:
        if pair not in back:
            preds[pair[1]].add(pair[0])
    rank: dict[str, int] = {}
    for node in graphlib.TopologicalSorter(preds).static_order():
        rank[node] = max((rank[p] + 1 for p in preds[node]), default=0)
    return rank


def _down_path(out: Layout, pair: tuple[str, str]) -> str:
    (sx, sy), (tx, ty) = out.boxes[pair[0]], out.boxes[pair[1]]
    x1, y1, x2, y2 = sx + NODE_W / 2, sy + NODE_H, tx + NODE_W / 2, ty
    bend = (y2 - y1) / 2
    return f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + bend:.1f} {x2:.1f},{y2 - bend:.1f} {x2:.1f},{y2:.1f}"


def _side_path(out: Layout, pair: tuple[str, str], lane_x: float, side: float) -> str:
    """From the source's side to the target's side (`side` 0: left, NODE_W: right), bulging out to lane_x."""
    (sx, sy), (tx, ty) = out.boxes[pair[0]], out.boxes[pair[1]]
    x1, y1, x2, y2 = sx + side, sy + NODE_H / 2 + 5, tx + side, ty + NODE_H / 2 - 5
    # A cubic reaches 3/4 of the way to its control points: aim past the lane so the curve touches it.
    far = x1 + (lane_x - x1) * 4 / 3
    return f"M{x1:.1f},{y1:.1f} C{far:.1f},{y1:.1f} {far:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
