"""The agent tools registry: a tool is one function whose signature is its argument schema.

Tools register through the plugin hook `register_tools(register)`, built-ins and plugins alike. The function's
first parameter is the Toolbox it runs in (the confined reads, the policed writes, the sandboxed commands); the
others become a pydantic model (strict, no extra keys) that both validates a call and gives the JSON schema a
model sees. `Annotated[int | None, Field(ge=1, description=...)] = None` documents and bounds an argument.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, create_model

from orchestrator.errors import PluginError
from orchestrator.models.schema import tool_spec, validate_with
from orchestrator.models.types import ToolSpec

ToolEffect = Literal["read", "write", "run"]
"""read: looks only (offered to read-only agents); write: changes files; run: runs a command in the sandbox."""

TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
FINISHING_TOOLS = ("finish", "submit_spec", "submit_verdict")
"""The calls that end a step (added by the step, never registered); a tool may not take these names."""


class _Args(BaseModel):
    """Tool arguments: no extra keys, no coercion (a "3" is not a line number)."""

    model_config = ConfigDict(extra="forbid", strict=True)


@dataclass(frozen=True)
class Tool:
    """A registered tool: its function, what it does to the worktree, and its arguments model and spec."""

    name: str
    function: Callable[..., str]
    description: str
    arguments: type[BaseModel]
    effect: ToolEffect = "read"
    needs_test_command: bool = False
    """Offered only when the run has a test command (run_tests)."""
    spec: ToolSpec = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "spec", tool_spec(self.name, self.description, self.arguments))

    def validate(self, arguments: Any) -> dict[str, Any]:
        """The call's arguments checked by the tool's model (ToolError naming the bad field), without unset ones."""
        return validate_with(self.arguments, self.name, arguments).model_dump(exclude_unset=True)


def tool_from_function(function: Callable[..., str], *, effect: ToolEffect = "read", name: str | None = None,
                       needs_test_command: bool = False) -> Tool:
    """A Tool from a function: its name, its docstring's first paragraph, and its signature after the toolbox."""
    name = name or function.__name__
    if not TOOL_NAME.match(name) or name in FINISHING_TOOLS:
        raise PluginError(f"tool name {name!r}: lower-case letters, digits and _, and not one of {FINISHING_TOOLS}")
    if effect not in typing.get_args(ToolEffect):
        raise PluginError(f"tool {name!r}: effect must be read, write or run, got {effect!r}")
    description = inspect.cleandoc(function.__doc__ or "").split("\n\n")[0].replace("\n", " ")
    if not description:
        raise PluginError(f"tool {name!r}: give the function a docstring; it is what the model reads")
    fields = _argument_fields(function, name)
    arguments = create_model(f"{name.title().replace('_', '')}Args", __base__=_Args, **fields)  # type: ignore[call-overload]
    return Tool(name, function, description, arguments, effect, needs_test_command)


def _argument_fields(function: Callable[..., str], name: str) -> dict[str, tuple[Any, Any]]:
    """{argument: (annotation, default)} of every parameter after the first (the toolbox)."""
    parameters = list(inspect.signature(function).parameters.values())
    if not parameters:
        raise PluginError(f"tool {name!r}: the first parameter receives the Toolbox")
    fields: dict[str, tuple[Any, Any]] = {}
    for parameter in parameters[1:]:
        if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            raise PluginError(f"tool {name!r}: argument {parameter.name!r} must be a named parameter")
        if parameter.annotation is parameter.empty:
            raise PluginError(f"tool {name!r}: argument {parameter.name!r} needs a type annotation")
        annotation = _evaluate(parameter.annotation, function)
        fields[parameter.name] = (annotation, ... if parameter.default is parameter.empty else parameter.default)
    return fields


def _evaluate(annotation: Any, function: Callable[..., str]) -> Any:
    """A parameter's annotation as a type, evaluated in the function's module (postponed annotations are strings)."""
    if not isinstance(annotation, str):
        return annotation
    namespace = {**vars(typing), **getattr(function, "__globals__", {})}
    try:
        return eval(annotation, namespace)  # noqa: S307 - the plugin's own annotation, in its own module
    except Exception as exc:
        raise PluginError(f"tool {function.__name__!r}: can't read the annotation {annotation!r}: {exc}") from exc


@functools.cache
def registered_tools() -> dict[str, Tool]:
    """{name: tool} of every registered tool, in registration order (built-ins first)."""
    from orchestrator.plugins import call_hook

    found: dict[str, Tool] = {}

    def register(function: Callable[..., str], *, effect: ToolEffect = "read", name: str | None = None,
                 needs_test_command: bool = False) -> None:
        tool = tool_from_function(function, effect=effect, name=name, needs_test_command=needs_test_command)
        found[tool.name] = tool

    call_hook("register_tools", register)
    return found


def tool_names(effect: ToolEffect | None = None) -> list[str]:
    """Registered tool names, all of them or those of one effect."""
    return [name for name, tool in registered_tools().items() if effect is None or tool.effect == effect]


def tool_specs() -> dict[str, ToolSpec]:
    """{name: the ToolSpec a model is handed} of every registered tool."""
    return {name: tool.spec for name, tool in registered_tools().items()}
