"""Run the target's pytest with the gates' probe: test ids and outcomes, under the base commit's test config."""

from __future__ import annotations

import ast
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.agents.sandbox import run_command
from orchestrator.errors import ToolError
from orchestrator.gates.changes import TEST_CONFIG_FILES, Changes
from orchestrator.gates.result import CommandEvidence
from orchestrator.globs import glob_match
from orchestrator.run.workspace import git

PROBE_DIR = Path(__file__).resolve().parent / "probe"
PROBE_ARGS = ["-p", "orchestrator_probe", "-p", "no:cacheprovider"]
"""Load the probe; no .pytest_cache is written into the worktree."""


@dataclass
class PytestRun:
    """One pytest run seen through the probe. `reported` is False when pytest never got to write its report."""

    command: CommandEvidence
    output: str
    reported: bool
    collected: list[str] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)
    collect_errors: dict[str, str] = field(default_factory=dict)

    def outcome(self, test_id: str) -> str:
        """passed, failed, error, skipped, xfailed, xpassed; `not run` when it was never collected."""
        return self.outcomes.get(test_id, "not run")


def run_pytest(argv: list[str], cwd: Path, *, name: str = "tests", extra_args: list[str] | None = None,
               **options: Any) -> PytestRun:
    """Run argv (a pytest command) with the probe loaded, no bytecode and no cache written.

    `options` are run_command's sandbox options (allowlist, timeout_s, readonly); a command the sandbox
    refuses gives a run with no report, so the gate says `unknown` with the reason in its output.
    """
    with tempfile.TemporaryDirectory(prefix="orchestrator-probe-") as tmp:
        out = Path(tmp) / "probe.json"
        # The plugin travels in the results folder: the sandbox hides /tmp, /home and /root, where this
        # package itself may live.
        shutil.copy2(PROBE_DIR / "orchestrator_probe.py", Path(tmp) / "orchestrator_probe.py")
        pythonpath = os.pathsep.join(p for p in (tmp, os.environ.get("PYTHONPATH", "")) if p)
        env = {"PYTHONPATH": pythonpath, "ORCHESTRATOR_PROBE_OUT": str(out), "PYTHONDONTWRITEBYTECODE": "1"}
        full = [*argv, *PROBE_ARGS, *(extra_args or [])]
        try:
            result = run_command(full, cwd, max_output_chars=20000, env=env, writable=[Path(tmp)], **options)
        except ToolError as exc:
            return PytestRun(CommandEvidence(name=name, argv=full), f"refused: {exc}", reported=False)
        evidence = CommandEvidence(name=name, argv=full, exit_code=result.exit_code, timed_out=result.timed_out,
                                   seconds=result.duration_s)
        if not out.is_file():
            return PytestRun(evidence, result.output, reported=False)
        data = json.loads(out.read_text(encoding="utf-8"))
    return PytestRun(evidence, result.output, reported=True, collected=data["collected"],
                   outcomes=data["outcomes"], collect_errors=data["collect_errors"])


def run_pytest_at(repo: Path, commit: str, where: Path, argv: list[str], **kwargs) -> PytestRun:
    """The same run on a detached checkout of `commit` (the run's base), removed afterwards.

    A checkout left behind by a killed run is removed first, so a resumed run can always make its own.
    """
    _remove_checkout(repo, where)
    git(repo, "worktree", "add", "--quiet", "--detach", str(where), commit)
    try:
        return run_pytest(argv, where, **kwargs)
    finally:
        _remove_checkout(repo, where)


def _remove_checkout(repo: Path, where: Path) -> None:
    git(repo, "worktree", "remove", "--force", str(where), check=False)
    if where.exists():
        shutil.rmtree(where, ignore_errors=True)
    git(repo, "worktree", "prune", check=False)


def restore_base_test_config(worktree: Path, base: str, changes: Changes) -> list[str]:
    """Put the base commit's test configuration back where the run changed it; returns what was restored.

    Gates judge with the configuration the run started from, whoever (or whatever test) changed it.
    """
    restored = []
    for path in changes.files:
        if not glob_match(path, TEST_CONFIG_FILES):
            continue
        old = git(worktree, "show", f"{base}:{path}", check=False) if _exists_at(worktree, base, path) else None
        target = worktree / path
        current = target.read_text(encoding="utf-8", errors="replace") if target.is_file() else None
        if path == "pyproject.toml" and old is not None and current is not None and _same_tool_tables(old, current):
            continue
        if old is None:
            target.unlink(missing_ok=True)
        else:
            target.write_text(old, encoding="utf-8")
        restored.append(path)
    return restored


def _exists_at(worktree: Path, commit: str, path: str) -> bool:
    return bool(git(worktree, "ls-tree", "--name-only", commit, "--", path, check=False).strip())


def _same_tool_tables(old: str, new: str) -> bool:
    """pyproject.toml's [tool.*] tables hold pytest's and the linters' settings; the rest may change."""
    import tomllib

    try:
        return tomllib.loads(old).get("tool") == tomllib.loads(new).get("tool")
    except tomllib.TOMLDecodeError:
        return False


def defined_tests(source: str) -> list[str]:
    """Qualified names (`test_x`, `TestK::test_y`) of the test functions a module defines."""
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.append(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names += [f"{node.name}::{n.name}" for n in node.body
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test")]
    return names


def base_id(test_id: str) -> str:
    """A test id without its parameters: `f.py::test_x[1-2]` -> `f.py::test_x`."""
    return test_id.split("[", 1)[0]
