"""The toolbox an agent phase gets: its persona tools in the worktree, behind the write rules."""

from __future__ import annotations

from typing import Any

from orchestrator.run.context import RunContext


def agent_toolbox(ctx: RunContext, tools: list[str], scope: list[str] | None = None,
                  baseline: str = "HEAD", persona: Any = None) -> Any:
    """The persona's tools in the worktree, with the denial rules enforced in the tool layer.

    The baseline is the phase's starting commit, so tests and Contracts written earlier in the run
    (by the tester, by the spec writer) are protected from later phases too. A persona's own `writes`
    globs (the spec writer: specs/; the tester: test files) bound what it may write, whatever its prompt says.
    """
    from orchestrator.agents.tools import Toolbox
    from orchestrator.agents.write_policy import WritePolicy

    settings = ctx.spec.settings
    policy = WritePolicy(ctx.workspace.path, scope=scope, protected_paths=protected_paths(ctx),
                         allow_refinement=settings.refinement, start_commit=baseline,
                         role_scope=getattr(persona, "writes", None), role=getattr(persona, "name", ""))
    return Toolbox(ctx.workspace.path, test_command=settings.test_command, allowlist=set(settings.allowed_commands),
                   timeout_s=settings.command_timeout_s, policy=policy, tools=tools)


GATE_CONFIG_FILES = [".orchestrator/**", "pytest.ini", "tox.ini", "setup.cfg", "ruff.toml", ".ruff.toml",
                     "mypy.ini", "**/conftest.py", ".pre-commit-config.yaml", "pytest.py", "**/pytest.py",
                     "**/orchestrator_probe.py", "**/sitecustomize.py", "**/usercustomize.py"]


"""Files that define what success means for the gates, or could shadow the test runner; agents may not write them.

pyproject.toml's [tool.*] tables are guarded by the write policy itself (the rest of the file may change)."""


def protected_paths(ctx: RunContext) -> list[str]:
    """Gate configuration: shared config files plus the workflow file when it lives in the repo."""
    paths = list(GATE_CONFIG_FILES)
    try:
        paths.append(ctx.workflow_path.resolve().relative_to(ctx.workspace.repo).as_posix())
    except ValueError:
        pass
    return paths
