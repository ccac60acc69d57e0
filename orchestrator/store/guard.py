"""Clear errors for a state database that is corrupt or on a full disk, naming the file and the way out."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator.errors import StoreError

_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def is_disk_full(exc: BaseException) -> bool:
    """True for a write that failed because the disk (or the user's quota) is full, from SQLite or the OS."""
    if isinstance(exc, OSError) and exc.errno in _FULL:
        return True
    return isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc)


def disk_full_error(exc: BaseException, run_id: str = "", where: Path | None = None) -> StoreError:
    """The message for a full disk: what failed and how to go on."""
    place = f" (writing under {where})" if where else ""
    then = (f"continue the run with `orchestrator resume {run_id}` (its finished steps are saved)" if run_id
            else "run the command again")
    return StoreError(f"the disk is full{place}: {exc}. Free some space, then {then}.")


@contextmanager
def opened_store(path: Path, what: str = "run log") -> Iterator[None]:
    """Turn SQLite's errors while opening `path` into one line naming the file and the fix."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if is_disk_full(exc):
            raise disk_full_error(exc, where=path.parent) from exc
        raise StoreError(f"{path}: the {what} can't be opened ({exc}). Check the file's permissions and that "
                         "no other program holds it, then run the command again.") from exc
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: the {what} is not a readable SQLite database ({exc}). Move it aside "
                         f"(mv '{path}' '{path}.corrupt') and run the command again: a new, empty {what} is made; "
                         "runs recorded only in the old file can no longer be listed or resumed.") from exc
