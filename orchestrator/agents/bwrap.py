"""Bubblewrap confinement: the mounts, namespaces and environment of one sandboxed command."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BWRAP = "bwrap"
HIDDEN_ROOTS = ("/tmp", "/var/tmp", "/run", "/home", "/root")
"""Replaced by empty tmpfs inside: private tmp, no sockets of other services, no home directories."""
GIT_MOUNT = Path("/run/orchestrator/git")
"""Where the repo's common git dir appears (read-only) inside the sandbox."""
# New namespaces for everything but users; all capabilities dropped so that root inside cannot
# remount the read-only binds, and a PID namespace whose death kills every process started inside.
NAMESPACE_FLAGS = ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                   "--cap-drop", "ALL", "--die-with-parent", "--new-session")


@dataclass(frozen=True)
class Layout:
    """Where a command's worktree is on disk and where it appears inside the sandbox."""

    worktree: Path
    visible_at: Path
    common_git: Path | None = None
    gitdir: Path | None = None

    def inside(self, path: Path) -> Path:
        """The sandbox path of a host path inside the worktree (other paths are unchanged)."""
        path = Path(os.path.abspath(path))
        if path.is_relative_to(self.worktree):
            return self.visible_at / path.relative_to(self.worktree)
        return path


def bwrap_path() -> str | None:
    """The bubblewrap program: on PATH, else in the system folders (a PATH narrowed to a venv still finds it)."""
    return shutil.which(BWRAP) or shutil.which(BWRAP, path=os.defpath)


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """None when bubblewrap works on this machine, else why not (checked once per process)."""
    exe = bwrap_path()
    if exe is None:
        return "bubblewrap (bwrap) is not installed; install it (e.g. `apt-get install bubblewrap`)"
    probe = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", *NAMESPACE_FLAGS, "true"]
    try:
        proc = subprocess.run(probe, capture_output=True, text=True, timeout=20, env={"PATH": os.defpath})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap failed to start: {exc}"
    if proc.returncode != 0:
        return f"bubblewrap cannot create namespaces here: {proc.stderr.strip()[:300]}"
    return None


@functools.lru_cache(maxsize=1)
def sizes_tmpfs() -> bool:
    """Whether this bubblewrap can bound a tmpfs (`--size`, bubblewrap 0.8 and later)."""
    exe = bwrap_path()
    if exe is None:
        return False
    try:
        proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=20, env={"PATH": os.defpath})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--size" in proc.stdout + proc.stderr


def find_layout(cwd: Path) -> Layout:
    """The worktree holding `cwd` and, for a linked git worktree, the user's repo path to mount it at."""
    cwd = Path(os.path.abspath(cwd))
    top = next((d for d in (cwd, *cwd.parents) if (d / ".git").exists()), None)
    if top is None:
        return Layout(worktree=cwd, visible_at=cwd)
    dotgit = top / ".git"
    if dotgit.is_dir():
        return Layout(worktree=top, visible_at=top, common_git=dotgit)
    gitdir = _gitdir_of(dotgit)
    if gitdir is None or gitdir.parent.name != "worktrees" or not (gitdir / "commondir").is_file():
        return Layout(worktree=top, visible_at=top)
    common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
    repo = common.parent
    # Only a normal checkout (repo/.git is the common dir) has a user path to mount the branch at.
    visible = repo if common.name == ".git" and (repo / ".git").resolve() == common else top
    return Layout(worktree=top, visible_at=visible, common_git=common, gitdir=gitdir)


def _gitdir_of(dotgit: Path) -> Path | None:
    """The `gitdir:` target of a worktree's `.git` file."""
    try:
        text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    target = Path(text.removeprefix("gitdir:").strip())
    return (target if target.is_absolute() else dotgit.parent / target).resolve()


def hidden_roots() -> list[Path]:
    """The host folders replaced by empty tmpfs inside (the user's home included wherever it is)."""
    roots = [Path(p) for p in HIDDEN_ROOTS if Path(p).is_dir()]
    home = Path(os.path.expanduser("~"))
    if home != Path("/") and home.is_dir() and not any(home.is_relative_to(r) for r in roots):
        roots.append(home)
    return roots


def normalised_path(path_value: str) -> str:
    """PATH with each folder resolved to its real location, duplicates and relative entries dropped.

    Inside the sandbox the hidden roots are empty tmpfs: an entry written with `..`, or through a symlink
    that lives under a hidden root (a venv linked from the home folder), can't be walked there, and the
    command would fall through to a later entry. A relative entry would resolve inside the worktree, so a
    repo could plant its own `python`: those are dropped.
    """
    seen: list[str] = []
    for entry in path_value.split(os.pathsep):
        if entry and os.path.isabs(entry):
            real = os.path.realpath(entry)
            if real not in seen:
                seen.append(real)
    return os.pathsep.join(seen)


def environment_roots(env: dict[str, str]) -> list[Path]:
    """The user's PATH folders (a venv's root for a venv's bin) and VIRTUAL_ENV: where trusted programs live."""
    roots = [_venv_root(Path(e)) for e in env.get("PATH", "").split(os.pathsep) if e and os.path.isabs(e)]
    return roots + ([Path(env["VIRTUAL_ENV"])] if env.get("VIRTUAL_ENV") else [])


def tool_paths(argv0: str, env: dict[str, str], layout: Layout) -> list[Path]:
    """Host folders the command needs that the hidden roots or the worktree would mask: venvs, PATH dirs."""
    masked = [*hidden_roots(), layout.visible_at]
    wanted: list[Path] = []
    for entry in env.get("PATH", "").split(os.pathsep):
        if entry and os.path.isabs(entry):
            wanted.append(_venv_root(Path(entry)))
    if env.get("VIRTUAL_ENV"):
        wanted.append(Path(env["VIRTUAL_ENV"]))
    exe = shutil.which(argv0, path=env.get("PATH"))
    if exe:
        real = Path(os.path.realpath(exe))
        wanted += [_venv_root(Path(exe).parent), real.parent.parent]
        if Path(exe).parent.name == "shims":  # a pyenv shim runs scripts from its root's libexec/
            wanted.append(Path(exe).parent.parent)
    wanted.append(Path(os.path.expanduser("~/.local/lib")))  # user site-packages (pip install --user)
    keep: list[Path] = []
    for path in wanted:
        path = Path(os.path.abspath(path))
        if path.is_dir() and any(path.is_relative_to(m) for m in masked) and path not in keep:
            keep.append(path)
    return [p for p in keep if not any(p != q and p.is_relative_to(q) for q in keep)]


def _venv_root(bin_dir: Path) -> Path:
    """A PATH folder's virtual environment (the folder holding pyvenv.cfg), else the folder itself."""
    return bin_dir.parent if (bin_dir.parent / "pyvenv.cfg").is_file() else bin_dir


def bwrap_argv(argv: list[str], cwd: Path, layout: Layout, env: dict[str, str], writable: list[Path],
               git_file: Path | None, readonly: Sequence[Path] = (), tmpfs_bytes: int | None = None) -> list[str]:
    """The full bwrap command line: read-only root, hidden roots, the worktree at its user path, then argv."""
    args = [bwrap_path() or BWRAP, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    size = ["--size", str(tmpfs_bytes)] if tmpfs_bytes and sizes_tmpfs() else []
    for root in hidden_roots():
        args += [*size, "--tmpfs", str(root)]
    args += ["--bind", str(layout.worktree), str(layout.visible_at)]
    if layout.common_git is not None and layout.gitdir is not None and git_file is not None:
        # A linked worktree's git dir, read-only, minus the orchestrator's run state; `.git` points at it.
        args += ["--ro-bind", str(layout.common_git), str(GIT_MOUNT)]
        if (layout.common_git / "orchestrator").is_dir():
            args += ["--tmpfs", str(GIT_MOUNT / "orchestrator")]
        args += ["--ro-bind", str(git_file), str(layout.visible_at / ".git")]
    elif layout.common_git is not None:
        args += ["--ro-bind", str(layout.common_git), str(layout.inside(layout.common_git))]
    for path in readonly:  # files of the worktree that define success (existing tests, conftest.py)
        args += ["--ro-bind", str(path), str(layout.inside(path))]
    for path in tool_paths(argv[0], env, layout):
        args += ["--ro-bind", str(path), str(path)]
    for path in writable:
        args += ["--bind", str(path), str(layout.inside(path))]
    return [*args, *NAMESPACE_FLAGS, "--chdir", str(layout.inside(cwd)), "--", *argv]


def git_file_text(layout: Layout) -> str | None:
    """Content of the `.git` file seen inside: the worktree's git dir at its read-only mount."""
    if layout.common_git is None or layout.gitdir is None or not layout.gitdir.is_relative_to(layout.common_git):
        return None
    return f"gitdir: {GIT_MOUNT / layout.gitdir.relative_to(layout.common_git)}\n"


def mount_points(layout: Layout, paths: list[Path]) -> list[Path]:
    """Folders bwrap will have to create inside the worktree for `paths` (removed again afterwards)."""
    created = []
    for path in paths:
        inside = layout.inside(path)
        if inside.is_relative_to(layout.visible_at) and inside != layout.visible_at:
            on_disk = layout.worktree / inside.relative_to(layout.visible_at)
            missing = [p for p in (on_disk, *on_disk.parents) if p.is_relative_to(layout.worktree)
                       and p != layout.worktree and not os.path.lexists(p)]
            created.extend(missing)
    return created
