"""The docs document every tool a scripted reply can call, with each argument, and every persona field."""

from __future__ import annotations

import re

from conftest import DOCS

from orchestrator.agents.loop import FINISH_TOOL
from orchestrator.agents.personas import PersonaSpec
from orchestrator.agents.tool_registry import tool_specs
from orchestrator.gates.verdict import VERDICT_TOOL
from orchestrator.steps.spec_authoring import SPEC_TOOL

SCRIPTED = (DOCS / "scripted.md").read_text()
PERSONAS = (DOCS / "personas.md").read_text()


def _rows() -> dict[str, str]:
    """tool -> its arguments cell, from the table of docs/scripted.md."""
    rows = re.findall(r"^\| `(\w+)` \| [^|]*(?:\\\|[^|]*)* \| (.*) \|$", SCRIPTED, re.M)
    return dict(rows)


def _top_level_arguments(spec) -> list[str]:
    return list(spec.parameters.get("properties", {}))


def test_every_tool_and_each_of_its_arguments_is_documented() -> None:
    rows = _rows()
    for spec in [*tool_specs().values(), FINISH_TOOL, SPEC_TOOL, VERDICT_TOOL]:
        assert spec.name in rows, f"tool {spec.name} is not in the tool table of docs/scripted.md"
        for argument in _top_level_arguments(spec):
            assert f"`{argument}" in rows[spec.name] or f" {argument}" in rows[spec.name], (spec.name, argument)


def test_every_persona_field_is_documented() -> None:
    for field in PersonaSpec.model_fields:
        assert re.search(rf"(^|\W){field}(:|`)", PERSONAS), field
