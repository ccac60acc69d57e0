"""Confinement for agent tools: paths that stay inside the worktree and commands that never see a shell."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from orchestrator.errors import SandboxViolation, ToolError

DEFAULT_ALLOWLIST = frozenset({"python", "pytest", "ruff", "mypy", "git"})

# An allowlist, not a denylist: a variable we never heard of can't leak. Names matching
# SECRET_NAME are dropped even when allowlisted (e.g. PYTHON_API_TOKEN).
SAFE_ENV_NAMES = frozenset(
    "PATH HOME USER LOGNAME LANG LANGUAGE TERM TZ TMPDIR TEMP TMP VIRTUAL_ENV NO_COLOR FORCE_COLOR CI"
    " SYSTEMROOT COMSPEC PATHEXT".split()
)
SAFE_ENV_PREFIXES = ("LC_", "PYTHON", "PYTEST_")
SECRET_NAME = re.compile(
    r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE)"
    r"|^(AWS|OPENAI|ANTHROPIC|GEMINI|GOOGLE|AZURE|HF|HUGGING|COHERE|MISTRAL|GROQ|LITELLM)_",
    re.IGNORECASE,
)
_VERSION_SUFFIX = re.compile(r"[0-9.]+$")
_GRACE_S = 5.0


@dataclass(frozen=True)
class CommandResult:
    """What one sandboxed command did: exit code, merged output (maybe truncated) and timing."""

    argv: list[str]
    exit_code: int
    output: str
    timed_out: bool
    truncated: bool
    duration_s: float

    @property
    def ok(self) -> bool:
        """True when the command finished in time with exit code 0."""
        return self.exit_code == 0 and not self.timed_out


def resolve_inside(root: Path, user_path: str) -> Path:
    """Resolve an agent-supplied relative path, refusing anything that lands outside `root` or in .git."""
    if not isinstance(user_path, str) or "\x00" in user_path:
        raise SandboxViolation(f"path {user_path!r} is not a valid path string.")
    pure = PurePosixPath(user_path.replace("\\", "/"))
    if pure.is_absolute() or Path(user_path).is_absolute() or re.match(r"^[A-Za-z]:", user_path):
        raise SandboxViolation(f"path {user_path!r} is absolute; use a path relative to the repository root.")
    if ".." in pure.parts:
        raise SandboxViolation(f"path {user_path!r} contains '..'; use a path relative to the repository root.")
    real_root = root.resolve()
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
    env: Mapping[str, str] | None = None,
    writable: list[Path] | None = None,
) -> CommandResult:
    """Run an allowlisted argv without a shell, with a scrubbed env, a timeout and bounded output.

    `env` adds non-secret variables; `writable` names extra folders the command must be able to write.
    """
    _check_argv(argv, allowlist)
    start = time.monotonic()
    with tempfile.TemporaryFile() as sink:
        exit_code, timed_out = _run_to_file(argv, cwd, sink, timeout_s, {**scrubbed_env(), **(env or {})})
        output, truncated = _read_output(sink, max_output_chars)
    if timed_out:
        output += f"\n[command timed out after {timeout_s:g}s; its process group was killed]\n"
    return CommandResult(
        argv=list(argv),
        exit_code=exit_code,
        output=output,
        timed_out=timed_out,
        truncated=truncated,
        duration_s=round(time.monotonic() - start, 3),
    )


def _check_argv(argv: list[str], allowlist: set[str] | frozenset[str]) -> None:
    """Refuse an empty argv, non-string arguments, or a program outside the allowlist."""
    if not argv or not all(isinstance(arg, str) for arg in argv):
        raise ToolError(f"command must be a non-empty list of strings, got {argv!r}.")
    basename = PurePosixPath(argv[0].replace("\\", "/")).name.removesuffix(".exe")
    if basename not in allowlist and command_name(argv[0]) not in allowlist:
        raise SandboxViolation(f"command {argv[0]!r} is not allowed; allowed programs: {', '.join(sorted(allowlist))}.")


def _run_to_file(argv: list[str], cwd: Path, sink, timeout_s: float, env: dict[str, str]) -> tuple[int, bool]:
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
        )
    except FileNotFoundError as exc:
        raise ToolError(f"command {argv[0]!r} was not found on PATH.") from exc
    try:
        exit_code, timed_out = proc.wait(timeout=timeout_s), False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        exit_code, timed_out = proc.wait(timeout=_GRACE_S), True
    # Background children of a finished command die with it: nothing outlives a tool call.
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
