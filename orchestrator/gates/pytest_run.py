"""Run the target's pytest with the gates' probe: test ids and outcomes, under the base commit's test config."""

from __future__ import annotations

import ast
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.agents.sandbox import run_command, sandbox_problem
from orchestrator.agents.shadowing import runner_shadows
from orchestrator.errors import ToolError
from orchestrator.gates.changes import TEST_CONFIG_FILES, Changes
from orchestrator.gates.probe_channel import probe_channel
from orchestrator.gates.result import CommandEvidence
from orchestrator.globs import glob_match
from orchestrator.run.workspace import git

PROBE_ARGS = ["-p", "no:cacheprovider"]
"""No .pytest_cache is written into the worktree."""
UNTRUSTED_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")


@dataclass
class PytestRun:
    """One pytest run seen through the probe. `reported` is False when pytest never got to write its report.

    `problem` says why the run can't be judged at all (a forged record, files that shadow the runner)."""

    command: CommandEvidence
    output: str
    reported: bool
    collected: list[str] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)
    collect_errors: dict[str, str] = field(default_factory=dict)
    plugins: list[str] = field(default_factory=list)
    problem: str | None = None
    limit: str | None = None  # the resource limit the run ran into, in words

    def outcome(self, test_id: str) -> str:
        """passed, failed, error, skipped, xfailed, xpassed; `not run` when it was never collected."""
        return self.outcomes.get(test_id, "not run")


def run_pytest(argv: list[str], cwd: Path, *, name: str = "tests", extra_args: list[str] | None = None,
               known_files: set[str] | None = None, **options: Any) -> PytestRun:
    """Run argv (a pytest command) with the probe loaded, no bytecode, no cache and no plugin autoload.

    `options` are run_command's sandbox options (allowlist, timeout_s, readonly); a command the sandbox
    refuses gives a run with no report, so the gate says `unknown` with the reason in its output.
    `known_files` (the base commit's files) turns on the check for files that shadow the runner.
    """
    shadows = runner_shadows(cwd, known_files) if known_files is not None else []
    if shadows:
        evidence = CommandEvidence(name=name, argv=list(argv))
        return PytestRun(evidence, "", reported=False, problem=_shadow_problem(shadows, "before the run"))
    with probe_channel() as channel:
        full = [*argv, "-p", channel.module, *PROBE_ARGS, *(extra_args or [])]
        untrusted = [str(Path(cwd).resolve()), *UNTRUSTED_FOLDERS]
        env = {**channel.env(untrusted, sandbox_problem() is None), "PYTHONDONTWRITEBYTECODE": "1"}
        readonly = [*options.pop("readonly", []), channel.folder]
        try:
            result = run_command(full, cwd, max_output_chars=20000, env=env, readonly=readonly,
                                 pass_fds=channel.pass_fds, **options)
        except ToolError as exc:
            return PytestRun(CommandEvidence(name=name, argv=full), f"refused: {exc}", reported=False)
        records = channel.read()
    evidence = CommandEvidence(name=name, argv=full, exit_code=result.exit_code, timed_out=result.timed_out,
                               seconds=result.duration_s)
    shadows = runner_shadows(cwd, known_files) if known_files is not None else []
    problem = records.problem or (_shadow_problem(shadows, "by the run") if shadows else None)
    return PytestRun(evidence, result.output, reported=records.finished and problem is None,
                     collected=records.collected, outcomes=records.outcomes, collect_errors=records.collect_errors,
                     plugins=records.plugins, problem=problem, limit=result.limit)


def _shadow_problem(shadows: list[str], when: str) -> str:
    return (f"files that replace the test runner or its plugins were made {when}: {', '.join(shadows[:6])}; "
            "a run with them can't be trusted (remove them)")


def base_files(repo: Path, commit: str) -> set[str]:
    """Every path of `commit`'s tree, folders included: files there are the base configuration, not a forge."""
    listing = git(repo, "ls-tree", "-r", "-t", "-z", "--name-only", commit)
    return {p for p in listing.split("\0") if p}


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
        current = target.read_text(encoding="utf-8", errors="replace") if target.is_file() and \
            not target.is_symlink() else None
        if path == "pyproject.toml" and old is not None and current is not None and _same_tool_tables(old, current):
            continue
        _replace_file(worktree, path, old)
        restored.append(path)
    return restored


def _replace_file(worktree: Path, rel_path: str, text: str | None) -> None:
    """Write (or, for None, delete) a worktree file without following a link a test may have left on the way.

    A symlinked folder on the path is replaced by a real one, a symlink or hard link at the file itself is
    removed first, and the new file is created exclusively: nothing outside the worktree is written.
    """
    folder = worktree
    for part in Path(rel_path).parts[:-1]:
        folder = folder / part
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            folder.unlink()
        folder.mkdir(exist_ok=True)
    target = folder / Path(rel_path).name
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.is_symlink() or target.exists():
        target.unlink()  # unlink removes a link itself, never what it points at
    if text is None:
        return
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


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
