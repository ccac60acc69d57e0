"""The Toolbox: the registered tools one agent may call, and the confined reads, policed writes and sandboxed
commands every tool reaches the worktree through."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from orchestrator.agents.git_names import check_git_accepts
from orchestrator.agents.redact import redact
from orchestrator.agents.sandbox import (
    DEFAULT_ALLOWLIST,
    MAX_PATH_PARTS,
    CommandResult,
    relative_posix,
    resolve_inside,
    run_command,
)
from orchestrator.agents.tool_registry import Tool, registered_tools
from orchestrator.agents.tool_specs import EXISTING_FILE_WRITERS, MAX_PATH_CHOICES, with_path_choices
from orchestrator.agents.whole_file import check_still_parses
from orchestrator.agents.worktree_files import refuse_hard_link
from orchestrator.agents.write_policy import WritePolicy
from orchestrator.errors import SandboxViolation, ToolError, did_you_mean
from orchestrator.models.types import ToolSpec

SKIP_DIRS = frozenset(
    {".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox"}
)
MAX_SEARCHED_FILE_BYTES = 1_000_000


class Toolbox:
    """The tools one agent may call in one worktree; `call` returns what the agent sees."""

    def __init__(
        self,
        root: Path,
        *,
        test_command: list[str] | None = None,
        allowlist: set[str] | None = None,
        read_only: bool = False,
        policy: WritePolicy | None = None,
        timeout_s: float = 120,
        max_output_chars: int = 8000,
        tools: list[str] | None = None,
        files: list[str] | None = None,
        on_write: Callable[[str, bytes], None] | None = None,
    ):
        self.root = Path(root).resolve()
        self.test_command = list(test_command) if test_command else None
        self.allowlist = set(allowlist) if allowlist is not None else set(DEFAULT_ALLOWLIST)
        self.read_only = read_only
        self.policy = policy
        self._specs: list[ToolSpec] | None = None  # with the writable files listed; a write or command drops it
        self._files = files  # the worktree's files when the caller just listed them (dropped with `_specs`)
        self.timeout_s = timeout_s
        self.max_output_chars = max_output_chars
        self.on_write = on_write
        self.calls = 0
        self.tools: dict[str, Tool] = registered_tools()
        unknown = [name for name in tools or [] if name not in self.tools]
        if unknown:
            raise ToolError(f"unknown tool {unknown[0]!r}.{did_you_mean(unknown[0], self.tools)}")
        # The persona's order is kept: small models lean to the first tool offered (measured on the 0.5B).
        self.only = list(dict.fromkeys(tools)) if tools is not None else None

    def available(self) -> list[str]:
        """Tools on offer, in the persona's order: read-only drops writers, no test command drops run_tests."""
        names = self.only if self.only is not None else list(self.tools)
        return [name for name in names if (tool := self.tools.get(name)) is not None
                and (tool.effect == "read" or not self.read_only)
                and (self.test_command or not tool.needs_test_command)]

    def specs(self) -> list[ToolSpec]:
        """The ToolSpecs to hand to the model, in the order of available(); edit and append_file name the files
        this agent may change when there are few (a small model otherwise edits a file it may not write)."""
        if self._specs is None:
            names = self.available()
            writable = self._writable_files() if any(name in EXISTING_FILE_WRITERS for name in names) else []
            self._specs = [with_path_choices(self.tools[name].spec, writable) for name in names]
        return list(self._specs)

    def _writable_files(self) -> list[str]:
        """The files this agent may write, or MAX_PATH_CHOICES + 1 of them (too many to list) on a large repo."""
        writable: list[str] = []
        for rel in self._files if self._files is not None else self._files_under(self.root):
            if self.policy is None or self.policy.may_write(rel):
                writable.append(rel)
                if len(writable) > MAX_PATH_CHOICES:
                    break
        return writable

    def call(self, name: str, arguments: dict[str, Any]) -> str:
        """Run one tool call; refused calls raise ToolError/SandboxViolation with the reason."""
        self.calls += 1  # refused calls count too: they still cost the agent a turn
        tool = self.tools.get(name)
        if tool is None or tool.effect != "read":
            self._specs = self._files = None  # a write or a command may have added a file
        if tool is None or name not in self.available():
            if tool is not None:
                raise ToolError(
                    f"tool {name!r} is not available to this agent{' (read-only)' if self.read_only else ''}."
                )
            raise ToolError(f"unknown tool {name!r}.{did_you_mean(name, self.available())}")
        arguments = tool.validate(arguments)
        try:
            # What a tool returns goes to a model and the checkpoints, so a non-UTF-8 name (a test's) shows as "?".
            return redact(str(tool.function(self, **arguments))).encode("utf-8", "replace").decode("utf-8")
        except SandboxViolation as exc:  # "/path/to/repo/calc.py": small models make up absolute paths
            path = arguments.get("path")
            if isinstance(path, str) and PurePosixPath(path).is_absolute():
                raise SandboxViolation(f"{exc}{self.path_hint(path)}") from exc
            raise
        except (OSError, UnicodeError) as exc:
            raise ToolError(redact(f"{name} failed: {exc}")) from exc
        except RecursionError as exc:
            raise ToolError(f"{name} failed: the folder tree is too deep to walk") from exc

    def resolve(self, path: str) -> Path:
        """`path` (relative to the worktree) resolved, refused (SandboxViolation) when it leaves the worktree."""
        return resolve_inside(self.root, path)

    def read_text(self, target: Path, shown_path: str) -> str:
        """A resolved file's text, refusing binaries with a clear message."""
        return read_text(target, shown_path)

    def all_files(self) -> list[str]:
        """Every file of the worktree (skipping .git and tool caches), sorted, unlimited: for packets."""
        return self.walk(self.root)

    def git(self, argv: list[str], what: str, ok_codes: tuple[int, ...] = (0,)) -> str:
        """Run one git command; a failure becomes a ToolError quoting git's message."""
        result = run_command(
            argv,
            self.root,
            allowlist={"git"},
            timeout_s=self.timeout_s,
            max_output_chars=max(self.max_output_chars * 4, 200_000),
        )
        if result.exit_code not in ok_codes or result.timed_out:
            raise ToolError(f"git_diff: {what} failed: {result.output.strip()[-500:]}")
        return result.output

    def run(self, argv: list[str]) -> CommandResult:
        """Run a command in the worktree with this toolbox's allowlist, timeout and output cap.

        What the write policy protects is read-only for the command too: a test can't rewrite the tests."""
        frozen = [self.root / rel for rel in self.policy.frozen_files()] if self.policy is not None else []
        return run_command(argv, self.root, allowlist=self.allowlist, timeout_s=self.timeout_s,
                           max_output_chars=self.max_output_chars, readonly=frozen)

    def existing_file(self, path: str) -> Path:
        """Resolve `path` and insist that it is an existing regular file."""
        target = self.resolve(path)
        if target.is_dir():
            raise ToolError(f"{path} is a folder; use list_files to see its files.")
        if not target.is_file():
            raise ToolError(f"{path} does not exist.{self.path_hint(path)}")
        refuse_hard_link(target, path)
        return target

    def path_hint(self, path: str) -> str:
        """A real file for a wrong path: the same file name elsewhere, else the closest path, else list_files."""
        listed = self.walk(self.root)
        name = PurePosixPath(path).name
        same = [p for p in listed if PurePosixPath(p).name in (name, f"{name}.py")]
        hint = f" Did you mean {same[0]!r}?" if same else did_you_mean(path, listed)
        return hint or " Use list_files to find the right path."

    def write(self, target: Path, content: str, tool: str, old: str | None) -> None:
        """Check the write policy (read-only refuses everything) and that Python still parses, then write the file."""
        rel = relative_posix(self.root, target)
        if self.read_only:
            raise ToolError(f"{rel}: this agent is read-only and may not write files.")
        if self.policy is not None:
            self.policy.check_write(rel, content)
        check_still_parses(rel, old, content, tool)
        check_git_accepts(rel)
        refuse_hard_link(target, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write a new file and rename it over the old name, so whatever else shares the old inode is untouched.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".orchestrator-write-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(content)
            os.chmod(tmp, (target.stat().st_mode & 0o777) if target.exists() else 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if self.on_write is not None:  # the phase commits what its agent wrote, not what a test made
            self.on_write(rel, content.encode("utf-8"))

    def walk(self, base: Path) -> list[str]:
        """Relative paths of the files under `base`, sorted, skipping SKIP_DIRS and anything too deep."""
        return sorted(self._files_under(base))

    def _files_under(self, base: Path) -> Iterator[str]:
        """The files of `_walk`, unsorted and lazily, so a caller can stop early."""
        start = base.relative_to(self.root).as_posix()
        # (folder, its path relative to the root with a trailing "/"): relative paths are built as strings
        stack = [(str(base), "" if start == "." else f"{start}/")]
        while stack:  # iterative: a 2,000-level tree must not overflow Python's stack
            folder, prefix = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if entry.name == ".git":  # a worktree's .git is a file pointing at the repo: not the agents' business
                    continue
                rel = prefix + entry.name
                if not entry.is_dir():
                    yield rel
                elif _descend(entry, rel.count("/") + 1):
                    stack.append((entry.path, f"{rel}/"))

    def search_file(self, rel: str, compiled: Any, limit: int, deadline: float) -> list[str]:
        """Matching lines of one file as `path:line: text`; binary, huge or escaping files are skipped."""
        try:
            target = resolve_inside(self.root, rel)
            if target.stat().st_size > MAX_SEARCHED_FILE_BYTES:
                return []
            data = target.read_bytes()
        except (OSError, ToolError):
            return []
        if b"\0" in data[:8192]:
            return []
        hits = []
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if compiled.search(line, timeout=max(deadline - time.monotonic(), 0.001)):
                hits.append(f"{rel}:{number}: {line.strip()[:200]}")
                if len(hits) >= limit:
                    break
        return hits


def _descend(entry: os.DirEntry, depth: int) -> bool:
    """Walk into a folder only when it is real (not a symlink), not a tool cache, and not too deep."""
    return not entry.is_symlink() and entry.name not in SKIP_DIRS and depth < MAX_PATH_PARTS


def read_text(target: Path, shown_path: str) -> str:
    """Read a text file, refusing binaries with a clear message."""
    data = target.read_bytes()
    if b"\0" in data[:8192]:
        raise ToolError(f"{shown_path} is a binary file; only text files can be read.")
    return data.decode("utf-8", errors="replace")

