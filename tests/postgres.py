"""A throwaway PostgreSQL cluster on 127.0.0.1 for the shared-store tests (Debian's binaries; no Docker).

ORCHESTRATOR_TEST_POSTGRES=postgresql://... uses a server you run instead. initdb refuses to run as root,
so as root the cluster belongs to the `postgres` user (its folder too) and its commands run as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

URL_ENV = "ORCHESTRATOR_TEST_POSTGRES"


def binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(argv: list[str]) -> list[str]:
    """Run as the cluster's owner: the `postgres` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@contextmanager
def cluster() -> Iterator[str]:
    """Start a cluster in a fresh folder; yields the URL of its `postgres` database; stops and removes it."""
    bindir = binaries()
    assert bindir is not None
    folder = Path(tempfile.mkdtemp(prefix="orchestrator-pg-"))
    data, port = folder / "data", _free_port()
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    run = lambda *argv: subprocess.run(_as_owner([str(a) for a in argv]), check=True, capture_output=True,  # noqa: E731
                                       text=True, timeout=120)
    try:
        run(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-k {folder} -h 127.0.0.1 -p {port} -c fsync=off -c max_connections=200"
        run(bindir / "pg_ctl", "-D", data, "-o", options, "-l", folder / "server.log", "-w", "start")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(server: str) -> str:
    """A new empty database on the server; returns its URL."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + "/" + name
