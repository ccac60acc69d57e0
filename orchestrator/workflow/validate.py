"""Check a workflow file without importing LangGraph or LiteLLM: one line per problem, with file:line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from orchestrator.agents.personas import known_personas, persona_files, read_persona_file
from orchestrator.errors import ConfigError, WorkflowValidationError, did_you_mean
from orchestrator.located_yaml import LocatedYaml, Location, field_path, load_located_file, short_repr
from orchestrator.routing.registry import step_blind_strategies
from orchestrator.workflow.gate_kinds import ReviewGateSpec
from orchestrator.workflow.gate_spec import CommandSpec, GateSpec, gate_spec_models
from orchestrator.workflow.graph_checks import capped, cycles, engine_nodes, field_loc
from orchestrator.workflow.salvage import Salvage, salvage
from orchestrator.workflow.spec import (
    RESERVED_TARGETS,
    AgentStepSpec,
    DispatchStepSpec,
    EscalateStepSpec,
    GateStepSpec,
    WorkflowSpec,
    step_targets,
)

_STEP_MODELS: dict[str, type[BaseModel]] = {
    "agent": AgentStepSpec,
    "gate": GateStepSpec,
    "dispatch": DispatchStepSpec,
    "escalate": EscalateStepSpec,
}


def load_workflow(path: Path | str, repo: Path | str | None = None) -> WorkflowSpec:
    """Read, parse and fully validate a workflow (a file, or a name such as `feature`); raise
    WorkflowValidationError listing every problem."""
    repo = Path(repo) if repo is not None else None
    if not isinstance(path, Path):
        path = find_workflow(path, repo)
    spec, problems = validate_file(path, repo)
    if problems or spec is None:
        raise WorkflowValidationError(problems)
    return spec


def validate_file(path: Path, repo: Path | None = None) -> tuple[WorkflowSpec | None, list[str]]:
    """(the workflow, or its valid part, or None; every problem of the file) in one pass.

    Schema errors don't hide semantic ones: the checks run on what is left once the invalid parts are
    cut (orchestrator.workflow.salvage). Only a YAML syntax error stops short (ConfigError)."""
    located = load_located_file(path)
    if not isinstance(located.data, dict):
        return None, [f"{located.where(())}: a workflow is a mapping with name and steps"]
    spec: WorkflowSpec | None
    cut: Salvage | None = None
    try:
        spec, problems = WorkflowSpec.model_validate(located.data), []
    except ValidationError as exc:
        problems = _schema_problems(exc, located)
        spec, cut = salvage(located.data, exc.errors(), _data_loc)
    repo = repo or repo_of_workflow(path)
    if spec is not None:
        hint = "" if repo else " (without --repo, only shipped personas are known)"
        problems += check_workflow(spec, located, known_personas(repo), cut, persona_checker(repo), hint)
    return spec, sorted(problems, key=lambda p: _line(p, located.source))


def _line(problem: str, source: str) -> int:
    """The line number of a `file:line: ...` problem, to list problems in file order."""
    number = problem[len(source) + 1 :].split(":", 1)[0]
    return int(number) if number.isdigit() else 0


def repo_of_workflow(path: Path) -> Path | None:
    """The repository a workflow file belongs to when it sits in `<repo>/.orchestrator/workflows/`, else None."""
    folder = path.resolve().parent
    if folder.name == "workflows" and folder.parent.name == ".orchestrator":
        return folder.parent.parent
    return None


def persona_checker(repo: Path | None) -> Callable[[str], str | None]:
    """A function naming what is wrong with a known persona's file (unknown key or tool, bad value), or None."""
    files = persona_files(repo)
    found: dict[str, str | None] = {}

    def problem(name: str) -> str | None:
        if name not in found:
            try:
                read_persona_file(files[name])
                found[name] = None
            except ConfigError as exc:
                found[name] = str(exc)
        return found[name]

    return problem


def check_workflow(spec: WorkflowSpec, located: LocatedYaml, personas: list[str], cut: Salvage | None = None,
                   persona_problem: Callable[[str], str | None] | None = None, unknown_hint: str = "") -> list[str]:
    """Semantic checks a schema can't express: names, the personas' own files, targets, reachability and
    capped cycles.

    `cut` says what schema errors removed, so its absence is not reported twice."""
    checker = _Checker(spec, located, personas, cut, persona_problem)
    checker.unknown_hint = unknown_hint
    checker.run()
    return checker.problems


def _schema_problems(exc: ValidationError, located: LocatedYaml) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = _data_loc(err["loc"], located.data)
        problems.append(f"{located.where(loc)}: {format_loc(loc)}: {_describe(err, loc, located.data)}")
    return problems


def _data_loc(loc: tuple[Any, ...], data: Any) -> Location:
    """Drop pydantic's discriminator tags so the path matches the YAML ('steps.2.gate.x' -> steps[2].x)."""
    out: list[str | int] = []
    for part in loc:
        if out and isinstance(out[-1], int) and out[:1] == ["steps"] and len(out) == 2 and part in _STEP_MODELS:
            continue
        if out[:1] == ["gates"] and len(out) == 2 and part in gate_spec_models():  # 'gates.t.quality.x' -> gates.t.x
            continue
        out.append(part)
    return tuple(out)


def format_loc(loc: Location) -> str:
    """Field path as a reader writes it: steps[2].persona; a key that is not a plain word is quoted (['a b'])."""
    return field_path(loc) or "(top level)"


def _describe(err: ErrorDetails, loc: Location, data: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = loc[-1]
        return f"unknown key {short_repr(key)}.{did_you_mean(str(key), _fields_at(loc[:-1], data))}"
    if loc[:1] == ("gates",) and kind in ("union_tag_invalid", "union_tag_not_found"):
        return _gate_kind_problem(err)
    if kind == "union_tag_invalid":
        tag = err.get("input", {}).get("type") if isinstance(err.get("input"), dict) else None
        return f"unknown step type {short_repr(tag)}.{did_you_mean(str(tag), _STEP_MODELS)}"
    if kind == "missing":
        return "required field is missing"
    if kind == "unknown_name":
        return str(err["msg"])
    return f"{err['msg']} (got {short_repr(err.get('input'))})"


def _gate_kind_problem(err: ErrorDetails) -> str:
    """A gate whose `kind` is missing or names no registered gate kind (built-in or a plugin's)."""
    kinds = list(gate_spec_models())
    tag = err.get("input", {}).get("kind") if isinstance(err.get("input"), dict) else None
    if tag is None:
        return f"a gate needs `kind`, one of: {', '.join(kinds)}"
    return (f"unknown gate kind {short_repr(tag)}.{did_you_mean(str(tag), kinds)} Known kinds: {', '.join(kinds)} "
            "(a plugin adds more: see `orchestrator plugins`)")


def _fields_at(loc: Location, data: Any) -> list[str]:
    """Field names the model at `loc` accepts, for "Did you mean" on unknown keys."""
    from orchestrator.workflow.spec import SettingsSpec

    if not loc:
        return list(WorkflowSpec.model_fields)
    if loc[0] == "steps" and len(loc) == 2:
        step = _get(data, loc)
        kind = step.get("type", "agent") if isinstance(step, dict) else "agent"
        return list(_STEP_MODELS.get(kind, AgentStepSpec).model_fields)
    if loc == ("settings",):
        return list(SettingsSpec.model_fields)
    if loc[0] == "gates" and len(loc) == 2:
        gate = _get(data, loc)
        kind = gate.get("kind") if isinstance(gate, dict) else None
        return list(gate_spec_models().get(str(kind), GateSpec).model_fields)
    if loc[0] == "gates" and "commands" in loc:
        return list(CommandSpec.model_fields)
    return []


def _get(data: Any, loc: Location) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


class _Checker:
    """Collects semantic problems of a schema-valid workflow."""

    def __init__(self, spec: WorkflowSpec, located: LocatedYaml, personas: list[str], cut: Salvage | None = None,
                 persona_problem: Callable[[str], str | None] | None = None):
        self.spec, self.located, self.personas = spec, located, personas
        self.persona_problem = persona_problem or (lambda name: None)
        self.personas_reported: set[str] = set()
        self.unknown_hint = ""
        self.cut = cut or Salvage(step_index=list(range(len(spec.steps))))
        self.problems: list[str] = []
        self.index: dict[str, int] = {}

    def report(self, loc: Location, message: str) -> None:
        if loc[:1] == ("steps",) and len(loc) > 1 and isinstance(loc[1], int):
            loc = ("steps", self.cut.step_index[loc[1]], *loc[2:])  # where the step is in the file
        self.problems.append(f"{self.located.where(loc)}: {format_loc(loc)}: {message}")

    def run(self) -> None:
        if not self.spec.steps:
            if not self.cut.lost_steps:
                self.report(("steps",), "no entry step: the workflow has no steps")
            return
        self.check_ids()
        self.check_entry()
        self.check_targets()
        # Reachability and cycles need the whole graph: not with broken ids or targets, or steps cut.
        if not self.problems and not self.cut.graph_cut:
            self.check_reachable()
            self.checkcycles()
        self.check_names()
        self.check_ensembles()
        self.check_declarations()

    def check_ids(self) -> None:
        engine = engine_nodes(self.spec)
        for i, step in enumerate(self.spec.steps):
            if step.id in RESERVED_TARGETS:
                self.report(("steps", i, "id"), f"{step.id!r} is a reserved target name; pick another id")
            elif step.id in engine or step.id.startswith("__"):
                why = engine.get(step.id, "the engine's own nodes (ids starting with '__')")
                self.report(("steps", i, "id"), f"{step.id!r} is reserved for {why}; pick another id")
            elif step.id in self.index:
                first = self.located.line_of(("steps", self.index[step.id]))
                self.report(("steps", i, "id"), f"duplicate id {step.id!r} (first used at line {first})")
            else:
                self.index[step.id] = i

    def check_entry(self) -> None:
        entry = self.spec.entry
        if entry is not None and entry not in self.index and entry not in self.cut.lost_steps:
            self.report(("entry",), f"no entry step: unknown step {entry!r}.{did_you_mean(entry, self.index)}")

    def check_names(self) -> None:
        for i, step in enumerate(self.spec.steps):
            if isinstance(step, (AgentStepSpec, DispatchStepSpec, EscalateStepSpec)):
                self.check_persona(("steps", i, "persona"), step.persona)
            if isinstance(step, GateStepSpec) and step.gate not in self.spec.gates | dict.fromkeys(self.cut.lost_gates):
                hint = did_you_mean(step.gate, self.spec.gates)
                self.report(("steps", i, "gate"), f"unknown gate {step.gate!r}.{hint}")
        for name, gate in self.spec.gates.items():
            for where, persona in gate.persona_refs():
                self.check_persona(("gates", name, *where), persona)
            for problem in gate.problems():
                self.report(("gates", name), problem)
        for role in self.spec.models:
            self.check_persona(("models", role), role)

    def check_ensembles(self) -> None:
        """Best-of-n and speculative need work to judge: agent steps (not PBI fan-outs or spec authoring),
        critics and dispatchers; speculative agent steps need a gate after them to verify the draft."""
        for i, step in enumerate(self.spec.steps):
            if isinstance(step, AgentStepSpec):
                self.check_agent_ensemble(i, step)
            elif isinstance(step, GateStepSpec) and isinstance(gate := self.spec.gates.get(step.gate), ReviewGateSpec):
                moderator = gate.moderator
                chosen = self.routing_of(step, moderator) if moderator else None
                if chosen is not None and chosen.strategy in ("parallel", "speculative"):
                    self.report(("steps", i), f"{chosen.strategy} routing can't run the moderator {moderator!r}: "
                                "it merges verdicts into one; route its critics that way instead")

    def check_agent_ensemble(self, i: int, step: AgentStepSpec) -> None:
        """An agent step's best-of-n or speculative routing must have something it can judge."""
        strategy = self.routing_of(step, step.persona).strategy
        several = step.best_of is not None or strategy in ("parallel", "speculative")
        where = ("steps", i, "best_of") if step.best_of is not None else ("steps", i)
        if several and (step.for_each == "pbi" or step.deliverable == "spec"):
            what = "for_each: pbi" if step.for_each == "pbi" else "deliverable: spec"
            self.report(where, f"best-of-n and speculative steps can't use {what} (candidates each need the "
                        "worktree to themselves, and a submitted spec is judged after the step)")
        if strategy == "speculative" and step.best_of is not None:
            self.report(where, "best_of and speculative routing both pick the step's candidates; keep one")
        target = self.index.get(step.next)
        gate = self.spec.steps[target] if target is not None else None
        judged = isinstance(gate, GateStepSpec) and gate.gate in self.spec.gates and (
            self.spec.gates[gate.gate].judges_work)
        if strategy == "speculative" and not judged:
            self.report(("steps", i, "next"), "speculative routing verifies the draft with the gate after the "
                        "step: point `next` at a quality, red, review or spec gate step, or use best_of")

    def routing_of(self, step: Any, persona: str) -> Any:
        """The routing a persona gets in a step: the step's own, the persona's, the workflow default."""
        routing = self.spec.routing
        return getattr(step, "routing", None) or routing.personas.get(persona) or routing.default

    def check_declarations(self) -> None:
        """`stakes: high` and `interactive: true` must be honoured: refuse them under a strategy that can't."""
        for i, step in enumerate(self.spec.steps):
            persona = getattr(step, "persona", None)
            if persona is None:
                continue
            declared = [f for f, on in (("stakes: high", getattr(step, "stakes", "normal") == "high"),
                                        ("interactive: true", getattr(step, "interactive", False))) if on]
            routing = self.spec.routing
            chosen = getattr(step, "routing", None) or routing.personas.get(persona) or routing.default
            if declared and chosen.strategy in step_blind_strategies():
                self.report(("steps", i), f"{' and '.join(declared)} can't be honoured under {chosen.strategy} "
                            "routing (it picks one model regardless); use static, rules, cascade, semantic or "
                            "predictive for this step, or drop the declaration")

    def check_persona(self, loc: Location, name: str) -> None:
        if name not in self.personas:
            self.report(loc, f"unknown persona {name!r}.{did_you_mean(name, self.personas)}{self.unknown_hint}")
        elif name not in self.personas_reported and (problem := self.persona_problem(name)):
            self.personas_reported.add(name)  # once per persona, at its first use
            self.report(loc, f"persona {name!r} is invalid: {problem}")

    def check_targets(self) -> None:
        valid = [*self.index, *RESERVED_TARGETS]
        for i, step in enumerate(self.spec.steps):
            for field, target in step_targets(step):
                if target not in valid and target not in self.cut.lost_steps:
                    loc = ("steps", i, *field_loc(field))
                    self.report(loc, f"unknown step target {target!r}.{did_you_mean(target, valid)}")

    def edges(self) -> dict[str, list[str]]:
        return {s.id: [t for _, t in step_targets(s) if t in self.index] for s in self.spec.steps}

    def check_reachable(self) -> None:
        edges, seen, todo = self.edges(), set(), [self.spec.entry_step]
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(edges[node])
        for i, step in enumerate(self.spec.steps):
            if step.id not in seen:
                self.report(("steps", i, "id"), f"unreachable step {step.id!r}: no path leads here from the entry step")

    def checkcycles(self) -> None:
        for component in cycles(self.edges()):
            if not any(capped(self.spec.step(s)) for s in component):
                first = min(component, key=self.index.__getitem__)
                path = " -> ".join(sorted(component, key=self.index.__getitem__))
                self.report(("steps", self.index[first]),
                            f"cycle with no cap: {path}; set max_rounds on a gate or dispatch step in it")


def find_workflow(name_or_path: str, repo: Path | str | None = None) -> Path:
    """A workflow file from a path, or a bare name looked up in the repo's .orchestrator/ then shipped ones."""
    from orchestrator.resources import shipped_dir

    repo = Path(repo) if repo is not None else None
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"{path}: no such workflow file")
        return path
    folders = ([repo / ".orchestrator" / "workflows"] if repo else []) + [shipped_dir("workflows")]
    known: list[str] = []
    for folder in folders:
        for suffix in (".yaml", ".yml"):
            if (folder / f"{name_or_path}{suffix}").is_file():
                return folder / f"{name_or_path}{suffix}"
        known += [p.stem for p in folder.glob("*.y*ml")] if folder.is_dir() else []
    if path.is_dir():  # a bare name that is also a folder here: say which one was meant
        raise ConfigError(f"{name_or_path!r} is a folder ({path.resolve()}), not a workflow file, and no workflow is "
                          f"named {name_or_path!r}.{did_you_mean(name_or_path, known)} Give the path of a .yaml file.")
    raise ConfigError(f"unknown workflow {name_or_path!r}.{did_you_mean(name_or_path, known)}")
