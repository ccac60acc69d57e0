"""Render a run report as one self-contained HTML file and its markdown twin (jinja2 templates in this package).

The HTML holds its CSS and SVG inline and references nothing outside itself. Text from the run (a diff, a
reason) may contain a URL: its `http://` is written as `http&#58;//`, so the page reads the same and holds
no `http://` or `https://` that a browser could fetch or a checker could mistake for one.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from orchestrator.agents.redact import redact, secret_values
from orchestrator.report.data import ReportData, visit_notes
from orchestrator.report.graph import layout
from orchestrator.report.path import path_edges
from orchestrator.report.svg import graph_svg, outcome_class, timeline_svg, usage_svg
from orchestrator.run.price import usd

_URL_SCHEME = re.compile(r"\b(https?):(?=//)", re.IGNORECASE)


@cache
def _environment(markdown: bool) -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("orchestrator.report", "templates"),
                             autoescape=not markdown, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters.update(usd=usd, outcome=outcome_class, pretty=_pretty, cell=_cell, fence=_fence)
    return env


def render_html(data: ReportData) -> str:
    """The report as one HTML page: inline CSS and SVG, no script, no external reference."""
    from markupsafe import Markup

    svgs = {"graph": "", "timeline": Markup(timeline_svg(data.visits)), "chart": Markup(usage_svg(data.usage))}
    if data.graph is not None:
        svgs["graph"] = Markup(graph_svg(data.graph, layout(data.graph), data.path))
    page = _environment(False).get_template("report.html.j2").render(**_context(data), **svgs)
    return _URL_SCHEME.sub(r"\1&#58;", _redact_html(page))


def render_markdown(data: ReportData) -> str:
    """The same report as markdown, with the graph as a mermaid flowchart."""
    page = _environment(True).get_template("report.md.j2").render(**_context(data), mermaid=_mermaid(data))
    return redact(page)


def _redact_html(page: str) -> str:
    """Secret values out of the page, also where escaping changed them (`a&b` is `a&amp;b` in the page)."""
    from html import escape

    page = redact(page)
    for value, name in secret_values().items():
        page = page.replace(escape(value), f"[redacted {name}]")
    return page


def _context(data: ReportData) -> dict[str, Any]:
    """What both templates read."""
    gates = [{"visit": v, "event": gate, "result": gate["data"].get("result", {}), "notes": visit_notes(v),
              "violations": _violations(gate["data"].get("result", {}))} for v, gate in data.gate_visits]
    taken = set(path_edges(data.path))
    missing = [f"{a} -> {b}" for a, b in taken if data.graph is not None and (a, b) not in data.graph.edges]
    return {"data": data, "run": data.run, "gates": gates, "price_lines": data.price.lines(),
            "total_tokens": sum(r["tokens"] for r in data.usage), "total_usd": sum(r["cost_usd"] for r in data.usage),
            "diff_lines": [(_diff_class(line), line) for line in data.diff.splitlines()],
            "notes": [*data.notes, *(f"the run took {m}, which the workflow graph has no edge for" for m in missing)],
            "started": _when(data.run["started"]), "finished": _when(data.run["finished"])}


def _violations(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A review verdict's violations (clause, severity, description, impact, remediation), if the gate has any."""
    document = result.get("document") or {}
    found = document.get("violations") if isinstance(document, dict) else None
    return [v for v in found if isinstance(v, dict)] if isinstance(found, list) else []


def _mermaid(data: ReportData) -> str:
    """A mermaid flowchart of the graph; the run's nodes and edges drawn thick and red."""
    if data.graph is None:
        return ""
    taken = path_edges(data.path)
    lines = ["flowchart TD"]
    for node in data.graph.nodes:
        label = node.label + (f"<br/><small>{node.detail}</small>" if node.detail else "")
        lines.append(f'    {_mermaid_id(node.id)}["{label.replace(chr(34), chr(39))}"]')
    for source, target in data.graph.edges:
        count = taken.get((source, target), 0)
        arrow = f"==>|{count}x|" if count else "-.->"
        lines.append(f"    {_mermaid_id(source)} {arrow} {_mermaid_id(target)}")
    lines.append("    classDef onpath stroke:#c0392b,stroke-width:3px")
    on_path = [_mermaid_id(n) for n in dict.fromkeys(data.path)]
    if on_path:
        lines.append(f"    class {','.join(on_path)} onpath")
    return "\n".join(lines)


def _mermaid_id(node: str) -> str:
    """Mermaid reserves `end`: steps become `s_build`, and `__start__`, `__end__`, `__stop__` become `t_start` etc."""
    return ("t_" if node.startswith("__") else "s_") + node.strip("_").replace("-", "_")


def _diff_class(line: str) -> str:
    if line.startswith(("+++", "---", "diff ", "index ")):
        return "file"
    return {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "")


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=1, default=str, ensure_ascii=False)


def _fence(text: str) -> str:
    """A markdown code fence longer than any run of backticks in the text it encloses."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _cell(value: Any) -> str:
    """A markdown table cell: one line, pipes escaped."""
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def _when(ts: float | None) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"
