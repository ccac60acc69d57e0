"""Red tests gate, after the tester: new tests exist, are collected, and fail on the code before the build.

A new test that already passes proves nothing, so it fails the gate. The red test ids go into the run
state; the quality gate after the build requires them to pass.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from orchestrator.agents.worktree_files import read_text, remove, write_text
from orchestrator.gates.changes import Changes, run_changes, spec_text
from orchestrator.gates.config import command_options
from orchestrator.gates.findings import compress_findings, parse_output
from orchestrator.gates.kind import gate_spec
from orchestrator.gates.pytest_run import (
    PytestRun,
    base_files,
    base_id,
    defined_tests,
    restore_base_test_config,
    run_pytest,
)
from orchestrator.gates.quality import BAD, is_pytest
from orchestrator.gates.result import GateResult, unknown
from orchestrator.run.context import RunContext
from orchestrator.run.workspace import git
from orchestrator.workflow.gate_kinds import RedGateSpec
from orchestrator.workflow.gate_spec import CommandSpec
from orchestrator.workflow.spec import GateStepSpec
from orchestrator.workflow.state import RunState

# A module that fails to import the code it tests is red for the right reason: the feature is missing.
MISSING_CODE_ERRORS = ("ImportError", "ModuleNotFoundError", "AttributeError", "NameError")
_MISSING_NAME = re.compile(r"No module named '([\w.]+)'|cannot import name '(\w+)'|has no attribute '(\w+)'|"
                           r"name '(\w+)' is not defined")


def run_red_gate(ctx: RunContext, step: GateStepSpec, state: RunState) -> tuple[GateResult, dict]:
    """Judge the tester's new tests against the code as it was at the base commit."""
    gate = gate_spec(ctx, step, RedGateSpec)
    changes = run_changes(ctx.workspace)

    def fail(*reasons: str, **kw: Any) -> tuple[GateResult, dict]:
        return GateResult(gate=step.id, kind="red", verdict="fail", reasons=list(reasons), **kw), {}

    if changes.source:
        return fail(f"source files changed before the build ({', '.join(changes.source[:5])}); new tests must "
                    "be judged against the code as it was, so the tester writes test files only")
    about = f"{ctx.task}\n{spec_text(ctx.workspace, changes)}"
    new, problems = new_test_functions(ctx, changes)
    problems += self_served(ctx, changes, about)
    if problems:
        return fail(*problems)
    if not new:
        return fail("no new test function in the diff: add at least one test that fails until the task is done")
    checks = count_checks(ctx, new) if gate.min_checks else None
    if checks is not None and checks < gate.min_checks:
        return fail(f"the new tests hold {checks} check(s) (asserts, self.assert... calls, pytest.raises blocks); "
                    f"this gate needs at least {gate.min_checks}: test more cases the task defines, each with its "
                    "exact result")
    ctx.workspace.adopt(restore_base_test_config(ctx.workspace.path, ctx.workspace.base_commit, changes))
    command = next((c for c in gate.commands if is_pytest(c)), None) or CommandSpec(
        name="tests", run=ctx.spec.settings.test_command, parser="pytest")
    # Collected with the whole suite, as the quality gate will run them: a basename clash or a file outside
    # the suite's test paths only shows there.
    suite = run_pytest([*command.run, "--collect-only"], ctx.workspace.path, name=f"{command.name} (collect all)",
                       **command_options(ctx))
    if not suite.reported:
        return unknown(step.id, "red", "pytest ended without its report while collecting the whole suite, so the "
                       "new tests can't be judged", commands=[suite.command]), {}
    problems = suite_problems(new, suite)
    if problems:
        return fail(*problems, commands=[suite.command])
    return _judge_new_tests(ctx, step, command, new, suite, about)


def _judge_new_tests(ctx: RunContext, step: GateStepSpec, command: CommandSpec, new: dict[str, list[str]],
                     suite: PytestRun, about: str) -> tuple[GateResult, dict]:
    """Run only the new tests on the code as it was: each must fail, and not on a name its own file lacks."""
    run = run_pytest([*command.run, *sorted(new)], ctx.workspace.path, name=f"{command.name} (new tests)",
                     known_files=base_files(ctx.workspace.path, ctx.workspace.base_commit), **command_options(ctx))
    if not run.reported:
        why = run.problem or "pytest ended without its report"
        return unknown(step.id, "red", f"{why}, so the new tests can't be judged",
                       commands=[suite.command, run.command]), {}
    result = judge_red(step.id, new, run, about=about)
    own = own_name_errors(ctx, new, run)
    if own:
        result.verdict, result.reasons, result.tests["red"] = "fail", own, []
    result.commands.insert(0, suite.command)
    return result, ({"red_tests": result.tests["red"]} if result.passed else {})


def suite_problems(new: dict[str, list[str]], suite: PytestRun) -> list[str]:
    """New test files the whole suite can't collect, or that break the collection of another test file."""
    problems = []
    for path, error in suite.collect_errors.items():
        if path not in new and "import file mismatch" in error:
            problems.append(f"{path}: collecting the whole suite with the new test files fails (import file "
                            "mismatch: two test files share a basename); give the new file a unique name")
    for path, names in new.items():
        error = suite.collect_errors.get(path, "")
        if error and not any(kind in error for kind in MISSING_CODE_ERRORS):
            problems.append(f"{path}: the whole suite can't collect it: {_last_line(error)}")
        elif not error and not any(base_id(t).split("::", 1)[0] == path for t in suite.collected):
            problems.append(f"{path}: the suite's test command ({', '.join(names[:3])}) does not collect it: put it "
                            "where the project's tests live, named as they are (e.g. tests/test_<feature>.py)")
    return problems


def own_name_errors(ctx: RunContext, new: dict[str, list[str]], run: PytestRun) -> list[str]:
    """New test files whose tests fail on a NameError of the file itself (a name used, never imported or
    defined there): such a test fails before the build and after it, and the builder may not fix tests."""
    raised = set(re.findall(r"NameError: name '(\w+)' is not defined", run.output))
    problems = []
    for path in new:
        # Read like a tool reads: the tests just ran and may have swapped their file for a link out of the worktree.
        text = read_text(ctx.workspace.path, path)
        try:
            tree = ast.parse(text or "")
        except (SyntaxError, ValueError):
            continue
        bound = module_names(tree)
        if bound is None:  # `from x import *`: what it binds can't be told from the file
            continue
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        for name in sorted((raised & used) - bound):
            problems.append(f"{path}: its tests fail with NameError: {name!r} is used but never imported or defined "
                            f"in the file, so they fail before and after the build; import {name} from the "
                            "project's code")
    return problems


def module_names(tree: ast.Module) -> set[str] | None:
    """Names a test module binds anywhere (imports, definitions, parameters, assignments); None on a star import."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return None
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):  # parameters and fixtures
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def count_checks(ctx: RunContext, new: dict[str, list[str]]) -> int:
    """Checks (`_is_check`) in the new test functions (a class's test methods included)."""
    count = 0
    for path, names in new.items():
        try:
            tree = ast.parse(read_text(ctx.workspace.path, path) or "")
        except (SyntaxError, ValueError):
            continue
        wanted = {name.split("::")[-1] for name in names}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in wanted:
                count += sum(_is_check(n) for n in ast.walk(node))
    return count


def _is_check(node: ast.AST) -> bool:
    """An assert statement, a unittest `self.assert...(...)` call, or a `with pytest.raises(...)` block."""
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr.startswith("assert")
    return isinstance(node, ast.With) and any(
        isinstance(item.context_expr, ast.Call) and ast.unparse(item.context_expr.func).endswith("raises")
        for item in node.items)


def new_test_functions(ctx: RunContext, changes: Changes) -> tuple[dict[str, list[str]], list[str]]:
    """Test file -> test functions it defines now and did not at the base commit; plus files that don't parse."""
    new, problems = {}, []
    for path in changes.tests:
        text = read_text(ctx.workspace.path, path) if path.endswith(".py") else None
        if text is None:
            continue
        try:
            now = defined_tests(text)
        except SyntaxError as exc:
            problems.append(f"{path}:{exc.lineno}: the test file does not parse ({exc.msg})")
            continue
        before = git(ctx.workspace.path, "show", f"{ctx.workspace.base_commit}:{path}", check=False)
        try:
            old = defined_tests(before) if before else []
        except SyntaxError:
            old = []
        twice = sorted({name for name in now if now.count(name) > 1})
        if twice:
            problems.append(f"{path}: {', '.join(twice)} defined more than once; only the last definition runs, "
                            "so give each test its own name")
        added = [name for name in dict.fromkeys(now) if name not in old]
        if added:
            new[path] = added
    return new, problems


def set_aside_run_tests(workspace) -> list[str]:
    """Put every test file the run changed back as it was at the base commit (new ones are removed).

    Used when a failed red gate climbs the tester: measured on the calc demo, the 1.5B shown the 0.5B's failed
    test file copied its mistake, so the stronger model starts from the base tests instead.
    """
    root, base = workspace.path, workspace.base_commit
    restored = []
    for path in run_changes(workspace).tests:
        old = git(root, "show", f"{base}:{path}", check=False)
        known = bool(git(root, "ls-tree", "--name-only", base, "--", path, check=False).strip())
        if known:  # a link a test left there is replaced, never written through
            write_text(root, path, old)
        else:
            remove(root, path)
        workspace.record_write(path, old.encode("utf-8") if known else None)  # the tester's commit takes it
        restored.append(path)
    return restored


def self_served(ctx: RunContext, changes: Changes, about: str) -> list[str]:
    """Test files that define the code under test themselves (`def subtract` in the test): such a test tests
    its own copy, passes before the build, and proves nothing about the project (measured: the 0.5B does this)."""
    problems = []
    for path in changes.tests:
        text = read_text(ctx.workspace.path, path) if path.endswith(".py") else None
        if text is None:
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue  # new_test_functions reports it
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if not node.name.startswith("test") and re.search(rf"\b{re.escape(node.name)}\s*\(", about):
                problems.append(f"{path}:{node.lineno}: defines {node.name} itself; the task asks the project's "
                                f"code for it, so import {node.name} from there and let the build add it")
    return problems


def judge_red(gate: str, new: dict[str, list[str]], run: PytestRun, about: str | None = None) -> GateResult:
    """Pass when every new test fails (or its module fails to import the missing code) before the build.

    With `about` (the task and the spec), a module that fails to import something neither of them names is
    red for the wrong reason (a test of another project's code, copied from an example).
    """
    red, reasons = [], []
    for path, names in new.items():
        error = run.collect_errors.get(path, "")
        for name in names:
            test_id = f"{path}::{name}"
            outcomes = [run.outcome(t) for t in run.collected if base_id(t) == test_id]
            if error:
                problem = _import_problem(error, about)
                red += [] if problem else [test_id]
                reasons += [f"{test_id}: {problem}"] if problem else []
            elif not outcomes:
                reasons.append(f"{test_id}: not collected by pytest (check its name and the test paths)")
            elif all(o in BAD for o in outcomes):
                red.append(test_id)
            elif any(o in ("passed", "xpassed") for o in outcomes):
                reasons.append(f"{test_id} passes before the build: it proves nothing")
            else:
                reasons.append(f"{test_id} is {'/'.join(sorted(set(outcomes)))} before the build: it proves nothing")
    ids = [f"{p}::{n}" for p, names in new.items() for n in names]
    verdict = "pass" if not reasons else "fail"
    findings = parse_output("pytest", run.output, exit_code=run.command.exit_code) if reasons else []
    return GateResult(gate=gate, kind="red", verdict=verdict, commands=[run.command],
                      reasons=reasons or [f"{len(red)} new test(s) fail before the build: {', '.join(red[:8])}"],
                      tests={"new": ids, "red": red}, findings=compress_findings(findings) if findings else "")


def _import_problem(error: str, about: str | None) -> str | None:
    """Why a collection error is not red for the right reason (the code the task asks for is missing)."""
    if not any(kind in error for kind in MISSING_CODE_ERRORS):
        return f"its module fails to collect: {_last_line(error)}"
    match = _MISSING_NAME.search(error)
    missing = next((g for g in match.groups() if g), "") if match else ""
    names = {missing, missing.rsplit(".", 1)[-1]} - {""}
    if about is not None and names and not any(re.search(rf"\b{re.escape(n)}\b", about) for n in names):
        return (f"its module fails to import {missing!r}, which neither the task nor the spec names: it fails "
                "for the wrong reason")
    return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "collection error"
