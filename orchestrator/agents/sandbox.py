"""Confinement for agent tools: paths that stay inside the worktree and commands run in a bubblewrap sandbox."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from orchestrator.agents import bwrap, limits
from orchestrator.agents.argv_check import check_git_args, check_program
from orchestrator.agents.redact import SECRET_NAME, redact
from orchestrator.errors import SandboxViolation, ToolError

DEFAULT_ALLOWLIST = frozenset({"python", "pytest", "ruff", "mypy", "git"})

# An allowlist, not a denylist: a variable we never heard of can't leak. Names matching
# SECRET_NAME are dropped even when allowlisted (e.g. PYTHON_API_TOKEN).
SAFE_ENV_NAMES = frozenset(
    "PATH HOME USER LOGNAME LANG LANGUAGE TERM TZ TMPDIR TEMP TMP VIRTUAL_ENV NO_COLOR FORCE_COLOR CI"
    " SYSTEMROOT COMSPEC PATHEXT".split()
)
SAFE_ENV_PREFIXES = ("LC_", "PYTHON", "PYTEST_")
_VERSION_SUFFIX = re.compile(r"[0-9.]+$")
_GRACE_S = 5.0
SAFE_GIT_CONFIG = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
                   "-c", "core.attributesFile=/dev/null")
"""The run's own git commands never start the repo's hooks or fsmonitor, nor read a user attributes file."""
MAX_PATH_PARTS = 64
MAX_PATH_CHARS = 1024


@dataclass
class SandboxPolicy:
    """Process-wide choices of the current run: may commands run unconfined, and when does its wall budget end."""

    allow_unsafe: bool = False
    deadline: float | None = None  # time.monotonic() value; commands and tools stop by then
    limits: limits.LimitsSpec = field(default_factory=limits.LimitsSpec)


_POLICY = SandboxPolicy()


@contextmanager
def sandbox_policy(*, allow_unsafe: bool = False, deadline: float | None = None,
                   resource_limits: limits.LimitsSpec | None = None) -> Iterator[SandboxPolicy]:
    """Set the policy for the duration of one run session, restoring the previous one afterwards."""
    global _POLICY
    previous, _POLICY = _POLICY, SandboxPolicy(allow_unsafe=allow_unsafe, deadline=deadline,
                                               limits=resource_limits or limits.LimitsSpec())
    try:
        yield _POLICY
    finally:
        _POLICY = previous


def remaining_s(limit_s: float) -> float:
    """`limit_s` capped by the time left before the run's wall-clock deadline (never below 0)."""
    if _POLICY.deadline is None:
        return limit_s
    return max(0.0, min(limit_s, _POLICY.deadline - time.monotonic()))


def sandbox_problem() -> str | None:
    """Why commands cannot be sandboxed on this machine, or None when bubblewrap works."""
    return bwrap.unavailable_reason()


@dataclass(frozen=True)
class CommandResult:
    """What one sandboxed command did: exit code, merged output (maybe truncated) and timing."""

    argv: list[str]
    exit_code: int
    output: str
    timed_out: bool
    truncated: bool
    duration_s: float
    limit: str | None = None  # which resource limit the command ran into, in words

    @property
    def ok(self) -> bool:
        """True when the command finished in time with exit code 0."""
        return self.exit_code == 0 and not self.timed_out and self.limit is None


def resolve_inside(root: Path, user_path: str) -> Path:
    """Resolve an agent-supplied relative path, refusing anything that lands outside `root` or in .git."""
    if not isinstance(user_path, str) or "\x00" in user_path:
        raise SandboxViolation(f"path {user_path!r} is not a valid path string.")
    if len(user_path) > MAX_PATH_CHARS or user_path.count("/") + user_path.count("\\") >= MAX_PATH_PARTS:
        raise SandboxViolation(f"path {user_path[:80]!r}... is too deep or too long (limit {MAX_PATH_PARTS} "
                               f"levels, {MAX_PATH_CHARS} characters).")
    pure = PurePosixPath(user_path.replace("\\", "/"))
    if pure.is_absolute() or Path(user_path).is_absolute() or re.match(r"^[A-Za-z]:", user_path):
        raise SandboxViolation(f"path {user_path!r} is absolute; use a path relative to the repository root.")
    if ".." in pure.parts:
        raise SandboxViolation(f"path {user_path!r} contains '..'; use a path relative to the repository root.")
    real_root = root.resolve()
    if not pure.parts:  # "." (every packet lists the whole worktree): the root itself, one realpath
        return real_root
    resolved = (real_root / pure).resolve()
    if not resolved.is_relative_to(real_root):
        raise SandboxViolation(
            f"path {user_path!r} resolves (through a symlink) to {resolved}, "
            "outside the repository; only files inside the worktree are allowed."
        )
    if ".git" in pure.parts or ".git" in resolved.relative_to(real_root).parts:
        raise SandboxViolation(f"path {user_path!r} is inside .git, which agents may not touch.")
    return resolved


def relative_posix(root: Path, path: Path) -> str:
    """The path of an already-resolved `path` relative to `root`, with forward slashes."""
    rel = path.relative_to(root.resolve()).as_posix()
    return "" if rel == "." else rel


def command_name(executable: str) -> str:
    """The allowlist name of an executable: basename without `.exe` or a version suffix."""
    name = PurePosixPath(executable.replace("\\", "/")).name
    name = name.removesuffix(".exe")
    return _VERSION_SUFFIX.sub("", name) or name


def scrubbed_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Copy the safe variables of `environ` (default os.environ), dropping anything secret-looking."""
    source = os.environ if environ is None else environ
    return {
        name: value
        for name, value in source.items()
        if (name in SAFE_ENV_NAMES or name.startswith(SAFE_ENV_PREFIXES)) and not SECRET_NAME.search(name)
    }


def truncate_middle(text: str, max_chars: int) -> tuple[str, bool]:
    """Keep the head and tail of `text` (tail gets more: errors come last) with a marker for the cut."""
    if len(text) <= max_chars:
        return text, False
    head_len = max_chars * 2 // 5
    tail_len = max_chars - head_len
    cut = len(text) - head_len - tail_len
    marker = f"\n[... {cut} characters of output cut ...]\n"
    return text[:head_len] + marker + text[len(text) - tail_len :], True


def _read_output(sink, max_chars: int) -> tuple[str, bool]:
    """Read a command's output file, keeping head and tail; never loads a huge file whole."""
    size = sink.seek(0, os.SEEK_END)
    window = max(max_chars * 4, 1_000_000)  # up to 4 bytes per UTF-8 character
    sink.seek(0)
    if size <= 2 * window:
        return truncate_middle(sink.read().decode("utf-8", errors="replace"), max_chars)
    head = sink.read(window).decode("utf-8", errors="replace")[: max_chars * 2 // 5]
    sink.seek(size - window)
    tail = sink.read().decode("utf-8", errors="replace")[-(max_chars - len(head)) :]
    cut = size - len(head.encode()) - len(tail.encode())
    return head + f"\n[... about {cut} bytes of output cut ...]\n" + tail, True


def run_command(
    argv: list[str],
    cwd: Path,
    *,
    allowlist: set[str] | frozenset[str],
    timeout_s: float,
    max_output_chars: int,
    env: dict[str, str] | None = None,
    writable: list[Path] | None = None,
    readonly: list[Path] | None = None,
    pass_fds: tuple[int, ...] = (),
) -> CommandResult:
    """Run an allowlisted argv in the sandbox: no shell, scrubbed env, a timeout and bounded, redacted output.

    `env` adds non-secret variables; `writable` adds folders the command may write besides its worktree;
    `readonly` lists existing files of the worktree the command may not change (e.g. the existing tests), or
    folders outside it to show read-only; `pass_fds` are descriptors the command inherits (the probe's channel).
    """
    child_env = _checked_env(argv, Path(cwd), allowlist, env or {})
    timeout_s = remaining_s(timeout_s)
    start = time.monotonic()
    confined = _confined(argv, Path(cwd), child_env, writable or [], readonly or [])
    bounds = _POLICY.limits
    group = limits.make_cgroup(bounds) if limits.cgroup_version() is not None else None
    try:
        with tempfile.TemporaryFile() as sink, confined as (full, run_cwd):
            exit_code, timed_out = _run_to_file(full, run_cwd, sink, timeout_s, child_env, pass_fds,
                                                limits.preexec(group, bounds))
            output, truncated = _read_output(sink, max_output_chars)
        limit = limits.limit_hit(group, bounds, output, exit_code)
    finally:
        if group is not None:
            limits.remove_cgroup(group)
    if timed_out:
        output += f"\n[command timed out after {timeout_s:g}s; every process it started was killed]\n"
    if limit:
        output += f"\n[stopped by a limit: {limit}; raise it in the workflow's settings.limits if that is expected]\n"
    return CommandResult(argv=list(argv), exit_code=exit_code, output=redact(output), timed_out=timed_out,
                         truncated=truncated, duration_s=round(time.monotonic() - start, 3), limit=limit)


def _checked_env(argv: list[str], cwd: Path, allowlist: set[str] | frozenset[str], env: dict[str, str]
                 ) -> dict[str, str]:
    """The child's environment, once argv passed the allowlist, the resolved-program and the git checks."""
    _check_argv(argv, allowlist)
    child_env = {**scrubbed_env(), **_extra_env(env)}
    child_env["PATH"] = bwrap.normalised_path(child_env.get("PATH", os.defpath))
    if not ("/" in argv[0] or shutil.which(argv[0], path=child_env.get("PATH"))):
        raise ToolError(f"command {argv[0]!r} was not found on PATH.")
    layout = bwrap.find_layout(cwd)
    check_program(argv[0], cwd, child_env["PATH"], [layout.worktree, layout.visible_at],
                  bwrap.environment_roots(child_env))
    check_git_args(argv)
    return child_env


def _extra_env(env: dict[str, str]) -> dict[str, str]:
    """Caller-supplied variables, refusing secret-looking names: secrets never enter the sandbox."""
    for name in env:
        if SECRET_NAME.search(name):
            raise ValueError(f"run_command: env variable {name!r} looks like a secret; secrets stay outside")
    return dict(env)


@contextmanager
def _confined(argv: list[str], cwd: Path, env: dict[str, str], writable: list[Path],
              readonly: list[Path]) -> Iterator[tuple[list[str], Path]]:
    """(argv to execute, cwd to start in): wrapped in bwrap, or unchanged when the run opted out of the sandbox."""
    problem = sandbox_problem()
    if problem is not None:
        if not _POLICY.allow_unsafe:
            raise SandboxViolation(f"refusing to run {argv[0]!r} without a sandbox: {problem}; "
                                   "or run with --unsafe-no-sandbox to accept unconfined commands.")
        yield list(argv), cwd
        return
    layout = bwrap.find_layout(cwd)
    extra = [Path(os.path.abspath(p)) for p in writable]
    for path in extra:
        path.mkdir(parents=True, exist_ok=True)
    env["HOME"] = os.path.expanduser("~")  # an empty tmpfs inside
    env["TMPDIR"] = "/tmp"
    for name, value in env.items():  # paths into the worktree are seen at the user's repo path inside
        if value.startswith(str(layout.worktree)):
            env[name] = str(layout.visible_at) + value[len(str(layout.worktree)):]
    created = bwrap.mount_points(layout, [*bwrap.tool_paths(argv[0], env, layout), *extra])
    with tempfile.TemporaryDirectory(prefix="orchestrator-sandbox-") as scratch:
        git_file = None
        text = bwrap.git_file_text(layout)
        if text is not None:
            git_file = Path(scratch) / "dotgit"
            git_file.write_text(text)
        try:
            frozen = [Path(os.path.abspath(p)) for p in readonly if not Path(p).is_symlink()
                      and (Path(p).is_file() or (Path(p).is_dir() and not layout.inside(Path(p)).is_relative_to(
                          layout.visible_at)))]
            yield bwrap.bwrap_argv(list(argv), cwd, layout, env, extra, git_file, frozen,
                                   _POLICY.limits.tmpfs_mb * limits.MIB), Path(scratch)
        finally:
            for folder in sorted(created, key=lambda p: -len(p.parts)):
                _remove_empty(folder)


def _remove_empty(folder: Path) -> None:
    """Remove a mount-point folder bwrap had to create in the worktree, if it is still empty."""
    try:
        folder.rmdir()
    except OSError:
        pass


def _check_argv(argv: list[str], allowlist: set[str] | frozenset[str]) -> None:
    """Refuse an empty argv, non-string arguments, or a program outside the allowlist."""
    if not argv or not all(isinstance(arg, str) for arg in argv):
        raise ToolError(f"command must be a non-empty list of strings, got {argv!r}.")
    basename = PurePosixPath(argv[0].replace("\\", "/")).name.removesuffix(".exe")
    if basename not in allowlist and command_name(argv[0]) not in allowlist:
        raise SandboxViolation(f"command {argv[0]!r} is not allowed; allowed programs: {', '.join(sorted(allowlist))}.")


def _run_to_file(argv: list[str], cwd: Path, sink, timeout_s: float, env: dict[str, str],
                 pass_fds: tuple[int, ...] = (), preexec=None) -> tuple[int, bool]:
    """Run argv in its own process group writing to `sink`; kill the whole group on timeout."""
    # Output goes to a file, not a pipe: a grandchild holding the pipe open can't hang us,
    # and a chatty command can't exhaust memory before truncation.
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            shell=False,
            start_new_session=True,
            pass_fds=pass_fds,
            preexec_fn=preexec,  # joins the command's cgroup and sets its rlimits before exec
        )
    except FileNotFoundError as exc:
        raise ToolError(f"command {argv[0]!r} was not found on PATH.") from exc
    try:
        exit_code, timed_out = proc.wait(timeout=timeout_s), False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        exit_code, timed_out = proc.wait(timeout=_GRACE_S), True
    # Background children of a finished command die with it: nothing outlives a tool call (in the sandbox
    # the PID namespace also kills the ones that left the process group with setsid).
    _kill_group(proc)
    return exit_code, timed_out


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL every process in the child's process group, ignoring a group that is already gone."""
    if hasattr(os, "killpg"):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    elif proc.poll() is None:
        proc.kill()


def format_result(result: CommandResult) -> str:
    """The agent-facing text of a command result: a status line, then the (bounded) output."""
    status = "timed out" if result.timed_out else ("passed" if result.ok else
                                                   ("stopped by a limit" if result.limit else "failed"))
    head = f"$ {' '.join(result.argv)}\nexit code {result.exit_code} ({status}) in {result.duration_s:.1f}s"
    return f"{head}\n{result.output}" if result.output.strip() else head
