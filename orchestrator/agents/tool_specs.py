"""The agent tools' names, descriptions and argument models: their JSON schemas and validation come from here."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.models.schema import tool_spec, validate_with
from orchestrator.models.types import ToolSpec


class _Args(BaseModel):
    """Tool arguments: no extra keys, no coercion (a "3" is not a line number)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ReadFileArgs(_Args):
    path: str = Field(description="File path relative to the repository root.")
    start_line: int | None = Field(None, ge=1, description="First line to show (1-based).")
    end_line: int | None = Field(None, ge=1, description="Last line to show.")


class ListFilesArgs(_Args):
    path: str | None = Field(None, description="Folder relative to the repository root (default: the root).")
    pattern: str | None = Field(None, description="Glob such as '*.py'.")


class SearchArgs(_Args):
    pattern: str = Field(description="Regular expression (or literal text).")
    path: str | None = Field(None, description="Folder or file to search (default: the repository).")


class WriteFileArgs(_Args):
    path: str = Field(description="File path relative to the repository root.")
    content: str = Field(description="The file's full new content.")


class AppendFileArgs(_Args):
    path: str = Field(description="File path relative to the repository root.")
    content: str = Field(description="The code or text to add at the end of the file.")


class EditArgs(_Args):
    path: str = Field(description="File path relative to the repository root.")
    search: str = Field(description="Exact text that occurs once in the file.")
    replace: str = Field(description="Text to put in its place.")


class NoArgs(_Args):
    pass


TOOL_ARGS: dict[str, tuple[str, type[_Args]]] = {
    "read_file": ("Read a text file of the repository, optionally a line range.", ReadFileArgs),
    "list_files": ("List files under a folder (default: the repository root), optionally filtered by a glob "
                   "such as '*.py'.", ListFilesArgs),
    "search": ("Search text files for a regular expression (or literal text); returns path:line: text hits.",
               SearchArgs),
    "write_file": ("Create or overwrite a file with the given full content.", WriteFileArgs),
    "append_file": ("Add content at the end of a file (a new function, class or test); the rest of the file stays "
                    "as it is.", AppendFileArgs),
    "edit": ("Replace one exact, unique occurrence of `search` in a file with `replace`.", EditArgs),
    "run_tests": ("Run the project's configured test command and return its output.", NoArgs),
    "git_diff": ("Show every change in the worktree since the last commit, including new untracked files.", NoArgs),
}
"""Each tool's description and arguments model; its JSON schema and its validation both come from the model."""

TOOL_SPECS = {name: tool_spec(name, about, args) for name, (about, args) in TOOL_ARGS.items()}


def validate_arguments(name: str, arguments: Any) -> dict[str, Any]:
    """The call's arguments checked by the tool's model (ToolError naming the bad field), without unset ones."""
    return validate_with(TOOL_ARGS[name][1], name, arguments).model_dump(exclude_unset=True)


EXISTING_FILE_WRITERS = ("edit", "append_file")
"""Tools whose `path` must name a file that exists: their schema can list the files, so decoding can't miss."""
MAX_PATH_CHOICES = 40
"""Past this many writable files the path stays free text: a long enum costs every prompt more than it saves."""


def with_path_choices(spec: ToolSpec, paths: list[str]) -> ToolSpec:
    """The spec with `path` limited to `paths` (an enum), for edit and append_file on a small repo.

    Measured 2026-12-02 on the bugfix demo's first fix turn: the 0.5B edited the test file in 5 of 5 seeds
    (refused: the builder may not write tests); with `path` limited to the files it may change, 5 of 5 edited calc.py.
    """
    if spec.name not in EXISTING_FILE_WRITERS or not paths or len(paths) > MAX_PATH_CHOICES:
        return spec
    properties = dict(spec.parameters["properties"])
    properties["path"] = {**properties["path"], "enum": sorted(paths)}
    return dataclasses.replace(spec, parameters={**spec.parameters, "properties": properties})
