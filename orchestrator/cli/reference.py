"""The reference generated from the registries: the docs' tables of gate kinds, routing strategies and tools, and
the shipped workflow JSON Schema. `python -m orchestrator.cli.reference` rewrites them; a test keeps them equal.

Generate with no third-party plugin installed: the committed reference is the built-ins'.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = {"gate-kinds": "docs/gates.md", "routing-strategies": "docs/routing.md", "tools": "docs/scripted.md"}
"""Generated block -> the docs page holding it between `<!-- generated: NAME -->` and `<!-- end generated -->`."""
SCHEMA = "workflows/workflow.schema.json"
END = "<!-- end generated -->"


def gate_kinds_table() -> str:
    """| kind | what it checks | fields |, from the registered gate kinds and their spec models."""
    from orchestrator.gates.kind import gate_kinds

    rows = ["| kind | what it checks | fields |", "| --- | --- | --- |"]
    for name, kind in gate_kinds().items():
        fields = [f"`{f}`" for f in kind.spec.model_fields if f != "kind"]
        rows.append(f"| `{name}` | {_first_line(kind.__doc__)} | {', '.join(fields) or 'none'} |")
    return "\n".join(rows)


def strategies_table() -> str:
    """| strategy | what it does | honours stakes and interactive |, from the registered routing strategies."""
    from orchestrator.routing.registry import routing_strategies

    rows = ["| strategy | what it does | honours `stakes: high`, `interactive: true` |", "| --- | --- | --- |"]
    for name, entry in routing_strategies().items():
        rows.append(f"| `{name}` | {entry.description} | {'no' if entry.step_blind else 'yes'} |")
    return "\n".join(rows)


def tools_table() -> str:
    """| tool | who gets it | arguments |, from the registered tools' schemas (`?` marks an optional argument)."""
    from orchestrator.agents.tool_registry import registered_tools

    rows = ["| tool | who gets it | arguments |", "| --- | --- | --- |"]
    for name, tool in registered_tools().items():
        who = {"read": "personas listing it", "write": "personas listing it (never a critic)",
               "run": "personas listing it (never a critic)"}[tool.effect]
        if tool.needs_test_command:
            who += ", when the workflow has a test command"
        rows.append(f"| `{name}` | {who} | {tool.description} Arguments: {_arguments(tool.spec.parameters)} |")
    return "\n".join(rows)


def _arguments(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    parts = [f"`{name}{'' if name in required else '?'}` ({prop.get('description', '').rstrip('.')})"
             for name, prop in schema.get("properties", {}).items()]
    return ", ".join(parts) or "none"


def _first_line(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def generated_blocks() -> dict[str, str]:
    """{block name: its markdown}, from the registries as loaded now."""
    return {"gate-kinds": gate_kinds_table(), "routing-strategies": strategies_table(), "tools": tools_table()}


def with_block(text: str, name: str, body: str) -> str:
    """The page with the block `name` replaced by `body`; a page without the markers is an error."""
    pattern = re.compile(rf"(<!-- generated: {re.escape(name)} [^>]*-->\n)(?:.*?\n)?({re.escape(END)})", re.S)
    if not pattern.search(text):
        raise ValueError(f"no `<!-- generated: {name} ... -->` ... `{END}` block")
    return pattern.sub(lambda m: f"{m.group(1)}{body}\n{m.group(2)}", text, count=1)


def workflow_schema_text() -> str:
    """The workflow JSON Schema as `orchestrator schema workflow` prints it."""
    from orchestrator.cli.author import json_schema

    return json.dumps(json_schema("workflow"), indent=2) + "\n"


def write_reference(root: Path = ROOT) -> list[str]:
    """Rewrite every generated block and the shipped schema under `root`; returns the files that changed."""
    changed = []
    for name, body in generated_blocks().items():
        page = root / BLOCKS[name]
        text = page.read_text(encoding="utf-8")
        new = with_block(text, name, body)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed.append(BLOCKS[name])
    schema = root / SCHEMA
    if schema.read_text(encoding="utf-8") != (text := workflow_schema_text()):
        schema.write_text(text, encoding="utf-8")
        changed.append(SCHEMA)
    return changed


if __name__ == "__main__":
    print("\n".join(write_reference()) or "the reference is up to date")
