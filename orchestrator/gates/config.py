"""What gates protect and how their commands run: the gate config files, and the sandbox options of a gate command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.run.context import RunContext

GATE_CONFIG_FILES = [".orchestrator/**", "pytest.ini", "tox.ini", "setup.cfg", "ruff.toml", ".ruff.toml",
                     "mypy.ini", "**/conftest.py", ".pre-commit-config.yaml", "pytest.py", "**/pytest.py",
                     "**/orchestrator_probe.py", "**/sitecustomize.py", "**/usercustomize.py"]
"""Files that define what success means for the gates, or could shadow the test runner; agents may not write them.

pyproject.toml's [tool.*] tables are guarded by the write policy itself (the rest of the file may change)."""


def protected_paths(ctx: RunContext) -> list[str]:
    """Gate configuration: shared config files plus the workflow file when it lives in the repo.

    Worked out once per session (every agent phase asks): the workflow file and the repo stay where they are."""
    return list(ctx.once("protected_paths", lambda: _protected_paths(ctx)))


def _protected_paths(ctx: RunContext) -> list[str]:
    paths = list(GATE_CONFIG_FILES)
    try:
        paths.append(ctx.workflow_path.resolve().relative_to(ctx.workspace.repo).as_posix())
    except ValueError:
        pass
    return paths


def command_options(ctx: RunContext, cwd: Path | None = None) -> dict[str, Any]:
    """Keyword arguments of `run_command` for a gate: the user's allowlist (never the repo's), the timeout,
    and, in the run's worktree, the base commit's tests, specs and conftest files mounted read-only."""
    from orchestrator.agents.write_policy import WritePolicy

    options: dict[str, Any] = {"allowlist": set(ctx.allowed_commands), "timeout_s": ctx.spec.settings.command_timeout_s}
    if cwd is None or cwd == ctx.workspace.path:
        policy = WritePolicy(ctx.workspace.path, protected_paths=protected_paths(ctx),
                             start_commit=ctx.workspace.base_commit)
        options["readonly"] = [ctx.workspace.path / rel for rel in policy.frozen_files()]
    return options
