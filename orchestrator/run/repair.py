"""Repairs a resume makes before it continues a run, each with a notice: git state a kill or a person left behind."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from orchestrator.errors import WorkspaceError
from orchestrator.run.workspace import BRANCH_PREFIX, git
from orchestrator.store.location import state_dir


def _worktree_entries(repo: Path) -> list[dict[str, str]]:
    """`git worktree list --porcelain` as one dict per worktree (keys: worktree, HEAD, locked, ...)."""
    entries: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in git(repo, "worktree", "list", "--porcelain", check=False).splitlines():
        if not line.strip():
            entries, current = entries + ([current] if current else []), {}
            continue
        key, _, value = line.partition(" ")
        current[key] = value
    return entries + ([current] if current else [])


def unlock_stale_checkouts(repo: Path, run_id: str) -> list[str]:
    """Unlock and clear this run's checkouts that a killed `git worktree add` left locked ("initializing").

    Call only while holding the run's lock: then no live git of this run owns them.
    """
    root = state_dir(repo)
    base, own = (root / "base" / run_id).resolve(), (root / "worktrees" / run_id).resolve()
    notices = []
    for entry in _worktree_entries(repo):
        path = Path(entry.get("worktree", "")).resolve()
        if "locked" not in entry or path not in (base, own):
            continue
        git(repo, "worktree", "unlock", str(path), check=False)
        if path == base:  # the gate makes it again; only a complete checkout is worth keeping
            git(repo, "worktree", "remove", "--force", str(path), check=False)
            shutil.rmtree(path, ignore_errors=True)
        notices.append(f"repaired a git worktree a killed session left locked: {path}")
    git(repo, "worktree", "prune", check=False)
    return notices


def _exists(repo: Path, sha: str) -> bool:
    return bool(sha) and bool(git(repo, "rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}", check=False).strip())


def _reflog_tip(repo: Path, run_id: str) -> str:
    """The newest commit the run's worktree HEAD pointed at (its reflog survives a deleted branch)."""
    log = state_dir(repo).parent / "worktrees" / run_id / "logs" / "HEAD"
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return lines[-1].split(" ")[1] if lines and len(lines[-1].split(" ")) > 1 else ""


def restore_branch(repo: Path, run_id: str, base_commit: str, runlog: Any) -> list[str]:
    """Make a deleted run branch again at its last known commit (worktree reflog, else the run log's phase
    commits); refuse when commits were made but none can be found, rather than rebuild without them."""
    branch = BRANCH_PREFIX + run_id
    if git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).strip():
        return []
    recorded = [e["data"].get("commit") for e in runlog.events(run_id)
                if e["kind"] in ("phase_end", "phase_reused") and e["data"].get("commit")]
    known = [sha for sha in [_reflog_tip(repo, run_id), *reversed(recorded)] if _exists(repo, sha)]
    if recorded and not known:
        raise WorkspaceError(
            f"the run's branch {branch} was deleted and its commits ({', '.join(s[:12] for s in recorded[-3:])}) are "
            f"gone from the repository, so run {run_id} can't continue with its spec and tests; start a new run "
            f"(and remove this one with `orchestrator runs rm {run_id}`)")
    tip = known[0] if known else base_commit
    git(repo, "branch", "--force", branch, tip)
    where = "its last commit" if known else "its base commit (it had no commits yet)"
    return [f"the run's branch {branch} was deleted; made it again at {tip[:12]}, {where}"]


def worktree_notice(path: Path, branch: str) -> list[str]:
    """Say so when a resume has to make the run's worktree again (it was deleted or half-made)."""
    if (path / ".git").is_file():
        return []
    return [f"the run's worktree {path} was missing or incomplete; made it again from branch {branch}"]


def repair_for_resume(repo: Path, run_id: str, base_commit: str, runlog: Any) -> list[str]:
    """Before a resume touches the worktree: stale locked checkouts, a deleted branch, a deleted worktree."""
    notices = unlock_stale_checkouts(repo, run_id) + restore_branch(repo, run_id, base_commit, runlog)
    return notices + worktree_notice(state_dir(repo) / "worktrees" / run_id, BRANCH_PREFIX + run_id)
