"""What a command line really runs: the resolved program must live outside the worktree, and git may not be
told to start other programs."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path, PurePosixPath

from orchestrator.errors import SandboxViolation

SAFE_GIT_KEYS = re.compile(
    r"^(user\.(name|email)|color\.[\w.]+|advice\.\w+|init\.defaultbranch|core\.quotepath|core\.autocrlf"
    r"|core\.safecrlf|diff\.(noprefix|renames|algorithm|context)|log\.\w+|status\.\w+|format\.pretty"
    r"|column\.ui)$", re.IGNORECASE)
"""`git -c` keys that only change how git formats or labels things; any other key might start a program."""
FIXED_GIT_SETTINGS = frozenset({"core.hookspath=/dev/null", "core.fsmonitor=false", "core.attributesfile=/dev/null"})
"""The run's own hardening settings (sandbox.SAFE_GIT_CONFIG): they stop programs rather than start them."""
_PROGRAM_OPTIONS = ("--upload-pack", "--receive-pack", "--exec", "--config-env", "--template")
_UPLOAD_PACK_SUBCOMMANDS = frozenset({"clone", "fetch", "pull", "ls-remote", "archive"})


def resolved_program(argv0: str, cwd: Path, path_env: str) -> Path | None:
    """The real file argv[0] starts: a path is taken from cwd, a bare name is looked up on PATH."""
    if "/" in argv0:
        candidate = Path(argv0) if os.path.isabs(argv0) else Path(cwd) / argv0
        return Path(os.path.realpath(candidate)) if candidate.exists() else None
    found = shutil.which(argv0, path=path_env)
    return Path(os.path.realpath(found)) if found else None


def check_program(argv0: str, cwd: Path, path_env: str, untrusted: list[Path], trusted: list[Path]) -> None:
    """Refuse a program that resolves into a folder the repo or its tests control (e.g. `./tools/python`).

    `trusted` are the user's own environments (a venv in the user's checkout) that the sandbox mounts read-only.
    """
    program = resolved_program(argv0, cwd, path_env)
    if program is None or any(program.is_relative_to(Path(os.path.realpath(t))) for t in trusted):
        return  # not found: run_command reports that with its own message
    for folder in untrusted:
        real = Path(os.path.realpath(folder))
        if program == real or program.is_relative_to(real):
            raise SandboxViolation(
                f"command {argv0!r} resolves to {program}, inside the repository; allowed programs must be "
                "installed outside it (name the program, e.g. `python`, not a path in the repo).")


def check_git_args(argv: list[str]) -> None:
    """Refuse git options that run another program: `-c alias.x=!sh`, core.sshCommand, --upload-pack, ext::."""
    if PurePosixPath(argv[0]).name.removesuffix(".exe") != "git":
        return
    settings, rest = _global_settings(argv[1:])
    for setting in settings:
        if not _safe_setting(setting):
            raise SandboxViolation(f"git -c {setting!r} is refused: only settings that change git's output "
                                   "(user.*, color.*, core.quotepath, ...) may be given; others can start programs.")
    subcommand = rest[0] if rest else ""
    for arg in argv[1:]:
        if arg.startswith(_PROGRAM_OPTIONS) or "ext::" in arg or arg.startswith("fd::"):
            raise SandboxViolation(f"git argument {arg!r} is refused: it makes git start another program.")
    if "-u" in rest and subcommand in _UPLOAD_PACK_SUBCOMMANDS:
        raise SandboxViolation(f"git {subcommand} -u is refused: it names a program for git to start.")


def _global_settings(args: list[str]) -> tuple[list[str], list[str]]:
    """The `-c` settings given before git's subcommand, and the arguments from the subcommand on."""
    settings: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-"):
        arg = args[i]
        if arg in ("-c", "-C", "--git-dir", "--work-tree", "--namespace") and i + 1 < len(args):
            if arg == "-c":
                settings.append(args[i + 1])
            i += 2
            continue
        if arg.startswith("-c"):
            settings.append(arg[2:])
        i += 1
    return settings, args[i:]


def _safe_setting(setting: str) -> bool:
    key, _, value = setting.partition("=")
    if f"{key.lower()}={value.lower()}" in FIXED_GIT_SETTINGS:
        return True
    return bool(SAFE_GIT_KEYS.match(key)) and not value.startswith("!")
