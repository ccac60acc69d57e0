"""Tool schemas from pydantic models: one source of truth for what a tool takes and how it is validated."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from orchestrator.errors import ToolError, did_you_mean
from orchestrator.models.types import ToolSpec

ModelT = TypeVar("ModelT", bound=BaseModel)

_NESTED = ("items", "additionalProperties", "not")
_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")


def closed_schema(model: type[BaseModel], require_all: bool = False) -> dict[str, Any]:
    """The model's JSON schema, self-contained and closed: refs inlined, titles dropped, no extra keys.

    Optional fields (`X | None = None`) become plain `X` that may be left out, which is what constrained
    decoding and providers' tool schemas handle best. `require_all` makes every top-level field required,
    so a constrained decoder always writes them (e.g. a verdict's scenario answers).
    """
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})
    schema = _clean(schema, defs)
    if require_all:
        schema["required"] = list(schema.get("properties", {}))
    return schema


def _clean(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return _clean(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" or (key == "default" and value is None):
            continue
        if key == "properties":
            out[key] = {name: _clean(sub, defs) for name, sub in value.items()}
        elif key in _NESTED and isinstance(value, dict):
            out[key] = _clean(value, defs)
        elif key in _LISTS:
            out[key] = [_clean(sub, defs) for sub in value]
        else:
            out[key] = value
    options = [o for o in out.get("anyOf", []) if o != {"type": "null"}]
    if "anyOf" in out and len(options) == 1 and len(out["anyOf"]) == 2:
        rest = {k: v for k, v in out.items() if k != "anyOf"}
        out = {**options[0], **rest}
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("required", [])
        out["additionalProperties"] = False
    return out


def tool_spec(name: str, description: str, arguments: type[BaseModel], require_all: bool = False) -> ToolSpec:
    """A ToolSpec whose parameters are the closed schema of its arguments model."""
    return ToolSpec(name, description, closed_schema(arguments, require_all))


def validate_with(model: type[ModelT], tool: str, arguments: Any) -> ModelT:
    """Validate a tool call's arguments with its model; a problem becomes a ToolError naming the field."""
    if not isinstance(arguments, dict):
        raise ToolError(f"{tool}: arguments must be a JSON object, got {arguments!r}.")
    try:
        return model.model_validate(arguments)
    except ValidationError as exc:
        raise ToolError(f"{tool}: {first_problem(exc, model)}") from None


def first_problem(exc: ValidationError, model: type[BaseModel]) -> str:
    """The first validation error in words, naming the argument's field path (e.g. 'scenarios.0.met')."""
    error = exc.errors()[0]
    field = ".".join(str(p) for p in error["loc"]) or "arguments"
    allowed = list(model.model_fields)
    if error["type"] == "extra_forbidden":
        return (f"unknown argument {field!r}.{did_you_mean(str(error['loc'][-1]), allowed)}"
                f" Allowed: {', '.join(allowed) or 'none'}.")
    if error["type"] == "missing":
        return f"missing required argument {field!r}."
    return f"argument {field!r}: {error['msg'].lower()}, got {error.get('input')!r}."
