"""What a repository may decide for itself: its own workflows and models are announced, never trusted with commands."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from orchestrator.agents.sandbox import DEFAULT_ALLOWLIST, command_name
from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    from orchestrator.workflow.spec import WorkflowSpec


def user_settings_path() -> Path:
    """`$XDG_CONFIG_HOME/orchestrator/config.yaml`, defaulting to `~/.config/orchestrator/config.yaml`."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "orchestrator" / "config.yaml"


def user_allowed_commands() -> set[str]:
    """The program names of the user's own allowlist (`allow_commands:` in the user config file)."""
    path = user_settings_path()
    if not path.is_file():
        return set()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    names = data.get("allow_commands", []) if isinstance(data, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{path}: allow_commands must be a list of program names, e.g. [python, make]")
    return {command_name(n) for n in names}


def is_repo_local(path: Path, repo: Path) -> bool:
    """True when a config file lives inside the target repository (so whoever wrote the repo wrote it)."""
    return Path(path).resolve().is_relative_to(Path(repo).resolve())


def allowed_commands(spec: WorkflowSpec, workflow_path: Path, repo: Path, extra: Iterable[str] = ()) -> frozenset[str]:
    """Programs this run's agents and gates may start.

    Always the defaults, the user's config and `--allow-command`. A workflow from outside the repo (shipped,
    or the user's own file) also adds its `allowed_commands` and gate programs; a repo's own workflow adds
    nothing, so cloning a repo never lets it choose what runs.
    """
    allowed = set(DEFAULT_ALLOWLIST) | user_allowed_commands() | {command_name(n) for n in extra}
    if not is_repo_local(workflow_path, repo):
        allowed |= {command_name(n) for n in spec.settings.allowed_commands}
        allowed |= {command_name(c.run[0]) for gate in spec.gates.values() for c in gate.programs() if c.run}
    return frozenset(allowed)


def refused_commands(spec: WorkflowSpec, allowed: Iterable[str]) -> list[str]:
    """Gate and test programs of a workflow that the allowlist does not hold (to announce before the run)."""
    names = {command_name(c.run[0]) for gate in spec.gates.values() for c in gate.programs() if c.run}
    if spec.settings.test_command:
        names.add(command_name(spec.settings.test_command[0]))
    return sorted(names - set(allowed))


def shadow_notices(repo: Path, workflow_path: Path) -> list[str]:
    """One line per repo-local file that replaces a shipped workflow, persona or model binding."""
    from orchestrator.resources import defaults_file, shipped_dir

    repo = Path(repo).resolve()
    notices = []
    if is_repo_local(workflow_path, repo):
        rel, name = Path(workflow_path).resolve().relative_to(repo), Path(workflow_path).stem
        shadows = any((shipped_dir("workflows") / f"{name}{suffix}").is_file() for suffix in (".yaml", ".yml"))
        what = f"replaces the shipped workflow {name!r}" if shadows else "is not a shipped workflow"
        notices.append(f"the repo's {rel} {what}; its allowed_commands and gate commands are not trusted: only "
                       "programs in your own allowlist run (user config allow_commands or --allow-command)")
    for persona in sorted((repo / ".orchestrator" / "personas").glob("*.y*ml")):
        if (shipped_dir("personas") / f"{persona.stem}.yaml").is_file():
            notices.append(f"the repo's .orchestrator/personas/{persona.name} replaces the shipped persona "
                           f"{persona.stem!r}")
    models = repo / ".orchestrator" / "models.yaml"
    if models.is_file():
        names = _shadowed_names(models, defaults_file("models.yaml"))
        if names:
            notices.append(f"the repo's .orchestrator/models.yaml rebinds shipped names: {', '.join(names)}")
    return notices


def _shadowed_names(repo_file: Path, shipped_file: Path) -> list[str]:
    """`section.name` for every entry of the repo's models file that a shipped section already defines."""
    try:
        ours = yaml.safe_load(shipped_file.read_text(encoding="utf-8")) or {}
        theirs = yaml.safe_load(repo_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return []
    if not isinstance(theirs, dict):
        return []
    names = []
    for section, entries in theirs.items():
        shipped = ours.get(section)
        if isinstance(entries, dict) and isinstance(shipped, dict):
            names += [f"{section}.{name}" for name in entries if name in shipped]
        elif section in ours and not isinstance(entries, dict):
            names.append(str(section))
    return names


def binding_notices(spec: WorkflowSpec, workflow_path: Path, repo: Path) -> list[str]:
    """One line naming every model binding the repository makes, from its models.yaml or its own workflow."""
    from orchestrator.models.repo_trust import repo_models_file
    from orchestrator.models.spec import load_spec_file

    path = repo_models_file(repo)
    bindings = _models_file_bindings(load_spec_file(path)) if path is not None else []
    if spec.models and is_repo_local(workflow_path, repo):
        rel = Path(workflow_path).resolve().relative_to(Path(repo).resolve())
        bindings += [f"models.{p} -> {v} ({rel})" for p, v in spec.models.items()]
    if not bindings:
        return []
    return [f"the repository binds models for this run: {'; '.join(bindings)}; calls of these roles go to "
            "those models (override with --model ROLE=MODEL)"]


def _models_file_bindings(loaded: Any) -> list[str]:
    """`section.name -> value (.orchestrator/models.yaml:line)` for each binding a repo's models.yaml makes."""
    def place(*loc: Any) -> str:
        return f".orchestrator/models.yaml:{loaded.located.line_of(loc) if loaded.located else 1}"

    spec = loaded.spec
    bindings = [f"roles.{p} -> {v} ({place('roles', p)})" for p, v in spec.roles.items()]
    bindings += [f"profiles.{n} -> {', '.join(s.models)} ({place('profiles', n)})" for n, s in spec.profiles.items()]
    if spec.default_profile:
        bindings.append(f"default_profile -> {spec.default_profile} ({place('default_profile')})")
    if spec.ladder is not None:
        bindings.append(f"ladder -> {', '.join(spec.ladder)} ({place('ladder')})")
    return bindings
