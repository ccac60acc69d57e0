"""Pydantic models that read workflow YAML: the workflow, its steps and its gates."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from orchestrator.agents.limits import LimitsSpec
from orchestrator.agents.tool_registry import FINISHING_TOOLS, tool_names
from orchestrator.plugins import RegisteredName
from orchestrator.routing.spec import RoutingSpec
from orchestrator.workflow.budget import BudgetSpec
from orchestrator.workflow.gate_spec import AnyGate

END = "end"
"""Reserved step target that finishes the run successfully."""

STOP = "stop"
"""Reserved step target that stops the run as a gate stop (exit code 3)."""

RESERVED_TARGETS = (END, STOP)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MonitorSpec(_Strict):
    """Monitors that halt an L4 run when its recent gate pass rate or its spend rate crosses a threshold."""

    window: int = Field(4, ge=1, description="How many recent gate verdicts the pass rate looks at.")
    min_pass_rate: float | None = Field(None, ge=0, le=1, description="Halt below this recent gate pass rate.")
    max_usd_per_minute: float | None = Field(None, ge=0, description="Halt above this spend rate.")
    drift_baseline: str | None = Field(
        None, description="Calibration file (`router calibrate --from-runs`); halt when a model drifts from it."
    )


class SettingsSpec(_Strict):
    """Run-wide settings a workflow may declare."""

    test_command: list[str] = Field(
        default_factory=lambda: ["python", "-m", "pytest", "-q"],
        description="argv the agents' run_tests tool runs.",
    )
    allowed_commands: list[str] = Field(
        default_factory=lambda: ["python", "python3", "pytest", "ruff", "git"],
        description="Program names agents' commands may start.",
    )
    max_tool_calls: int = Field(12, ge=1, le=500, description="Default cap on tool calls per agent step.")
    command_timeout_s: float = Field(300, gt=0, description="Timeout of each command an agent or gate runs.")
    roles: Literal["warn", "strict"] = Field("warn", description="builder != critic policy: warn or fail.")
    autonomy: Literal["L2", "L3", "L4"] = Field(
        "L3", description="L2: approve each diff; L3: autonomous loops, sign-off at the end; L4: no sign-off."
    )
    budget: BudgetSpec = Field(default_factory=BudgetSpec, description="Run-wide caps (tokens, usd, seconds).")
    packet_tokens: dict[str, int] = Field(
        default_factory=dict, description="Per-persona context packet budget in tokens (default 1500)."
    )
    monitor: MonitorSpec = Field(default_factory=lambda: MonitorSpec(), description="L4 halting monitors.")
    refinement: bool = Field(
        False, description="Allow agents to change tests and the spec's Contract (a human-approved refinement path)."
    )
    limits: LimitsSpec = Field(default_factory=LimitsSpec,
                               description="Processes, memory, file size and tmpfs size of each sandboxed command.")


class RoutingSection(_Strict):
    """How calls pick their model: a default strategy and per-persona strategies (steps may override)."""

    default: RoutingSpec = Field(default_factory=RoutingSpec, description="Strategy for every persona not listed.")
    personas: dict[str, RoutingSpec] = Field(default_factory=dict, description="persona -> strategy.")

    @model_validator(mode="before")
    @classmethod
    def _accept_one_strategy(cls, data: Any) -> Any:
        """`routing: pinned` or `routing: {strategy: ...}` sets the default for everyone."""
        if isinstance(data, str) or (isinstance(data, dict) and "strategy" in data):
            return {"default": data}
        return data


class _StepBase(_Strict):
    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$", description="Unique step id, used as a target.")
    description: str = Field("", description="What the step is for, shown in the graph and logs.")
    task_type: str = Field("", description="Task type for routing rules, the bandit and the predictive router.")
    interactive: bool = Field(False, description="A human waits on this step: routing prefers low latency.")
    tags: list[str] = Field(default_factory=list, description="Routing tags, e.g. residency:eu.")
    routing: RoutingSpec | None = Field(None, description="Routing strategy for this step only.")
    stakes: Literal["low", "normal", "high"] = Field(
        "normal", description="Declared stakes; routing may climb the ladder."
    )


class BestOfSpec(_Strict):
    """Best-of-n on an agent step: n candidates sampled hot, each on its own copy of the worktree.

    The step's gate (the gate step its `next` names) judges each candidate in turn and the first that
    passes wins; a step with no gate after it has `judge` pick among the candidates' diffs.
    `best_of: 3` is short for `best_of: {n: 3}`."""

    n: int = Field(ge=2, le=8, description="How many candidates to sample.")
    temperature: float = Field(0.7, gt=0, le=2, description="Sampling temperature of every candidate (above 0, "
                               "so candidates on one model differ).")
    judge: str = Field("critic", description="Persona that picks the winner when no gate follows the step.")

    @model_validator(mode="before")
    @classmethod
    def _accept_count(cls, data: Any) -> Any:
        """`best_of: 3` means three candidates."""
        return {"n": data} if isinstance(data, int) and not isinstance(data, bool) else data

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        """The JSON Schema accepts the shorthand too, so editors don't flag `best_of: 3`."""
        schema = handler.resolve_ref_schema(handler(core_schema))
        return {"anyOf": [{"type": "integer", "minimum": 2, "maximum": 8, "description": "n candidates"}, schema]}


class AgentStepSpec(_StepBase):
    """A persona does work in the worktree with its tools, then hands off to `next`."""

    type: Literal["agent"] = "agent"
    persona: str = Field(description="Persona that runs this step.")
    instructions: str = Field("", description="Step instructions; {task} is replaced by the run's task.")
    next: str = Field(END, description="Step to run afterwards, or 'end'.")
    max_tool_calls: int | None = Field(None, ge=1, le=500, description="Cap on tool calls for this step.")
    commit: bool = Field(True, description="Commit the step's changes with trailers.")
    scope: list[str] | None = Field(
        None, description="Glob patterns of files this step may write (a PBI's file scope); default: anywhere."
    )
    for_each: Literal["pbi"] | None = Field(
        None, description="pbi: run once per PBI of the spec, in its file scope; disjoint scopes run in parallel."
    )
    deliverable: Literal["handoff", "spec", "tests", "source"] = Field(
        "handoff", description="handoff: finish with a summary; spec: finish with submit_spec (a structured spec); "
        "tests: a new or changed test file; source: a changed source file. A step that ends without it fails.")
    stop_when_delivered: bool = Field(
        True, description="End the step as soon as its tests or source deliverable exists; the gate after it judges.")
    handoff_turn: bool = Field(
        True, description="With stop_when_delivered: one last turn asks for the handoff summary; false ends the step "
        "as soon as the deliverable exists (the handoff then names what was delivered), saving a model call.")
    budget: BudgetSpec | None = Field(None, description="Caps for this phase (tokens, usd, seconds).")
    opening: list[Annotated[str, RegisteredName("tool", tool_names, FINISHING_TOOLS)]] | None = Field(
        None, description="Tools offered on this step's first turn, in this order, one of which must be called; "
        "overrides the persona's `opening` (e.g. [edit, append_file] for a fix); unset: the persona's.")
    best_of: BestOfSpec | None = Field(
        None, description="Sample n candidates and keep the first its gate passes (or a judge's pick); "
        "`parallel` routing on the step does the same with its n models.")
    edit_format: Literal["tools", "code"] = Field(
        "tools", description="tools: the agent works through tool calls; code (tests or source deliverables only): "
        "no tools, the model answers with a ```python block that is merged into its file (the task's source file, or "
        "a new test file) and written through the same write policy, up to 3 replies.")
    tests_from_task: bool | Literal["also"] = Field(
        False, description="tests deliverable only. true (a bug report): when the task states calls of the function "
        "it names, with literal arguments, and the literal value each should give ('f(7, 2) returns 9, but it should "
        "return 5'), the step's first visit writes them as the test, with no model call; a later visit, or a task "
        "that states none, asks the persona. also (a feature request): the calls and results the request states "
        "('f([1, 2]) gives 3', or '[1, 2] -> 3' for a one-parameter function), and that the inputs stay unchanged "
        "when it says so, are written as a test on the first visit, and the persona writes its own beside it.")

    @model_validator(mode="after")
    def _code_needs_a_file(self) -> AgentStepSpec:
        if self.edit_format == "code" and self.deliverable not in ("tests", "source"):
            raise ValueError("edit_format: code needs deliverable: tests or source (the file its code block goes to)")
        if self.tests_from_task and self.deliverable != "tests":
            raise ValueError("tests_from_task needs deliverable: tests")
        return self


class GateStepSpec(_StepBase):
    """Runs a gate and branches on its verdict; a failure loops back within `max_rounds`."""

    type: Literal["gate"]
    gate: str = Field(description="Name of a gate in the workflow's `gates:` section.")
    on_pass: str = Field(END, description="Step after a pass, or 'end'.")
    on_fail: str = Field(STOP, description="Step after a failure (usually the builder), or 'stop'.")
    max_rounds: int | None = Field(
        None, ge=1, le=50, description="How many failures may loop back before the run stops (a cycle needs a cap)."
    )
    on_exhausted: str = Field(
        STOP, description="Step once failures pass max_rounds (e.g. an escalate step), or 'stop' for a human."
    )


class DispatchStepSpec(_StepBase):
    """A dispatcher persona picks the next step by tool call among `choices`; `default` on invalid output."""

    type: Literal["dispatch"]
    persona: str = Field("dispatcher", description="Persona that makes the choice.")
    choices: list[str] = Field(min_length=1, description="Steps the dispatcher may choose.")
    default: str = Field(description="Deterministic fallback when the choice is invalid or disallowed.")
    max_rounds: int | None = Field(None, ge=1, le=50, description="Cap on visits when the dispatch sits on a cycle.")
    rule: Literal["small_task"] | None = Field(
        None, description="Choose by a deterministic rule instead of a model call. small_task: the first choice when "
        "the task is small and well specified (it names a function and one to three existing, readable Python "
        "source files of at most 300 lines each, in at most 600 characters), else `default`.")


def _step_kind(value: object) -> str | None:
    """Discriminator: `type` may be omitted, and then the step is an agent step."""
    if isinstance(value, dict):
        return value.get("type", "agent")
    return getattr(value, "type", None)


class EscalateStepSpec(_StepBase):
    """Climbs a persona one rung up the escalation ladder (a stronger profile); at the top, a human takes over."""

    type: Literal["escalate"]
    persona: str = Field("builder", description="Persona whose binding climbs the ladder.")
    next: str = Field(description="Step to run on the stronger model (usually the builder's step).")


StepSpec = Annotated[
    Annotated[AgentStepSpec, Tag("agent")] | Annotated[GateStepSpec, Tag("gate")]
    | Annotated[DispatchStepSpec, Tag("dispatch")] | Annotated[EscalateStepSpec, Tag("escalate")],
    Discriminator(_step_kind),
]


AnyStep = AgentStepSpec | GateStepSpec | DispatchStepSpec | EscalateStepSpec


class WorkflowSpec(_Strict):
    """A workflow: steps wired into a graph, the gates they use and per-role model overrides."""

    # Built on first use, not at import: the gate kinds (and so the schema) come from the plugins.
    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str = Field(description="Workflow name.")
    description: str = Field("", description="One paragraph on what the workflow does.")
    entry: str | None = Field(None, description="First step; defaults to the first listed step.")
    settings: SettingsSpec = Field(default_factory=SettingsSpec, description="Run-wide settings.")
    models: dict[str, str] = Field(default_factory=dict, description="persona -> profile or model id overrides.")
    routing: RoutingSection = Field(default_factory=RoutingSection, description="Model routing strategies.")
    gates: dict[str, AnyGate] = Field(
        default_factory=dict, description="Named gates used by gate steps; `kind` picks the gate kind (built-in or "
        "a plugin's).")
    steps: list[StepSpec] = Field(description="The steps, in reading order.")

    def step(self, step_id: str) -> AnyStep:
        """The step with this id (validation guarantees ids are unique)."""
        return next(s for s in self.steps if s.id == step_id)

    @property
    def entry_step(self) -> str:
        """Id of the first step to run."""
        return self.entry or self.steps[0].id


def step_targets(step: AnyStep) -> list[tuple[str, str]]:
    """(field name, target) pairs of a step's outgoing edges, in a stable order."""
    if isinstance(step, (AgentStepSpec, EscalateStepSpec)):
        return [("next", step.next)]
    if isinstance(step, GateStepSpec):
        return [("on_pass", step.on_pass), ("on_fail", step.on_fail), ("on_exhausted", step.on_exhausted)]
    return [(f"choices[{i}]", c) for i, c in enumerate(step.choices)] + [("default", step.default)]
