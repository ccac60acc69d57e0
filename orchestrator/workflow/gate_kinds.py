"""The spec models of the built-in gate kinds: quality, red, review, acceptance and spec.

Each is registered with its gate kind class (orchestrator.gates.builtin) through the same hook a plugin uses.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from orchestrator.located_yaml import Location
from orchestrator.workflow.gate_spec import CommandSpec, GateSpec


class QualityGateSpec(GateSpec):
    """Runs the commands (tests, lint, types, build); tests are judged id by id against the base commit."""

    kind: Literal["quality"] = Field(description="What the gate checks.")
    commands: list[CommandSpec] = Field(default_factory=list, description="The commands, in order.")
    require_change: bool = Field(
        True, description="Fail with 'the builder changed nothing' when no source file differs from the run's base "
        "commit.")
    all_green: bool = Field(
        False, description="Tests already failing at the base commit must pass too (the work is to make them pass, "
        "as in `implement`); default: no test may regress and this run's red tests must pass.")

    def programs(self) -> list[CommandSpec]:
        return list(self.commands)

    def problems(self) -> list[str]:
        return [] if self.commands else ["a quality gate needs at least one command"]

    def summary(self, test_command: list[str]) -> str:
        return "runs " + "; ".join(" ".join(c.run) for c in self.commands)


class RedGateSpec(GateSpec):
    """The tester's new tests must fail on the code before the build, for a reason the build can fix."""

    kind: Literal["red"] = Field(description="What the gate checks.")
    commands: list[CommandSpec] = Field(
        default_factory=list, description="The first pytest command runs the new test files (default: "
        "settings.test_command).")
    min_checks: int = Field(
        0, ge=0, le=50, description="The new test functions together must hold at least this many checks (assert "
        "statements, unittest `self.assert...` calls and pytest.raises blocks); default 0, no minimum. One check "
        "can't tell a right build from a wrong one.")

    def programs(self) -> list[CommandSpec]:
        return list(self.commands)

    def summary(self, test_command: list[str]) -> str:
        command = next((c.run for c in self.commands if c.parser == "pytest"), test_command)
        return f"new tests must fail before the build ({' '.join(command)})"


class ReviewGateSpec(GateSpec):
    """Critics on fresh context judge the diff against the spec's scenarios; a moderator merges several."""

    kind: Literal["review"] = Field(description="What the gate checks.")
    critics: list[str] = Field(default_factory=list, description="Critic personas, each on its own model.")
    moderator: str | None = Field(None, description="Persona that merges several critics' findings.")

    def persona_refs(self) -> list[tuple[Location, str]]:
        refs: list[tuple[Location, str]] = [(("critics", i), c) for i, c in enumerate(self.critics)]
        return refs + ([(("moderator",), self.moderator)] if self.moderator else [])

    def problems(self) -> list[str]:
        return [] if self.critics else ["a review gate needs at least one critic"]

    def summary(self, test_command: list[str]) -> str:
        moderator = f", merged by {self.moderator}" if self.moderator else ""
        return f"critics {', '.join(self.critics)}{moderator} judge the diff against the scenarios"


class AcceptanceGateSpec(GateSpec):
    """A human approves or rejects (the run pauses, resumable)."""

    kind: Literal["acceptance"] = Field(description="What the gate checks.")
    judges_work: ClassVar[bool] = False

    def summary(self, test_command: list[str]) -> str:
        return "a human approves or rejects"


class SpecGateSpec(GateSpec):
    """No spec, no build: the run's spec needs its sections, scenarios that parse, and real content."""

    kind: Literal["spec"] = Field(description="What the gate checks.")

    def summary(self, test_command: list[str]) -> str:
        return "checks the spec's Blueprint, Contract and scenarios"
