"""Structured spec authoring: the spec writer's `submit_spec` tool, rendered to specs/<domain>/spec.md.

A schema-shaped spec always has its Blueprint, Contract and parseable scenarios, whatever the model,
so the spec gate judges content rather than markdown formatting.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from orchestrator.agents.loop import AgentResult
from orchestrator.models.schema import tool_spec
from orchestrator.run.context import RunContext
from orchestrator.steps.pbis import PbiSpec, check_pbis
from orchestrator.steps.toolbox import agent_toolbox


class ScenarioSpec(BaseModel):
    """One Given/When/Then scenario."""

    given: str = Field(min_length=1)
    when: str = Field(min_length=1)
    then: str = Field(min_length=1)


class SpecDraft(BaseModel):
    """What the spec writer submits: the Blueprint and the Contract of one domain."""

    domain: str = Field(min_length=1, description="Feature domain; the spec lands in specs/<domain>/spec.md.")
    title: str = Field(min_length=1)
    context: str = Field(min_length=1)
    architecture: str = Field(min_length=1)
    constraints: list[str] = Field(min_length=1)
    definition_of_done: list[str] = Field(min_length=1)
    guardrails: list[str] = Field(min_length=1)
    scenarios: list[ScenarioSpec] = Field(min_length=1)
    pbis: list[PbiSpec] = Field(default_factory=list, description="The spec split into units of work.")

    @property
    def path(self) -> str:
        """Where the spec is written, relative to the repo."""
        slug = re.sub(r"[^a-z0-9_-]+", "-", self.domain.lower()).strip("-") or "feature"
        return f"specs/{slug}/spec.md"

    def render(self) -> str:
        """The spec as markdown in the house format."""
        bullets = lambda items: "\n".join(f"- {i}" for i in items)  # noqa: E731
        scenarios = "\n".join(f"- Given {s.given}, When {s.when}, Then {s.then}" for s in self.scenarios)
        return (f"# {self.title}\n\n## Blueprint\n### Context\n{self.context}\n### Architecture\n"
                f"{self.architecture}\n### Constraints\n{bullets(self.constraints)}\n\n## Contract\n"
                f"### Definition of done\n{bullets(self.definition_of_done)}\n### Guardrails\n"
                f"{bullets(self.guardrails)}\n### Scenarios\n{scenarios}\n")


SPEC_TOOL = tool_spec(
    "submit_spec",
    "Submit the spec: Blueprint (context, architecture, constraints) and Contract (definition of done, "
    "guardrails, Given/When/Then scenarios). It is written to specs/<domain>/spec.md.",
    SpecDraft,
)


def write_spec(ctx: RunContext, result: AgentResult) -> tuple[str, list[dict[str, Any]]]:
    """Render a submitted spec (and its PBIs) under specs/<domain>/ through the policed write tool.

    Returns what happened, for the handoff, and the PBIs for the builder.
    """
    import yaml

    from orchestrator.errors import ToolError
    from orchestrator.models.schema import validate_with

    if result.final is None:
        return f"no spec submitted (the spec writer answered: {result.text[:300]!r})", []
    try:
        draft = validate_with(SpecDraft, "submit_spec", result.final.arguments)  # a ToolError names the field
        tools = agent_toolbox(ctx, ["write_file"], baseline=ctx.workspace.base_commit)
        tools.call("write_file", {"path": draft.path, "content": draft.render()})
        problems = check_pbis(draft.pbis)
        if draft.pbis and not problems:
            pbis = [p.model_dump() for p in draft.pbis]
            tools.call("write_file", {"path": draft.path.replace("spec.md", "pbis.yaml"),
                                      "content": yaml.safe_dump({"pbis": pbis}, sort_keys=False)})
    except ToolError as exc:
        return f"spec not written: {exc}", []
    summary = f"spec written to {draft.path} with {len(draft.scenarios)} scenario(s)"
    if problems:
        return f"{summary}; PBIs ignored: {'; '.join(problems)}", []
    return summary + (f" and {len(draft.pbis)} PBI(s)" if draft.pbis else ""), [p.model_dump() for p in draft.pbis]
