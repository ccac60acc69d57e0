"""What a run changed, by kind: specs, tests, test configuration and source (everything else)."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.agents.worktree_files import read_text, walk_files
from orchestrator.agents.write_policy import DEFAULT_TEST_GLOBS
from orchestrator.globs import glob_match

TEST_CONFIG_FILES = ("pyproject.toml", "setup.cfg", "tox.ini", "pytest.ini", "**/conftest.py", "conftest.py")
"""Files whose content changes how pytest collects and runs tests: gates use the base commit's versions."""


def is_test(path: str) -> bool:
    """A test file by the usual pytest layouts."""
    return glob_match(path, DEFAULT_TEST_GLOBS) and not path.endswith("conftest.py")


def is_spec(path: str) -> bool:
    """A file of the living specs."""
    return path.startswith("specs/")


@dataclass(frozen=True)
class Changes:
    """The files changed on a run's branch since its base commit (uncommitted ones included), by kind."""

    files: tuple[str, ...]

    @property
    def specs(self) -> list[str]:
        return [p for p in self.files if is_spec(p)]

    @property
    def tests(self) -> list[str]:
        return [p for p in self.files if is_test(p) and not is_spec(p)]

    @property
    def source(self) -> list[str]:
        """What the builder is there to change: anything that is not a spec, a test or test configuration."""
        config = [p for p in self.files if glob_match(p, TEST_CONFIG_FILES)]
        return [p for p in self.files if not is_spec(p) and not is_test(p) and p not in config]


def run_changes(workspace) -> Changes:
    """The one "files changed in this run" helper: the workspace's changed files, classified."""
    return Changes(tuple(workspace.changed_files()))


def spec_text(workspace, changes: Changes | None = None) -> str:
    """The spec files this run wrote or changed, else every spec in the worktree (`changes`: when known).

    Without `changes` only specs/ is compared with the base, in-process: agent packets ask before every phase.
    """
    worktree = workspace.path
    if not (worktree / "specs").is_dir():  # nothing to show, whatever the run changed (a deleted spec is not shown)
        return ""
    specs = changes.specs if changes is not None else workspace.changed_under("specs")
    changed = [p for p in specs if p.endswith(".md")]
    paths = changed or [p for p in walk_files(worktree, "specs") if p.endswith("/spec.md")]
    # Read like a tool reads: a spec that is a link out of the worktree (to /proc/self/environ) is left out.
    texts = [(p, read_text(worktree, p)) for p in paths]
    return "\n\n".join(f"# {p}\n{text}" for p, text in texts if text is not None)


def behaviour_change_without_spec(workspace, changes: Changes | None = None) -> str | None:
    """Flag a diff that changes non-test source files but no spec."""
    changes = changes or run_changes(workspace)
    source = [p for p in changes.source if p.endswith(".py")]
    if source and not changes.specs:
        return f"behaviour change without spec change: {', '.join(source[:5])} changed, no file under specs/"
    return None
