"""Checks before the first phase: role policy, keys of remote models, the sandbox, untrusted repo config."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.agents.sandbox import sandbox_problem
from orchestrator.errors import ConfigError, SandboxUnavailable, WorkspaceError
from orchestrator.workflow.lint import workflow_roles
from orchestrator.workflow.spec import AgentStepSpec, WorkflowSpec
from orchestrator.workflow.trust import allowed_commands, binding_notices, refused_commands, shadow_notices

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry


def sandbox_warnings(unsafe_no_sandbox: bool) -> list[str]:
    """Refuse a run when no sandbox works, unless the user opted out; the opt-out becomes a warning."""
    problem = sandbox_problem()
    if problem is None:
        return []
    if not unsafe_no_sandbox:
        raise SandboxUnavailable(f"cannot sandbox the commands this run executes: {problem}. Install bubblewrap, "
                                 "or pass --unsafe-no-sandbox to run tests and gate commands unconfined, as you.")
    return [f"UNSAFE: no sandbox ({problem}); --unsafe-no-sandbox: tests and gate commands ran unconfined, as you"]


def target_repo(path: Path) -> Path:
    """The --repo folder, resolved; a missing folder is a clear error (not a git repository: when it's used)."""
    repo = Path(path).expanduser().resolve()
    if not repo.is_dir():
        raise WorkspaceError(f"--repo {path}: no such folder; give the path of a git repository "
                             "(the default is the current folder)")
    return repo


def run_notices(spec: WorkflowSpec, path: Path, repo: Path, allow_commands: list[str]) -> list[str]:
    """What the repo itself decided for this run (shadowed shipped names, model bindings, untrusted commands)."""
    notices = shadow_notices(repo, path) + binding_notices(spec, path, repo)
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


def resolve_registry(repo: Path, spec: WorkflowSpec, overrides: dict[str, str], strict: bool, trust_repo: bool = False
                     ) -> tuple[Any, list[str]]:
    from orchestrator.models.registry import load_registry

    registry = load_registry(repo, workflow_models=spec.models, overrides=overrides, trust_repo=trust_repo)
    critics, builders, used = workflow_roles(spec)
    warnings = registry.check_roles(strict=strict or spec.settings.roles == "strict", critics=critics,
                                    builders=builders, used=used)
    return registry, warnings


def check_keys(registry: Registry, personas: list[str]) -> None:
    """Fail fast, before the first phase: every remote model the run may call has its key and a known id, the
    embedded ones are installed, and no persona depends only on servers that don't answer."""
    from orchestrator.models.check import check_models, down_servers, missing_local_install

    problems = check_models(registry, personas=personas, remote_only=True) + missing_local_install(registry, personas)
    problems += [] if problems else down_servers(registry, personas)
    if problems:
        raise ConfigError("the run can't call its models:\n" + "\n".join(f"  {p}" for p in problems)
                          + "\nFix these, or bind those roles to other models with --model ROLE=MODEL, then run again.")


def check_prices(registry: Registry, spec: WorkflowSpec, budget: Any, personas: list[str], pin: str | None = None
                 ) -> None:
    """Under a usd budget every model the run's personas are bound to (or the pin) must have a known price.

    An unpriced network model would cost $0 in the books, so a usd budget could never stop it.
    """
    caps = [spec.settings.budget.merged(budget),
            *(s.budget for s in spec.steps if isinstance(s, AgentStepSpec) and s.budget is not None)]
    if not any(c.usd is not None for c in caps):
        return
    models = [pin] if pin else [m for p in dict.fromkeys(personas) for m in registry.resolve(p).models]
    unpriced = [m for m in dict.fromkeys(models) if not registry.model_info(m).price_known]
    if unpriced:
        raise ConfigError(f"price unknown for {', '.join(unpriced)}: set input_cost_per_token and "
                          "output_cost_per_token in models.yaml or use a token budget")


def check_pin(registry: Registry, pin: str | None) -> None:
    """A `--pin` id is checked like a binding: a near-miss of a known id gets "Did you mean"."""
    from orchestrator.models.ids import normalise_model_id
    from orchestrator.models.registry import model_id_problems

    if pin and pin not in registry.profiles:
        pin = normalise_model_id(pin)
        described = [pin] if registry.has_model_entry(pin) else []
        problems = model_id_problems(pin, described, registry.profiles, "--pin")
        if problems:
            raise problems[0]


def prepare_run(options: Any, complete: Any) -> tuple[Path, Path, Any, Any, list[str]]:
    """Every check a run makes before it touches the repo, in one place: (repo, workflow file, workflow, registry,
    warnings). `options` is a runner.RunOptions; `complete` an injected model call (then no key is needed)."""
    from orchestrator.workflow.autonomy import apply_autonomy
    from orchestrator.workflow.validate import find_workflow, load_workflow

    repo = target_repo(options.repo)
    path = find_workflow(options.workflow, repo)
    spec = load_workflow(path, repo)
    if options.autonomy:
        spec.settings.autonomy = options.autonomy
    spec = apply_autonomy(spec)
    if not options.task.strip():
        raise ConfigError("--task is empty: say what the run should do")
    registry, warnings = resolve_registry(repo, spec, options.model_overrides, options.strict_roles,
                                          options.trust_repo_config)
    check_models_usable(registry, spec, options.budget, options.pin, complete)
    warnings += sandbox_warnings(options.unsafe_no_sandbox) + run_notices(spec, path, repo, options.allow_commands)
    warnings += uncommitted_notice(repo)
    return repo, path, spec, registry, warnings


def check_models_usable(registry: Registry, spec: WorkflowSpec, budget: Any, pin: str | None, complete: Any) -> None:
    """Before any call: the pin is a real id, every model has a price under a usd budget, remote keys are set."""
    from orchestrator.run.routing import check_routing_targets

    check_pin(registry, pin)
    check_routing_targets(registry, spec)
    check_prices(registry, spec, budget, workflow_roles(spec)[2], pin)
    if complete is None:  # an injected `complete` (tests, embedding) calls no provider
        check_keys(registry, workflow_roles(spec)[2])
