"""Checks before the first phase: role policy, keys of remote models, the sandbox, untrusted repo config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.agents.sandbox import sandbox_problem
from orchestrator.errors import ConfigError, SandboxUnavailable
from orchestrator.workflow.lint import workflow_roles
from orchestrator.workflow.trust import allowed_commands, refused_commands, shadow_notices


def sandbox_warnings(unsafe_no_sandbox: bool) -> list[str]:
    """Refuse a run when no sandbox works, unless the user opted out; the opt-out becomes a warning."""
    problem = sandbox_problem()
    if problem is None:
        return []
    if not unsafe_no_sandbox:
        raise SandboxUnavailable(f"cannot sandbox the commands this run executes: {problem}. Install bubblewrap, "
                                 "or pass --unsafe-no-sandbox to run tests and gate commands unconfined, as you.")
    return [f"UNSAFE: no sandbox ({problem}); --unsafe-no-sandbox: tests and gate commands ran unconfined, as you"]


def run_notices(spec: Any, path: Path, repo: Path, allow_commands: list[str]) -> list[str]:
    """What the repo itself decided for this run (shadowed shipped names, untrusted commands), to announce."""
    notices = shadow_notices(repo, path)
    refused = refused_commands(spec, allowed_commands(spec, path, repo, allow_commands))
    if refused:
        notices.append(f"the workflow's commands {', '.join(map(repr, refused))} are not in your allowlist and "
                       "will be refused; allow them with --allow-command NAME or allow_commands in your config")
    return notices


def uncommitted_notice(repo: Path) -> list[str]:
    """A run starts from HEAD: say so when the user's checkout holds changes the run will not see."""
    from orchestrator.run.workspace import git

    changed = [line for line in git(repo, "status", "--porcelain", "--untracked-files=no", check=False).splitlines()
               if line.strip()]
    if not changed:
        return []
    head = git(repo, "rev-parse", "--short", "HEAD", check=False).strip()
    return [f"{len(changed)} uncommitted change(s) in your checkout are not part of this run: it starts from "
            f"HEAD ({head}); your working tree is left as it is"]


def resolve_registry(repo: Path, spec: Any, overrides: dict[str, str], strict: bool) -> tuple[Any, list[str]]:
    from orchestrator.models.registry import load_registry

    registry = load_registry(repo, workflow_models=spec.models, overrides=overrides)
    critics, builders, used = workflow_roles(spec)
    warnings = registry.check_roles(strict=strict or spec.settings.roles == "strict", critics=critics,
                                    builders=builders, used=used)
    return registry, warnings


def check_keys(registry: Any, personas: list[str]) -> None:
    """Fail fast, before the first phase: every remote model the run may call has its key and a known id."""
    from orchestrator.models.check import check_models

    problems = check_models(registry, personas=personas, remote_only=True)
    if problems:
        raise ConfigError("the run can't call its models:\n" + "\n".join(f"  {p}" for p in problems)
                          + "\nFix these, or bind those roles to other models with --model ROLE=MODEL, then run again.")
