"""Gate specs in a workflow: the base every gate kind's spec model extends, and the union of the registered kinds.

The kinds come from the plugins (`register_gate_kinds`): the `gates:` section of a workflow is a union
discriminated on `kind`, built from whatever is registered when the workflow schema is first built, so an
unknown kind is a schema error with its line, never a default.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, TypeAdapter
from pydantic_core import CoreSchema

from orchestrator.errors import PluginError
from orchestrator.located_yaml import Location

KIND_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class CommandSpec(BaseModel):
    """One deterministic command of a quality gate, run without a shell."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Short label shown in reports, e.g. 'tests' or 'lint'.")
    run: list[str] = Field(min_length=1, description="argv of the command; no shell, so ';' and '$(...)' stay inert.")
    parser: Literal["pytest", "ruff", "generic", "auto"] = Field(
        "auto", description="How to parse the output into {file, line, message} findings."
    )


class GateSpec(BaseModel):
    """Base of every gate kind's spec: a subclass declares `kind: Literal["its-name"]` and its own fields."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="What the gate checks.")
    judges_work: ClassVar[bool] = True
    """False for a gate that judges nothing itself (a human's approval): it can't verify a speculative draft."""

    def persona_refs(self) -> list[tuple[Location, str]]:
        """(field path inside the gate, persona) of each persona the gate calls, for `validate` to check."""
        return []

    def programs(self) -> list[CommandSpec]:
        """Commands the gate runs (their programs join a trusted workflow's allowlist)."""
        return []

    def problems(self) -> list[str]:
        """What the schema can't say is wrong with the gate (e.g. a quality gate without commands)."""
        return []

    def summary(self, test_command: list[str]) -> str:
        """One line on what the gate does, for `orchestrator run --plan`."""
        doc = (type(self).__doc__ or self.kind).strip().splitlines()[0]
        return doc.rstrip(".")


def spec_kind(model: type[GateSpec]) -> str | None:
    """The name a spec model's `kind: Literal[...]` field pins, or None when it pins no single name."""
    annotation = model.model_fields["kind"].annotation
    args = get_args(annotation) if get_origin(annotation) is Literal else ()
    return args[0] if len(args) == 1 and isinstance(args[0], str) else None


@functools.cache
def gate_spec_models() -> dict[str, type[GateSpec]]:
    """{kind: spec model} of every registered gate kind (plugins load on the first call)."""
    from orchestrator.plugins import call_hook

    found: dict[str, type[GateSpec]] = {}

    def register(kind: Any) -> None:
        name, spec = getattr(kind, "name", None), getattr(kind, "spec", None)
        if not isinstance(name, str) or not KIND_NAME.match(name):
            raise PluginError(f"gate kind {kind!r}: `name` must be lower-case letters, digits and _, got {name!r}")
        if not (isinstance(spec, type) and issubclass(spec, GateSpec)) or spec_kind(spec) != name:
            raise PluginError(f"gate kind {name!r}: `spec` must be a GateSpec subclass with kind: Literal[{name!r}]")
        found[name] = spec

    call_hook("register_gate_kinds", register)
    return found


def gate_union() -> Any:
    """The registered kinds' spec models as one pydantic type discriminated on `kind`."""
    models = tuple(gate_spec_models().values())
    if len(models) == 1:
        return models[0]
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007 - a runtime-built union


class RegisteredGate:
    """Pydantic marker on `GateSpec`: validate into the registered kind's model (built when the schema is)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return handler.generate_schema(gate_union())


AnyGate = Annotated[GateSpec, RegisteredGate]
"""A gate as a workflow declares it: statically a GateSpec, at validation time its kind's own model."""


def make_gate(data: dict[str, Any]) -> GateSpec:
    """A gate spec from a mapping (e.g. `{"kind": "acceptance"}`), validated like one in a workflow."""
    gate: GateSpec = _adapter().validate_python(data)
    return gate


@functools.cache
def _adapter() -> TypeAdapter[GateSpec]:
    return TypeAdapter(AnyGate)
