"""An example orchestrator plugin: the `files_exist` gate kind, the `last_first` routing strategy and the
`count_lines` agent tool, each registered through the hook the built-ins use."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from orchestrator.agents.sandbox import resolve_inside
from orchestrator.agents.tools import Toolbox
from orchestrator.errors import ToolError
from orchestrator.gates.kind import GateKind, Judgement
from orchestrator.gates.result import GateResult
from orchestrator.plugins import hookimpl
from orchestrator.routing.base import RouteDecision, RouteRequest
from orchestrator.routing.capability import FilteredStrategy
from orchestrator.workflow.gate_spec import GateSpec
from orchestrator.workflow.state import RunState

if TYPE_CHECKING:  # only for the annotations: the run layer loads when a run starts, not with the plugin
    from orchestrator.models.registry import Registry
    from orchestrator.run.context import RunContext
    from orchestrator.workflow.spec import GateStepSpec


class FilesExistGateSpec(GateSpec):
    """The files that must exist in the run's worktree."""

    kind: Literal["files_exist"] = Field(description="What the gate checks.")
    paths: list[str] = Field(min_length=1, description="Paths relative to the repository root.")


class FilesExistGate(GateKind):
    """Every listed file exists in the run's worktree (a path leaving the worktree fails)."""

    name = "files_exist"
    spec = FilesExistGateSpec

    def judge(self, ctx: RunContext, step: GateStepSpec, gate: GateSpec, state: RunState) -> Judgement:
        assert isinstance(gate, FilesExistGateSpec)
        missing = [p for p in gate.paths if not _inside(ctx.workspace.path, p).is_file()]
        verdict: Literal["pass", "fail"] = "fail" if missing else "pass"
        reasons = [f"missing: {', '.join(missing)}"] if missing else [f"all {len(gate.paths)} file(s) exist"]
        return Judgement(GateResult(gate=step.id, kind=self.name, verdict=verdict, reasons=reasons))


def _inside(root: Path, path: str) -> Path:
    """The path inside the worktree; one that leaves it counts as missing."""
    try:
        return resolve_inside(root, path)
    except ToolError:
        return root / ".missing"


class LastFirst(FilteredStrategy):
    """The persona's models in reverse failover order (the last listed first)."""

    name = "last_first"

    def route(self, request: RouteRequest, candidates: list[str]) -> RouteDecision:
        """The persona's candidates, last first, through the capability filter every strategy applies."""
        started = time.perf_counter()
        return self.finish(request, list(reversed(candidates)), "last_first: the last listed model first", started)


def build_last_first(spec: Any, registry: Registry, state_dir: Path, base_dir: Path | None) -> LastFirst:
    """Build the strategy (it reads no options)."""
    return LastFirst(registry)


def count_lines(box: Toolbox, path: Annotated[str, Field(description="File path relative to the repository root.")]
                ) -> str:
    """Count the lines of a text file of the repository."""
    lines = box.read_text(box.existing_file(path), path).splitlines()
    return f"{path}: {len(lines)} lines"


@hookimpl
def register_gate_kinds(register: Callable[..., None]) -> None:
    """files_exist."""
    register(FilesExistGate)


@hookimpl
def register_routing_strategies(register: Callable[..., None]) -> None:
    """last_first."""
    register("last_first", build_last_first, description="the persona's models in reverse failover order")


@hookimpl
def register_tools(register: Callable[..., None]) -> None:
    """count_lines (it only reads, so the default effect)."""
    register(count_lines)
