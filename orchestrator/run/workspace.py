"""Git workspace of a run: its own worktree and branch (under .git/orchestrator/worktrees), phase commits."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.agents.redact import is_secret_name
from orchestrator.agents.sandbox import SAFE_GIT_CONFIG
from orchestrator.agents.worktree_files import safe_file, walk_files
from orchestrator.errors import WorkspaceError
from orchestrator.globs import glob_match
from orchestrator.run.authored import WriteLedger, printable, put_back, sort_pending
from orchestrator.store.location import state_dir

BRANCH_PREFIX = "orchestrator/"
PHASE_TRAILER = "Orchestrator-Phase"
FALLBACK_IDENTITY = ("orchestrator", "orchestrator@localhost")


BUILD_OUTPUT_GLOBS = ("**/__pycache__/**", "**/*.py[co]", "**/.pytest_cache/**", "**/.ruff_cache/**",
                      "**/.mypy_cache/**")
"""Bytecode and tool caches never land on a run's branch, whatever the target's .gitignore says."""
BUILD_OUTPUT = tuple(f":(exclude,glob){g}" for g in BUILD_OUTPUT_GLOBS)
"""The same globs as git pathspecs, for diffs."""

_GIT_LOCK = threading.RLock()
"""Parallel PBI builders share one worktree and its index: git commands take turns."""


TEXT_DIFF = ("--text", "--no-textconv", "--no-ext-diff")
"""Diffs shown to agents are text diffs whatever `.gitattributes` says (`*.py binary` hides nothing)."""


def git(cwd: Path, *args: str, check: bool = True, errors: str = "replace") -> str:
    """Run git with argv (no shell) and return stdout; failures become WorkspaceError with git's message.

    Output is decoded as UTF-8 with `errors` ("replace": a binary diff or an odd name never crashes a run;
    "surrogateescape": file names that must go back to git byte for byte)."""
    env = {name: value for name, value in os.environ.items() if not is_secret_name(name)}
    with _GIT_LOCK, _worktrees_lock(cwd) if args[:1] == ("worktree",) else contextlib.nullcontext():
        proc = subprocess.run(["git", *SAFE_GIT_CONFIG, *args], cwd=cwd, capture_output=True, env=env,
                              encoding="utf-8", errors=errors)
    if check and proc.returncode != 0:
        raise WorkspaceError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


@contextlib.contextmanager
def _worktrees_lock(cwd: Path) -> Iterator[None]:
    """Hold the repo's worktree lock: concurrent `git worktree add`s in one repo read each other's half-written
    entries ("failed to read .git/worktrees/<id>/commondir"), so the run's worktree commands take turns."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock
        yield
        return
    fd = os.open(state_dir(cwd) / "worktrees.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


@dataclass(frozen=True)
class Workspace:
    """One run's worktree and branch inside a target repository."""

    repo: Path
    path: Path
    branch: str
    base_commit: str
    _known: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """What this process has read of the branch (HEAD, phase commits, base blobs), kept current by `commit`:
    only the run's own commits move its branch (agents see the git dir read-only in the sandbox)."""

    @classmethod
    def planned(cls, repo: Path, run_id: str) -> Workspace:
        """The workspace a new run will get (its worktree is not created yet: see `add`)."""
        repo = repo.resolve()
        root = state_dir(repo)
        head = git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False).strip()
        if not head:
            raise WorkspaceError(f"{repo}: the repository has no commits yet; commit once, then run again")
        return cls(repo=repo, path=root / "worktrees" / run_id, branch=BRANCH_PREFIX + run_id, base_commit=head)

    def add(self) -> None:
        """Create the worktree and branch from the base commit.

        Only `git worktree add` runs against the user's repo: it reads HEAD and writes under .git, so
        the user's working tree, index and uncommitted changes are left exactly as they were.
        """
        git(self.repo, "worktree", "add", "--quiet", "-b", self.branch, str(self.path), self.base_commit)
        self._known.update(head=self.base_commit, phases={})

    @classmethod
    def reopen(cls, repo: Path, run_id: str, base_commit: str) -> Workspace:
        """The workspace of an existing run (for resume); a missing or half-created worktree is made again."""
        repo = repo.resolve()
        path, branch = state_dir(repo) / "worktrees" / run_id, BRANCH_PREFIX + run_id
        workspace = cls(repo=repo, path=path, branch=branch, base_commit=base_commit)
        if not workspace._healthy():
            workspace._rebuild()
        return workspace

    def _gitdir(self) -> Path:
        """The worktree's own git dir (`.git/worktrees/<name>`), from its `.git` file or the default name."""
        dotgit = self.path / ".git"
        if dotgit.is_file():
            text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                return Path(text.removeprefix("gitdir:").strip())
        return state_dir(self.repo).parent / "worktrees" / self.path.name

    def _healthy(self) -> bool:
        """A complete worktree: `.git` file, git dir not left locked by an interrupted `worktree add`."""
        gitdir = self._gitdir()
        return (self.path / ".git").is_file() and (gitdir / "HEAD").is_file() and not (gitdir / "locked").exists()

    def _rebuild(self) -> None:
        """Clean up what a killed `git worktree add` left (locked entry, partial folder), then add it again."""
        git(self.repo, "worktree", "unlock", str(self.path), check=False)
        shutil.rmtree(self.path, ignore_errors=True)
        git(self.repo, "worktree", "prune")
        if not git(self.repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{self.branch}", check=False).strip():
            git(self.repo, "branch", self.branch, self.base_commit)
        git(self.repo, "worktree", "add", "--quiet", str(self.path), self.branch)

    def clear_stale_locks(self) -> list[str]:
        """Remove git lock files a killed run left in its own worktree and branch; returns what was removed.

        Call only while holding the run's lock: then no live process of this run can own them.
        """
        gitdir, common = self._gitdir(), state_dir(self.repo).parent
        candidates = [gitdir / "index.lock", gitdir / "HEAD.lock", gitdir / "ORIG_HEAD.lock",
                      common / "refs" / "heads" / f"{self.branch}.lock"]
        removed = []
        for lock in candidates:
            if lock.exists():
                lock.unlink()
                removed.append(str(lock))
        return removed

    def commit(self, subject: str, trailers: dict[str, str | list[str]], allow_empty: bool = False,
               body: str = "", scope: list[str] | None = None, authored_only: bool = False,
               on_discard: Callable[[list[tuple[str, str]]], None] | None = None) -> str | None:
        """Commit the worktree's changes (only files matching `scope` globs when given) with trailers.

        With authored_only, only what the run's tools wrote (`ledger`) is committed; every other change (what a
        test run left behind) is put back as it was and passed to `on_discard` as (path, why).
        Returns the sha, or None when nothing changed.
        """
        with _GIT_LOCK:
            files = self.pending_files(scope)
            if authored_only:
                files = self._authored(files, on_discard)
            sha = self._commit(subject, trailers, allow_empty, body, files)
            self.ledger.forget(files)
            return sha

    @property
    def ledger(self) -> WriteLedger:
        """What the run's tools wrote since the last commit (shared by parallel PBI builders)."""
        return self._known.setdefault("ledger", WriteLedger())

    def record_write(self, rel: str, data: bytes | None) -> None:
        """Note a write (None: a removal) made through the tools, so the phase commit takes it."""
        self.ledger.record(rel, data)

    def adopt(self, paths: list[str]) -> None:
        """Record files the orchestrator itself just put in place (a gate's restored test config) as written."""
        for rel in paths:
            target = None if (self.path / rel).is_symlink() else safe_file(self.path, rel)  # never through a link
            self.record_write(rel, target.read_bytes() if target is not None else None)

    def save_ledger(self, key: str) -> None:
        """Keep a copy of the ledger under `key` (a best-of-n snapshot's tree)."""
        self._known.setdefault("saved_ledgers", {})[key] = self.ledger.copy()

    def load_ledger(self, key: str) -> None:
        """Go back to the ledger saved under `key`, when the worktree goes back to that snapshot."""
        self._known["ledger"] = self._known.get("saved_ledgers", {}).get(key, WriteLedger()).copy()

    def _authored(self, files: list[str], on_discard: Callable[[list[tuple[str, str]]], None] | None) -> list[str]:
        """The files to commit; test leftovers go back to HEAD (tracked) or away (untracked), through git."""
        sorting = sort_pending(self.path, self.ledger, files)
        put_back(self.path, sorting.rewrite)
        dropped = [rel for rel, _ in sorting.discard]
        if dropped:
            tracked = set(git(self.path, "ls-tree", "-r", "-z", "--name-only", "HEAD", errors="surrogateescape")
                          .split("\0"))
            old = [rel for rel in dropped if rel in tracked]
            for chunk in _chunks(old):
                git(self.path, "--literal-pathspecs", "checkout", "--quiet", "HEAD", "--", *chunk)
            for chunk in _chunks([rel for rel in dropped if rel not in tracked]):
                git(self.path, "--literal-pathspecs", "clean", "--quiet", "-f", "--", *chunk)
            if on_discard is not None:
                on_discard([(printable(rel), why) for rel, why in sorting.discard])
        return sorting.keep

    def pending_files(self, scope: list[str] | None = None, authored_only: bool = False) -> list[str]:
        """Changed, new and deleted files of the worktree, within `scope` (the orchestrator's glob dialect),
        never build output; with authored_only, only those the run's tools wrote."""
        out = git(self.path, "status", "--porcelain", "-z", "--untracked-files=all", "--no-renames",
                  errors="surrogateescape")
        paths = [entry[3:] for entry in out.split("\0") if len(entry) > 3]
        found = [p for p in paths if not glob_match(p, BUILD_OUTPUT_GLOBS) and (scope is None or glob_match(p, scope))]
        return [p for p in found if self.ledger.lookup(p)[0]] if authored_only else found

    def _commit(self, subject: str, trailers: dict[str, str | list[str]], allow_empty: bool, body: str,
                files: list[str]) -> str | None:
        if not allow_empty and not files:
            return None
        present = [f for f in files if (self.path / f).exists() or (self.path / f).is_symlink()]
        for chunk in _chunks(present):
            git(self.path, "--literal-pathspecs", "add", "-A", "--", *chunk)
        # `git add` refuses a path gone from both the worktree and the index (a deletion already staged).
        gone = [f for f in files if f not in present]
        for chunk in _chunks(gone):
            git(self.path, "--literal-pathspecs", "rm", "--cached", "--quiet", "--ignore-unmatch", "--", *chunk)
        # Trailers must be the last paragraph, so a body never ends in "Key: value" lines of its own.
        lines = [subject, ""] + ([body.strip().replace("\n\n", "\n"), "", "--", ""] if body.strip() else [])
        for key, value in trailers.items():
            lines += [f"{key}: {v}" for v in (value if isinstance(value, list) else [value])]
        git(self.path, *self._identity, "commit", "--quiet", "--no-verify",
            *(["--allow-empty"] if allow_empty else []), "-m", "\n".join(lines))
        sha = self._known["head"] = git(self.path, "rev-parse", "HEAD").strip()
        phase = trailers.get(PHASE_TRAILER)
        if isinstance(phase, str) and "phases" in self._known:
            self._known["phases"][phase] = sha
        return sha

    @functools.cached_property
    def _identity(self) -> list[str]:
        """`-c user.*` flags when the repo has no identity configured, so commits never fail on it.

        Read once per workspace: two git processes fewer on every phase commit.
        """
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
        """Sha of the newest commit on the run's branch whose trailer `key` equals `value`.

        Phase trailers are read from the branch once per process, then kept current by `commit`.
        """
        if key == PHASE_TRAILER:
            with _GIT_LOCK:
                if "phases" not in self._known:
                    self._known["phases"] = self._trailer_values(key)
                return self._known["phases"].get(value)
        return self._trailer_values(key).get(value)

    def _trailer_values(self, key: str) -> dict[str, str]:
        """{trailer value: sha of the newest commit carrying it} on the branch since the base."""
        out = git(self.path, "log", f"--format=%H %(trailers:key={key},valueonly,separator=%x2C)",
                  f"{self.base_commit}..HEAD")
        found: dict[str, str] = {}
        for line in out.splitlines():  # newest first: the first sha seen for a value wins
            sha, _, values = line.partition(" ")
            for value in values.split(","):
                found.setdefault(value.strip(), sha)
        found.pop("", None)
        return found

    def phase_commit(self, phase_key: str) -> tuple[str, str] | None:
        """(sha, handoff body) of the commit a phase already made, e.g. before a crash; None if none."""
        sha = self.find_commit(PHASE_TRAILER, phase_key)
        if sha is None:
            return None
        body = git(self.path, "log", "-1", "--format=%b", sha).split("\n--\n")[0].strip()
        return sha, body

    def head(self) -> str:
        """Current commit of the run's branch (read once per process, then kept current by `commit`)."""
        with _GIT_LOCK:
            if "head" not in self._known:
                self._known["head"] = git(self.path, "rev-parse", "HEAD").strip()
            return self._known["head"]

    def changed_under(self, folder: str) -> list[str]:
        """Files under `folder` whose content differs from the base commit (new ones included), compared
        in-process against the base's blob ids, which are listed once per process."""
        with _GIT_LOCK:
            known = self._known.setdefault("base_blobs", {})
            if folder not in known:
                known[folder] = _blob_ids(git(self.path, "ls-tree", "-r", "-z", self.base_commit, "--", folder))
            base = known[folder]
        files = walk_files(self.path, folder)
        return [p for p in files if base.get(p) != _blob_id(_content(self.path / p), len(self.base_commit))]

    def diff(self, max_chars: int = 20000, exclude: tuple[str, ...] = ()) -> str:
        """Diff of the run so far against its base commit, including uncommitted and untracked files
        (leaving out the `exclude` globs, e.g. spec markdown that a packet shows whole)."""
        git(self.path, "add", "-A", "--intent-to-add", "--", ".", *BUILD_OUTPUT)
        left_out = tuple(f":(exclude,glob){pattern}" for pattern in exclude)
        text = git(self.path, "diff", *TEXT_DIFF, self.base_commit, "--", ".", *BUILD_OUTPUT, *left_out)
        return text if len(text) <= max_chars else text[:max_chars] + f"\n[... diff cut at {max_chars} chars]"

    def diff_stat(self) -> str:
        """`git diff --stat` of the branch against its base commit."""
        return git(self.path, "diff", "--stat", *TEXT_DIFF, self.base_commit, "HEAD").strip()

    def changed_files(self) -> list[str]:
        """Paths changed on the branch since the base commit, including uncommitted ones."""
        git(self.path, "add", "-A", "--intent-to-add", "--", ".", *BUILD_OUTPUT)
        names = git(self.path, "diff", "--name-only", self.base_commit, "--", ".", *BUILD_OUTPUT)
        return [p for p in names.splitlines() if p]


def _chunks(paths: list[str], size: int = 500) -> list[list[str]]:
    """Paths in argv-sized groups (a test can leave thousands of files)."""
    return [paths[i:i + size] for i in range(0, len(paths), size)]


def _blob_ids(ls_tree: str) -> dict[str, str]:
    """{path: blob id} from `git ls-tree -r -z` output ("<mode> <type> <id>\\t<path>" entries)."""
    ids = {}
    for entry in filter(None, ls_tree.split("\0")):
        info, _, path = entry.partition("\t")
        _mode, kind, object_id = info.split(" ")
        if kind == "blob":
            ids[path] = object_id
    return ids


def _content(path: Path) -> bytes:
    """What git stores for a path: a link's target text (a link is never followed), else the file's bytes."""
    if path.is_symlink():
        return os.fsencode(os.readlink(path))
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _blob_id(data: bytes, hex_length: int) -> str:
    """The id git gives a blob with these bytes (SHA-1, or SHA-256 in a repository that uses it)."""
    digest = hashlib.sha256 if hex_length == 64 else hashlib.sha1
    return digest(b"blob %d\0" % len(data) + data).hexdigest()
