"""Personas: a role's goal, guidelines, boundaries, tools and handoffs, read from YAML or markdown."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails

from orchestrator.agents.tool_registry import FINISHING_TOOLS, tool_names
from orchestrator.errors import ConfigError, UnknownNameError, did_you_mean
from orchestrator.located_yaml import LocatedYaml, field_path, load_located_yaml, read_config_text
from orchestrator.resources import shipped_dir


class PersonaSpec(BaseModel):
    """A persona file: who the agent is and what it may do. It holds no model; bindings do."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Persona name, used by workflows and bindings.")
    goal: str = Field(description="What the persona is for, in one or two sentences.")
    guidelines: list[str] = Field(default_factory=list, description="How it should work.")
    boundaries: list[str] = Field(default_factory=list, description="What it must not do.")
    tools: list[str] = Field(default_factory=list, description="Tools it may call: registered tool names (the "
                             "built-ins, and a plugin's), e.g. read_file, edit, run_tests.")
    handoffs: list[str] = Field(default_factory=list, description="What it passes on to the next phase.")
    writes: list[str] | None = Field(
        None, description="Globs of the files it may write (enforced by the tools); unset: any file the rules allow.")
    opening: list[str] = Field(
        default_factory=list, description="Tools offered on the first turn, one of which must be called (e.g. "
        "[write_file] when the packet already holds the files to change); unset: every tool, call optional.")
    example: str = Field("", description="One worked example (a task and the tool calls that do it), for small models.")
    body: str = Field("", description="Free text (the markdown body of a .md persona).")

    @field_validator("opening")
    @classmethod
    def _opening_is_on_offer(cls, opening: list[str], info: ValidationInfo) -> list[str]:
        tools = info.data.get("tools", [])
        stray = [name for name in opening if name not in tools and name not in FINISHING_TOOLS]
        if stray:
            raise ValueError(f"opening names {stray[0]!r}, which is neither in its tools ({', '.join(tools)}) "
                             f"nor a finishing call ({', '.join(FINISHING_TOOLS)})")
        return opening

    def system_prompt(self) -> str:
        """The system message that sets the persona up."""
        parts = [f"You are the {self.name} in a software team. Goal: {self.goal}"]
        for title, items in (("Guidelines", self.guidelines), ("Boundaries", self.boundaries),
                             ("Hand off", self.handoffs)):
            if items:
                parts.append(f"{title}:\n" + "\n".join(f"- {item}" for item in items))
        if self.example.strip():
            parts.append("Worked example (another task, same way of working):\n" + self.example.strip())
        if self.body.strip():
            parts.append(self.body.strip())
        return "\n\n".join(parts)


def persona_dirs(repo: Path | None = None) -> list[Path]:
    """Folders searched for personas, later ones overriding earlier ones by name."""
    dirs = [shipped_dir("personas")]
    if repo is not None:
        dirs.append(repo / ".orchestrator" / "personas")
    return [d for d in dirs if d.is_dir()]


def persona_files(repo: Path | None = None) -> dict[str, Path]:
    """Persona name (file stem) -> file, later folders winning."""
    found: dict[str, Path] = {}
    for folder in persona_dirs(repo):
        for path in sorted(folder.iterdir()):
            if path.suffix in (".yaml", ".yml", ".md"):
                found[path.stem] = path
    return found


def known_personas(repo: Path | None = None) -> list[str]:
    """Names of every persona available to a workflow run against `repo`."""
    return sorted(persona_files(repo))


def load_persona(name: str, repo: Path | None = None) -> PersonaSpec:
    """Load one persona by name; an unknown name raises with "Did you mean ...?"."""
    files = persona_files(repo)
    if name not in files:
        raise UnknownNameError("persona", name, files)
    return read_persona_file(files[name])


def read_persona_file(path: Path) -> PersonaSpec:
    """Parse a persona file (.yaml, or .md with YAML frontmatter and a free-text body)."""
    text = read_config_text(path)
    body = ""
    if path.suffix == ".md":
        parts = text.split("---", 2)
        if len(parts) < 3 or parts[0]:
            raise ConfigError(f"{path}:1: a markdown persona starts with YAML frontmatter between two '---' lines")
        _, text, body = parts
    located = load_located_yaml(text, str(path))
    if not isinstance(located.data, dict):
        raise ConfigError(f"{path}:1: a persona is a mapping of name, goal, guidelines, ...")
    data = {"name": path.stem, **located.data, **({"body": body} if body.strip() else {})}
    listed = data.get("tools")
    tools = listed if isinstance(listed, list) else []
    known = tool_names()
    problems = [str(UnknownNameError("tool", tool, known, where=f"{located.where(('tools', i))}: tools[{i}]"))
                for i, tool in enumerate(tools) if isinstance(tool, str) and tool not in known]
    try:
        persona = PersonaSpec.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(err, located) for err in exc.errors()] + problems
    if problems:  # every problem of the file at once, so one edit fixes them all
        raise ConfigError("; ".join(p.removesuffix(".") for p in problems))
    return persona


def _problem(err: ErrorDetails, located: LocatedYaml) -> str:
    """One schema error of a persona file: file:line, field, message (unknown keys get "Did you mean")."""
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        key = str(err["loc"][-1])
        message = f"unknown key {key!r}.{did_you_mean(key, PersonaSpec.model_fields)}"
    return f"{located.where(err['loc'])}: {field_path(err['loc'])}: {message}"
