"""Inline SVG for the HTML report: the workflow graph with the run's path, the phase timeline, the usage chart.

Plain SVG text with CSS classes (the page's stylesheet colours them): nothing to download, no script needed.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from orchestrator.report.graph import NODE_H, NODE_W, Layout, WorkflowGraph
from orchestrator.report.path import Visit, path_edges
from orchestrator.run.price import usd

ROW_H, LABEL_W, BAR_W = 22, 190, 640


def _attr(value: Any) -> str:
    return escape(str(value), quote=True)


def graph_svg(graph: WorkflowGraph, placed: Layout, path: list[str]) -> str:
    """The graph; nodes and edges on the run's path carry the class `on-path` and their visit counts."""
    taken = path_edges(path)
    visits = {node: path.count(node) for node in path}
    parts = [f'<svg id="graph" class="graph" width="{placed.width:.0f}" height="{placed.height:.0f}" '
             f'viewBox="0 0 {placed.width:.0f} {placed.height:.0f}" role="img" '
             f'data-path="{_attr(json.dumps(path))}"><title>Workflow graph; the run\'s path is highlighted</title>',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow"/></marker>'
             '<marker id="arrow-on" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow on-path"/></marker></defs>']
    for (source, target), d in placed.paths.items():
        count = taken.get((source, target), 0)
        on = " on-path" if count else ""
        loop = " loop" if (source, target) in placed.back_edges else ""
        parts.append(f'<path class="edge{on}{loop}" data-from="{_attr(source)}" data-to="{_attr(target)}" '
                     f'data-count="{count}" d="{d}" marker-end="url(#arrow{"-on" if count else ""})">'
                     f'<title>{escape(source)} -> {escape(target)}{f" (taken {count}x)" if count else ""}</title>'
                     '</path>')
    for node in graph.nodes:
        parts.append(_node_svg(node, placed.boxes[node.id], visits.get(node.id, 0)))
    parts.append("</svg>")
    return "".join(parts)


def _node_svg(node: Any, box: tuple[float, float], count: int) -> str:
    x, y = box
    on = " on-path" if count else ""
    radius = NODE_H / 2 if node.kind == "terminal" else 6
    label = escape(node.label) + (f" ×{count}" if count > 1 else "")
    detail = f'<text class="detail" x="{x + NODE_W / 2:.1f}" y="{y + 32:.1f}">{escape(node.detail[:24])}</text>' \
        if node.detail else ""
    name_y = y + (17 if node.detail else 25)
    return (f'<g class="node kind-{node.kind}{on}" data-node="{_attr(node.id)}" data-visits="{count}">'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="{radius}"/>'
            f'<text class="name" x="{x + NODE_W / 2:.1f}" y="{name_y:.1f}">{label}</text>{detail}</g>')


def outcome_class(verdict: str) -> str:
    """CSS class of an outcome: pass, fail, unknown, choice (a dispatch or escalation) or done."""
    if verdict in ("pass", "fail", "unknown"):
        return verdict
    if verdict.startswith("->"):
        return "choice"
    return "fail" if verdict == "failed" else "done"


def timeline_svg(visits: list[Visit]) -> str:
    """One bar per visit on a shared time axis, coloured by how the visit ended."""
    if not visits:
        return _empty("timeline", "No step ran.")
    t0 = visits[0].start
    total = max(v.end for v in visits) - t0 or 1.0
    height = ROW_H * (len(visits) + 1) + 10
    width = LABEL_W + BAR_W + 70

    def x(t: float) -> float:
        return LABEL_W + (t - t0) / total * BAR_W

    parts = [f'<svg id="timeline" class="timeline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             'role="img"><title>Timeline of the run\'s steps</title>']
    for i in range(5):
        tick = total * i / 4
        parts.append(f'<line class="tick" x1="{x(t0 + tick):.1f}" x2="{x(t0 + tick):.1f}" y1="0" '
                     f'y2="{height - ROW_H:.0f}"/><text class="axis" x="{x(t0 + tick):.1f}" '
                     f'y="{height - 6:.0f}">{_duration(tick)}</text>')
    for row, visit in enumerate(visits):
        verdict, reason = visit.outcome
        y = row * ROW_H + 4
        bar = max(2.0, x(visit.end) - x(visit.start))
        parts.append(
            f'<g class="visit" data-node="{_attr(visit.node)}"><text class="label" x="{LABEL_W - 8}" y="{y + 14}">'
            f'{row + 1}. {escape(visit.node)} #{visit.number}</text>'
            f'<rect class="bar {outcome_class(verdict)}" x="{x(visit.start):.1f}" y="{y}" width="{bar:.1f}" '
            f'height="{ROW_H - 6}"><title>{escape(visit.node)} #{visit.number}: {_duration(visit.seconds)}, '
            f'{escape(verdict or "-")} {escape(reason[:200])}</title></rect>'
            f'<text class="value" x="{x(visit.start) + bar + 4:.1f}" y="{y + 13}">{_duration(visit.seconds)} '
            f'{escape(verdict)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def usage_svg(rows: list[dict[str, Any]]) -> str:
    """Tokens and dollars per persona and model: two bars a row, each scaled to its own largest value."""
    if not rows:
        return _empty("chart", "No model calls.")
    top_tokens = max(r["tokens"] for r in rows) or 1
    top_usd = max(r["cost_usd"] for r in rows)
    height = 2 * ROW_H * len(rows) + 10
    width = LABEL_W + 70 + BAR_W + 90
    left = LABEL_W + 70
    parts = [f'<svg id="chart" class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             'role="img"><title>Tokens and cost per persona and model</title>']
    for i, row in enumerate(rows):
        y = i * 2 * ROW_H + 4
        tokens_w = max(1.0, row["tokens"] / top_tokens * BAR_W)
        usd_w = row["cost_usd"] / top_usd * BAR_W if top_usd else 0.0
        parts.append(
            f'<g class="usage" data-persona="{_attr(row["persona"])}" data-model="{_attr(row["model"])}">'
            f'<text class="label" x="{left - 8}" y="{y + 13}">{escape(row["persona"])}</text>'
            f'<text class="label sub" x="{left - 8}" y="{y + ROW_H + 11}">{escape(row["model"][-34:])}</text>'
            f'<rect class="bar tokens" x="{left}" y="{y}" width="{tokens_w:.1f}" height="{ROW_H - 6}">'
            f'<title>{row["tokens"]} tokens in {row["calls"]} calls</title></rect>'
            f'<text class="value" x="{left + tokens_w + 4:.1f}" y="{y + 13}">{row["tokens"]} tokens</text>'
            f'<rect class="bar usd" x="{left}" y="{y + ROW_H - 2}" width="{usd_w:.1f}" height="{ROW_H - 8}"/>'
            f'<text class="value" x="{left + usd_w + 4:.1f}" y="{y + 2 * ROW_H - 10}">{usd(row["cost_usd"])}</text>'
            '</g>')
    parts.append("</svg>")
    return "".join(parts)


def _empty(svg_id: str, text: str) -> str:
    return (f'<svg id="{svg_id}" width="400" height="30" viewBox="0 0 400 30" role="img">'
            f'<text class="label start" x="4" y="20">{escape(text)}</text></svg>')


def _duration(seconds: float) -> str:
    """`4.2 s`, `3 min 5 s`, `2 h 10 min`."""
    if seconds < 100:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
