"""Quality gate: the configured commands under the base test config, and green tests judged id by id.

A pytest command passes only when every test that passed at the base commit still passes, none is lost,
skipped or xfailed that was not before, and the red tests of this run now pass (with `all_green`, the tests
failing at the base commit too). A run whose builder changed
no source file fails however green the suite is: it was green before the run too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.agents.sandbox import run_command
from orchestrator.errors import ToolError
from orchestrator.gates.changes import run_changes
from orchestrator.gates.config import command_options
from orchestrator.gates.findings import compress_findings, parse_output, tool_name
from orchestrator.gates.kind import gate_spec
from orchestrator.gates.pytest_run import (
    PytestRun,
    base_files,
    base_id,
    restore_base_test_config,
    run_pytest,
    run_pytest_at,
)
from orchestrator.gates.result import CommandEvidence, GateResult
from orchestrator.run.context import RunContext
from orchestrator.store.location import state_dir
from orchestrator.workflow.gate_kinds import QualityGateSpec
from orchestrator.workflow.gate_spec import CommandSpec
from orchestrator.workflow.spec import GateStepSpec
from orchestrator.workflow.state import RunState

BAD = ("failed", "error")
HIDDEN = ("skipped", "xfailed", "xpassed", "not run")


def is_pytest(command: CommandSpec) -> bool:
    """A command whose output the probe can read test by test."""
    return command.parser == "pytest" or (command.parser == "auto" and tool_name(command.run) == "pytest")


def run_quality_gate(ctx: RunContext, step: GateStepSpec, state: RunState) -> tuple[GateResult, dict]:
    """Judge the worktree; returns the result and the state to keep (the base commit's test outcomes)."""
    gate = gate_spec(ctx, step, QualityGateSpec)
    changes = run_changes(ctx.workspace)
    result = GateResult(gate=step.id, kind="quality", verdict="pass")
    problems: list[str] = []
    if gate.require_change and not changes.source:
        problems.append("the builder changed nothing: no source file differs from the base commit")
    restored = restore_base_test_config(ctx.workspace.path, ctx.workspace.base_commit, changes)
    bases = known_bases(state)
    ctx.workspace.adopt(restored)  # the next phase commit takes the base config, as the gate put it back
    findings = []
    for command in gate.commands:
        if is_pytest(command):
            key = base_key(command)
            bases[key] = base = bases.get(key) or _base_tests(ctx, command)
            # all_green: the tests failing at the base are this work's red tests, so they must pass now.
            red = [*state.get("red_tests", []), *(_base_failures(base) if gate.all_green else [])]
            more, found = _judge_tests(ctx, command, base, red, result)
        else:
            more, found = _run_plain(ctx, command, result)
        problems += more
        findings += found
    definite = [p for p in problems if not p.startswith("can't judge")]
    result.verdict = "fail" if definite else ("unknown" if problems else "pass")
    result.reasons = definite + [p for p in problems if p not in definite]
    if restored:
        result.reasons.append("test configuration changed in the run was put back to the base commit's: "
                              + ", ".join(restored))
    result.findings = compress_findings(findings) if findings else ""
    return result, ({"base_tests": bases} if bases else {})


def base_key(command: CommandSpec) -> str:
    """Base test outcomes are kept per command line: two pytest commands collect different tests."""
    return " ".join(command.run)


def known_bases(state: RunState) -> dict[str, Any]:
    """The base runs kept so far, by command line (a checkpoint of the older one-per-run shape is run again)."""
    stored = dict(state.get("base_tests") or {})
    return {} if "reported" in stored else stored


def _run_plain(ctx: RunContext, command: CommandSpec, result: GateResult) -> tuple[list, list]:
    """A non-test command (lint, types, build): it passes on exit code 0."""
    try:
        run = run_command(command.run, ctx.workspace.path, max_output_chars=20000,
                          env={"PYTHONDONTWRITEBYTECODE": "1"}, **command_options(ctx))
    except ToolError as exc:
        result.commands.append(CommandEvidence(name=command.name, argv=command.run))
        return [f"can't judge {command.name}: the sandbox refused it ({exc})"], []
    result.commands.append(CommandEvidence(name=command.name, argv=command.run, exit_code=run.exit_code,
                                           timed_out=run.timed_out, seconds=run.duration_s))
    if run.ok:
        return [], []
    if run.limit:
        return [f"{command.name}: stopped because {run.limit}"], []
    status = "timed out" if run.timed_out else f"failed (exit {run.exit_code})"
    parser = command.run if command.parser == "auto" else command.parser
    return [f"{command.name}: {status}"], parse_output(parser, run.output, exit_code=run.exit_code)


def _base_tests(ctx: RunContext, command: CommandSpec) -> dict[str, Any]:
    """The base commit's collected test ids and outcomes, run once per run and command on a detached checkout."""
    where = base_checkout(ctx)
    run = run_pytest_at(ctx.workspace.repo, ctx.workspace.base_commit, where, command.run,
                        name=f"{command.name} (base)", **command_options(ctx, where))
    return {"reported": run.reported, "collected": run.collected, "outcomes": run.outcomes,
            "collect_errors": sorted(run.collect_errors), "exit_code": run.command.exit_code,
            "plugins": run.plugins}


def _judge_tests(ctx: RunContext, command: CommandSpec, base: dict[str, Any], red: list[str],
                 result: GateResult) -> tuple[list[str], list]:
    """Problems of a pytest command's run, test id by test id, against the base run and the red tests."""
    known = base_files(ctx.workspace.path, ctx.workspace.base_commit)
    run = run_pytest(command.run, ctx.workspace.path, name=command.name, known_files=known, **command_options(ctx))
    result.commands.append(run.command)
    if not base.get("reported"):
        return ["can't judge the tests: the base commit's test run gave no report"], []
    if run.limit:
        return [f"{command.name}: stopped because {run.limit}"], parse_output(
            "pytest", run.output, exit_code=run.command.exit_code or 1)
    if run.problem:
        definite = run.problem.startswith("files that replace")
        return [run.problem if definite else f"can't judge {command.name}: {run.problem}"], []
    added = sorted(set(run.plugins) - set(base.get("plugins", run.plugins)))
    if added:
        return [f"{command.name}: plugins that the base configuration does not load were loaded: "
                f"{', '.join(added[:6])}; only the base commit's test configuration may add plugins"], []
    if not run.reported:
        reason = "timed out" if run.command.timed_out else f"exit {run.command.exit_code}"
        return [f"can't judge {command.name}: pytest ended ({reason}) without its report, e.g. a test stopped "
                "the process"], parse_output("pytest", run.output, exit_code=run.command.exit_code or 1)
    problems = _test_problems(run, base, red, result)
    if not run.collected and not run.collect_errors:
        problems.append(f"can't judge {command.name}: no tests were collected")
    if run.command.exit_code not in (0, None) and not problems and not _only_base_failures(run, base):
        problems.append(f"{command.name}: pytest exited {run.command.exit_code}")
    findings = parse_output("pytest", run.output, exit_code=run.command.exit_code) if problems else []
    return problems, findings


def _test_problems(run: PytestRun, base: dict[str, Any], red: list[str], result: GateResult) -> list[str]:
    """Lost, hidden, newly failing and still-red tests, each kind one reason with its ids."""
    base_outcomes = base["outcomes"]
    lost = [t for t in base["collected"] if t not in run.collected]
    hidden = [t for t in base["collected"] if t in run.collected and base_outcomes.get(t) not in HIDDEN
              and run.outcome(t) in HIDDEN]
    failing = [t for t in run.collected if run.outcome(t) in BAD and base_outcomes.get(t) not in BAD]
    errors = [e for e in run.collect_errors if e not in base["collect_errors"]]
    still_red = [t for t in red if not _passes(run, t)]
    result.tests.update(lost=lost, hidden=hidden, failing=failing, red=list(red), still_red=still_red,
                        collected=[f"{len(run.collected)} now, {len(base['collected'])} at the base"])
    problems = []
    for ids, what in ((lost, "lost (collected at the base commit, not now)"),
                      (hidden, "now skipped or xfailed (they ran at the base commit)"),
                      (failing, "failing"), (errors, "failing to collect"),
                      (still_red, "red tests of this run still not passing")):
        if ids:
            problems.append(f"{len(ids)} test(s) {what}: {', '.join(ids[:8])}" + (" ..." if len(ids) > 8 else ""))
    return problems


def _passes(run: PytestRun, test_id: str) -> bool:
    """A red test passes when it (every parametrisation of it) ran and passed."""
    matches = [t for t in run.collected if base_id(t) == base_id(test_id)]
    return bool(matches) and all(run.outcome(t) == "passed" for t in matches)


def _base_failures(base: dict[str, Any]) -> list[str]:
    """Test ids that failed or errored at the base commit."""
    return [t for t, outcome in base.get("outcomes", {}).items() if outcome in BAD]


def _only_base_failures(run: PytestRun, base: dict[str, Any]) -> bool:
    """True when pytest failed only on tests that already failed at the base commit."""
    bad = [t for t in run.collected if run.outcome(t) in BAD]
    return bool(bad) and all(base["outcomes"].get(t) in BAD for t in bad)


def base_checkout(ctx: RunContext) -> Path:
    """Where the base commit is checked out for a gate run (under .git/orchestrator, never the user's tree)."""
    return state_dir(ctx.workspace.repo) / "base" / ctx.run_id
