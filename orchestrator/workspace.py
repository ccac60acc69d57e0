"""Git workspace of a run: its own worktree and branch, state under .git/orchestrator, phase commits."""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import WorkspaceError
from orchestrator.redact import SECRET_NAME
from orchestrator.sandbox import SAFE_GIT_CONFIG

BRANCH_PREFIX = "orchestrator/"
FALLBACK_IDENTITY = ("orchestrator", "orchestrator@localhost")


_GIT_LOCK = threading.RLock()
"""Parallel PBI builders share one worktree and its index: git commands take turns."""


TEXT_DIFF = ("--text", "--no-textconv", "--no-ext-diff")
"""Diffs shown to agents are text diffs whatever `.gitattributes` says (`*.py binary` hides nothing)."""


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run git with argv (no shell) and return stdout; failures become WorkspaceError with git's message."""
    env = {name: value for name, value in os.environ.items() if not SECRET_NAME.search(name)}
    with _GIT_LOCK:
        proc = subprocess.run(["git", *SAFE_GIT_CONFIG, *args], cwd=cwd, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise WorkspaceError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def state_dir(repo: Path) -> Path:
    """`.git/orchestrator/` of a repository (the common git dir, shared by all its worktrees)."""
    repo = repo.resolve()
    if not repo.is_dir():
        raise WorkspaceError(f"{repo}: no such directory")
    proc = subprocess.run(["git", *SAFE_GIT_CONFIG, "rev-parse", "--git-common-dir"], cwd=repo,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise WorkspaceError(f"{repo}: not a git repository (run 'git init' and commit once first)")
    common = Path(proc.stdout.strip())
    common = common if common.is_absolute() else (repo / common).resolve()
    path = common / "orchestrator"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Workspace:
    """One run's worktree and branch inside a target repository."""

    repo: Path
    path: Path
    branch: str
    base_commit: str

    @classmethod
    def create(cls, repo: Path, run_id: str) -> Workspace:
        """Add a worktree on a new branch `orchestrator/<run-id>` from the repo's HEAD.

        Only `git worktree add` runs against the user's repo: it reads HEAD and writes under .git, so
        the user's working tree, index and uncommitted changes are left exactly as they were.
        """
        repo = repo.resolve()
        root = state_dir(repo)
        head = git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False).strip()
        if not head:
            raise WorkspaceError(f"{repo}: the repository has no commits yet; commit once, then run again")
        path, branch = root / "worktrees" / run_id, BRANCH_PREFIX + run_id
        git(repo, "worktree", "add", "--quiet", "-b", branch, str(path), head)
        return cls(repo=repo, path=path, branch=branch, base_commit=head)

    @classmethod
    def reopen(cls, repo: Path, run_id: str, base_commit: str) -> Workspace:
        """The workspace of an existing run (for resume); recreate the worktree if it was pruned."""
        repo = repo.resolve()
        path, branch = state_dir(repo) / "worktrees" / run_id, BRANCH_PREFIX + run_id
        if not (path / ".git").exists():
            git(repo, "worktree", "prune")
            git(repo, "worktree", "add", "--quiet", str(path), branch)
        return cls(repo=repo, path=path, branch=branch, base_commit=base_commit)

    def has_changes(self, pathspecs: list[str] | None = None) -> bool:
        """True when the worktree differs from its HEAD (tracked or untracked files), optionally within paths."""
        return bool(git(self.path, "status", "--porcelain", "--untracked-files=all", "--", *(pathspecs or [])).strip())

    def commit(self, subject: str, trailers: dict[str, str | list[str]], allow_empty: bool = False,
               body: str = "", scope: list[str] | None = None) -> str | None:
        """Commit the worktree's changes (only files matching `scope` globs when given) with trailers.

        Returns the sha, or None when nothing changed.
        """
        with _GIT_LOCK:
            return self._commit(subject, trailers, allow_empty, body, [f":(glob){p}" for p in scope or []])

    def _commit(self, subject: str, trailers: dict[str, str | list[str]], allow_empty: bool, body: str,
                pathspecs: list[str]) -> str | None:
        if not allow_empty and not self.has_changes(pathspecs):
            return None
        git(self.path, "add", "-A", "--", *pathspecs)
        # Trailers must be the last paragraph, so a body never ends in "Key: value" lines of its own.
        lines = [subject, ""] + ([body.strip().replace("\n\n", "\n"), "", "--", ""] if body.strip() else [])
        for key, value in trailers.items():
            lines += [f"{key}: {v}" for v in (value if isinstance(value, list) else [value])]
        git(self.path, *self._identity(), "commit", "--quiet", "--no-verify",
            *(["--allow-empty"] if allow_empty else []), "-m", "\n".join(lines))
        return git(self.path, "rev-parse", "HEAD").strip()

    def _identity(self) -> list[str]:
        """`-c user.*` flags when the repo has no identity configured, so commits never fail on it."""
        flags = []
        name = git(self.path, "config", "user.name", check=False).strip()
        email = git(self.path, "config", "user.email", check=False).strip()
        if not name:
            flags += ["-c", f"user.name={FALLBACK_IDENTITY[0]}"]
        if not email:
            flags += ["-c", f"user.email={FALLBACK_IDENTITY[1]}"]
        return flags

    def has_trailer(self, key: str, value: str) -> bool:
        """True when a commit on the run's branch (since the base) carries `key: value`."""
        return self.find_commit(key, value) is not None

    def find_commit(self, key: str, value: str) -> str | None:
        """Sha of the newest commit on the run's branch whose trailer `key` equals `value`."""
        out = git(self.path, "log", f"--format=%H %(trailers:key={key},valueonly,separator=%x2C)",
                  f"{self.base_commit}..HEAD")
        for line in out.splitlines():
            sha, _, values = line.partition(" ")
            if value in [v.strip() for v in values.split(",")]:
                return sha
        return None

    def phase_commit(self, phase_key: str) -> tuple[str, str] | None:
        """(sha, handoff body) of the commit a phase already made, e.g. before a crash; None if none."""
        sha = self.find_commit("Orchestrator-Phase", phase_key)
        if sha is None:
            return None
        body = git(self.path, "log", "-1", "--format=%b", sha).split("\n--\n")[0].strip()
        return sha, body

    def head(self) -> str:
        """Current commit of the run's branch."""
        return git(self.path, "rev-parse", "HEAD").strip()

    def diff(self, max_chars: int = 20000) -> str:
        """Diff of the run so far against its base commit, including uncommitted and untracked files."""
        git(self.path, "add", "-A", "--intent-to-add")
        text = git(self.path, "diff", *TEXT_DIFF, self.base_commit)
        return text if len(text) <= max_chars else text[:max_chars] + f"\n[... diff cut at {max_chars} chars]"

    def diff_stat(self) -> str:
        """`git diff --stat` of the branch against its base commit."""
        return git(self.path, "diff", "--stat", *TEXT_DIFF, self.base_commit, "HEAD").strip()

    def changed_files(self) -> list[str]:
        """Paths changed on the branch since the base commit, including uncommitted ones."""
        git(self.path, "add", "-A", "--intent-to-add")
        return [p for p in git(self.path, "diff", "--name-only", self.base_commit).splitlines() if p]
