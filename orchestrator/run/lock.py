"""One process at a time per run: an flock'd lock file that names its holder's pid."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from orchestrator.errors import RunBusy

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not guarded against a second process there
    fcntl = None  # type: ignore[assignment]  # the module or None: the check below reads which


class RunLock:
    """Held while a process runs or resumes a run; the kernel drops it when the holder dies, even by SIGKILL."""

    def __init__(self, folder: Path, run_id: str):
        self.path = Path(folder) / f"{run_id}.lock"
        self.run_id = run_id
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise RunBusy(f"run {self.run_id} is in use by process {holder}; wait for it to finish, or stop "
                              f"it (kill {holder}) and resume again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing drops the flock; the file stays, so no two holders race on its creation
        self._fd = None


def held(folder: Path, run_id: str) -> bool:
    """True while some live process holds the run's lock (a SIGKILLed holder holds nothing)."""
    path = Path(folder) / f"{run_id}.lock"
    if fcntl is None or not path.exists():
        return fcntl is None  # without flock nobody can tell: assume alive
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the shared lock taken just to test
    return False


def live_status(row: dict, folder: Path) -> str:
    """A run's status as stored, except that `running` with no live holder reads `interrupted`."""
    status = row.get("status") or ""
    if status == "running" and not held(folder, row["id"]):
        return "interrupted"
    return status
