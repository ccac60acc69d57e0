"""Resource limits of one sandboxed command: a cgroup (v2, else v1) where this machine lets us make one,
rlimits otherwise, and a tmpfs size; plus which limit a command ran into."""

from __future__ import annotations

import functools
import os
import re
import resource
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

CGROUP_ROOT = Path("/sys/fs/cgroup")
MIB = 1024 * 1024


class LimitsSpec(BaseModel):
    """Per-command resource limits (a workflow's `settings.limits`); the defaults suit a laptop's test suite."""

    model_config = ConfigDict(extra="forbid")

    processes: int = Field(512, ge=8, le=8192, description="Processes and threads one command may have at once.")
    memory_mb: int = Field(4096, ge=64, le=65536, description="Memory of one command, all its processes together.")
    file_size_mb: int = Field(1024, ge=1, le=65536, description="Largest file one command may write.")
    tmpfs_mb: int = Field(512, ge=16, le=65536, description="Size of each private /tmp-like folder inside.")


@dataclass(frozen=True)
class Cgroup:
    """The controller folders (pids, memory) of one command's cgroup, and the cgroup version."""

    version: int
    pids: Path
    memory: Path

    def join_paths(self) -> list[bytes]:
        return sorted({str(self.pids / "cgroup.procs").encode(), str(self.memory / "cgroup.procs").encode()})


def _own_cgroups() -> dict[str, str]:
    """controller -> this process's cgroup path ("" for the v2 unified hierarchy)."""
    found = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            found[name] = path
    return found


def _v2_parent() -> Path | None:
    """Our v2 cgroup when pids and memory can be delegated to children of it, else None."""
    own = _own_cgroups().get("")
    controllers = CGROUP_ROOT / "cgroup.controllers"
    if own is None or not controllers.is_file() or not {"pids", "memory"} <= set(controllers.read_text().split()):
        return None
    parent = CGROUP_ROOT / own.lstrip("/")
    subtree = (parent / "cgroup.subtree_control").read_text().split()
    if not {"pids", "memory"} <= set(subtree):
        (parent / "cgroup.subtree_control").write_text("+pids +memory")  # fails when parent holds processes
    return parent


def _v1_parents() -> tuple[Path, Path] | None:
    """Our v1 pids and memory cgroups, when both hierarchies are mounted at the usual place."""
    own = _own_cgroups()
    if "pids" not in own or "memory" not in own:
        return None
    pids, memory = CGROUP_ROOT / "pids" / own["pids"].lstrip("/"), CGROUP_ROOT / "memory" / own["memory"].lstrip("/")
    return (pids, memory) if (pids / "cgroup.procs").is_file() and (memory / "cgroup.procs").is_file() else None


def make_cgroup(limits: LimitsSpec) -> Cgroup | None:
    """A fresh cgroup with the process and memory limits set, or None when this machine doesn't allow one."""
    name = f"orchestrator-{os.getpid()}-{secrets.token_hex(4)}"
    parent = None
    try:
        parent = _v2_parent()
        if parent is not None:
            folder = parent / name
            folder.mkdir()
            group = Cgroup(2, folder, folder)
            (folder / "pids.max").write_text(str(limits.processes))
            (folder / "memory.max").write_text(str(limits.memory_mb * MIB))
            _write_if_present(folder / "memory.swap.max", "0")
            return group
        parents = _v1_parents()
        if parents is None:
            return None
        group = Cgroup(1, parents[0] / name, parents[1] / name)
        group.pids.mkdir()
        try:
            group.memory.mkdir()
        except OSError:
            _remove_quietly(group.pids)
            raise
        (group.pids / "pids.max").write_text(str(limits.processes))
        (group.memory / "memory.limit_in_bytes").write_text(str(limits.memory_mb * MIB))
        _write_if_present(group.memory / "memory.memsw.limit_in_bytes", str(limits.memory_mb * MIB))
        return group
    except OSError:
        for folder in (parent / name,) if parent is not None else ():
            _remove_quietly(folder)
        return None


def _remove_quietly(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _write_if_present(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError:
        pass  # no swap accounting here: the memory limit alone still holds


@functools.lru_cache(maxsize=1)
def cgroup_version() -> int | None:
    """2 or 1 when a command's cgroup can be made here (checked once by making and removing one), else None."""
    group = make_cgroup(LimitsSpec())
    if group is None:
        return None
    remove_cgroup(group)
    return group.version


def remove_cgroup(group: Cgroup) -> None:
    """Kill whatever is left in the cgroup and remove it."""
    for folder in {group.pids, group.memory}:
        for _ in range(50):
            try:
                pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
            except OSError:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                folder.rmdir()
                break
            except OSError:
                time.sleep(0.02)


def limit_hit(group: Cgroup | None, limits: LimitsSpec, output: str, exit_code: int) -> str | None:
    """Which limit the command ran into, in words, or None: cgroup counters first, else the errors it printed."""
    if group is not None:
        if _counter(group.pids / "pids.events", "max") > 0:
            return processes_reason(limits)
        oom = (_counter(group.memory / "memory.events", "oom_kill") if group.version == 2
               else _counter(group.memory / "memory.oom_control", "oom_kill"))
        if oom > 0:
            return memory_reason(limits)
    if re.search(r"File too large|\[Errno 27\]", output):
        return f"the file size limit ({limits.file_size_mb} MiB per file) was reached"
    if re.search(r"No space left on device|\[Errno 28\]", output):
        return f"the disk or the private /tmp ({limits.tmpfs_mb} MiB) was full"
    if group is None and re.search(r"\bMemoryError\b|Cannot allocate memory", output):
        return memory_reason(limits)
    if group is None and re.search(r"Resource temporarily unavailable|BlockingIOError", output):
        return processes_reason(limits)
    return None


def processes_reason(limits: LimitsSpec) -> str:
    return f"the process limit ({limits.processes} processes and threads) was reached, e.g. a fork bomb"


def memory_reason(limits: LimitsSpec) -> str:
    return f"the memory limit ({limits.memory_mb} MiB) was reached"


def _counter(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def preexec(group: Cgroup | None, limits: LimitsSpec) -> Callable[[], None]:
    """The child's set-up before exec: join the cgroup, set the rlimits. Only async-signal-safe calls."""
    paths = group.join_paths() if group is not None else []
    rlimits = [(resource.RLIMIT_FSIZE, limits.file_size_mb * MIB)]
    if group is None:
        rlimits.append((resource.RLIMIT_DATA, limits.memory_mb * MIB))
        if os.geteuid() != 0:  # root is exempt from RLIMIT_NPROC; for others it counts all their processes
            rlimits.append((resource.RLIMIT_NPROC, _user_processes() + limits.processes))

    def setup() -> None:
        pid = str(os.getpid()).encode()
        for path in paths:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
        for which, value in rlimits:
            soft, hard = resource.getrlimit(which)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (value, hard))

    return setup


def _user_processes() -> int:
    uid = os.geteuid()
    count = 0
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and proc.stat().st_uid == uid:
                count += 1
        except OSError:
            continue
    return count


def describe(limits: LimitsSpec, tmpfs_sized: bool) -> str:
    """The limits in force for each sandboxed command, with the mechanism of each (for the run's notices)."""
    version = cgroup_version()
    if version is not None:
        procs, memory = f"cgroup v{version} pids", f"cgroup v{version} memory"
    else:
        procs = "rlimit" if os.geteuid() != 0 else "NOT LIMITED (no cgroup here; rlimits don't bind root)"
        memory = "rlimit on data size"
    tmpfs = "bubblewrap tmpfs size" if tmpfs_sized else "NOT LIMITED (this bubblewrap has no --size)"
    return (f"limits of each sandboxed command: {limits.processes} processes ({procs}), {limits.memory_mb} MiB memory "
            f"({memory}), {limits.file_size_mb} MiB per file (rlimit), {limits.tmpfs_mb} MiB per private /tmp "
            f"({tmpfs})")
