"""The toolbox an agent phase gets: its persona tools in the worktree, behind the write rules."""

from __future__ import annotations

from typing import Any

from orchestrator.gates.config import protected_paths
from orchestrator.run.context import RunContext


def agent_toolbox(ctx: RunContext, tools: list[str], scope: list[str] | None = None,
                  baseline: str = "HEAD", persona: Any = None, files: list[str] | None = None) -> Any:
    """The persona's tools in the worktree, with the denial rules enforced in the tool layer.

    The baseline is the phase's starting commit, so tests and Contracts written earlier in the run
    (by the tester, by the spec writer) are protected from later phases too. A persona's own `writes`
    globs (the spec writer: specs/; the tester: test files) bound what it may write, whatever its prompt says.
    `files`: the worktree's files when the caller has just listed them (the toolbox then lists none itself).
    """
    from orchestrator.agents.tools import Toolbox
    from orchestrator.agents.write_policy import WritePolicy

    settings = ctx.spec.settings
    start = ctx.workspace.head() if baseline == "HEAD" else baseline
    policy = WritePolicy(ctx.workspace.path, scope=scope, protected_paths=protected_paths(ctx),
                         allow_refinement=settings.refinement, start_commit=start, baseline=_lazy_baseline(ctx, start),
                         role_scope=getattr(persona, "writes", None), role=getattr(persona, "name", ""))
    return Toolbox(ctx.workspace.path, test_command=settings.test_command, allowlist=set(ctx.allowed_commands),
                   timeout_s=settings.command_timeout_s, policy=policy, tools=tools, files=files,
                   on_write=ctx.workspace.record_write)


def _lazy_baseline(ctx: RunContext, sha: str) -> Any:
    """The write policy's reader of the phase's start commit, opened on its first read: most phases never
    write a protected file, and the start commit is a fixed sha, so reading later reads the same files."""
    from orchestrator.agents.write_policy import git_baseline

    reader = None

    def read(rel_path: str) -> str | None:
        nonlocal reader
        if reader is None:
            reader = git_baseline(ctx.workspace.path, sha)
        return reader(rel_path)

    return read
