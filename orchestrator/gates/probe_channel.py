"""The probe's verdict channel: a file only the gate can open, an HMAC-chained record stream, and its reading.

The tested process gets two inherited descriptors: the write end of a results file that lives in a folder
the sandbox hides, and a pipe carrying a one-time key, which the probe reads and closes before any test
code runs. Code under test that writes to the descriptor without the key breaks the chain; one that stops
the process early leaves no `finish` record. Either way the run has no verdict, and the gate says `unknown`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROBE_SOURCE = Path(__file__).resolve().parent / "probe" / "orchestrator_probe.py"


@dataclass
class ProbeRecords:
    """What the probe reported; `problem` says why the stream can't be trusted (None when it can)."""

    finished: bool = False
    problem: str | None = None
    collected: list[str] = field(default_factory=list)
    collect_errors: dict[str, str] = field(default_factory=dict)
    phases: dict[str, list[str]] = field(default_factory=dict)
    plugins: list[str] = field(default_factory=list)

    @property
    def outcomes(self) -> dict[str, str]:
        """Each test's outcome: the worst of its phases (a passing call with a failing teardown is an error)."""
        return {nodeid: _worst(phases) for nodeid, phases in self.phases.items()}


def _worst(outcomes: list[str]) -> str:
    for worst in ("error", "failed", "xfailed", "skipped", "xpassed"):
        if worst in outcomes:
            return worst
    return "passed"


@dataclass
class ProbeChannel:
    """One run's channel: the probe module (random name, read-only folder), its descriptors and key."""

    module: str
    folder: Path
    results: Path
    out_fd: int
    key_fd: int
    key: bytes

    def env(self, untrusted: list[str], sandboxed: bool) -> dict[str, str]:
        """Variables the probe reads (and removes) at import: descriptor numbers and where plugins may not come
        from (the untrusted folders and, in the sandbox, any writable one)."""
        return {"PYTHONPATH": os.pathsep.join(p for p in (str(self.folder), os.environ.get("PYTHONPATH", "")) if p),
                "ORCHESTRATOR_PROBE_FD": str(self.out_fd), "ORCHESTRATOR_PROBE_IN_FD": str(self.key_fd),
                "ORCHESTRATOR_PROBE_UNTRUSTED": os.pathsep.join(untrusted),
                "ORCHESTRATOR_PROBE_SANDBOXED": "1" if sandboxed else "0",
                "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

    @property
    def pass_fds(self) -> tuple[int, int]:
        return self.out_fd, self.key_fd

    def read(self) -> ProbeRecords:
        """Verify the chain record by record; the first bad record ends the reading with the reason."""
        return read_records(self.results.read_bytes(), self.key)


@contextmanager
def probe_channel() -> Iterator[ProbeChannel]:
    """Make the probe folder, results file and key pipe for one pytest run; all are gone afterwards."""
    module = f"_orchestrator_probe_{secrets.token_hex(8)}"
    key = secrets.token_hex(32).encode()
    with tempfile.TemporaryDirectory(prefix="orchestrator-probe-") as tmp:
        folder, private = Path(tmp) / "plugin", Path(tmp) / "results"
        folder.mkdir()
        private.mkdir(mode=0o700)
        shutil.copyfile(PROBE_SOURCE, folder / f"{module}.py")
        results = private / f"{secrets.token_hex(8)}.jsonl"
        out_fd = os.open(results, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        key_r, key_w = os.pipe()
        try:
            os.write(key_w, key)
            os.close(key_w)
            yield ProbeChannel(module, folder, results, out_fd, key_r, key)
        finally:
            for fd in (out_fd, key_r):
                try:
                    os.close(fd)
                except OSError:
                    pass


def read_records(raw: bytes, key: bytes) -> ProbeRecords:
    """Parse and verify an HMAC-chained record stream written by the probe."""
    records = ProbeRecords()
    previous = ""
    for seq, line in enumerate(raw.split(b"\n")):
        if not line:
            if seq < raw.count(b"\n"):
                records.problem = f"record {seq} of the verdict stream is empty: something else wrote to it"
            break
        body, _, mac = line.decode("utf-8", errors="replace").rpartition("\t")
        expected = hmac.new(key, (previous + body).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, expected):
            records.problem = (f"record {seq} of the verdict stream fails its integrity check: code in the tested "
                               "process wrote to the gate's channel")
            return records
        previous = mac
        try:
            record = json.loads(body)
        except json.JSONDecodeError:
            records.problem = f"record {seq} of the verdict stream is not JSON"
            return records
        if record.get("seq") != seq or records.finished:
            records.problem = f"record {seq} of the verdict stream is out of order"
            return records
        _apply(records, record["kind"], record["data"])
    return records


def _apply(records: ProbeRecords, kind: str, data: dict) -> None:
    """Fold one verified record into the run's picture."""
    if kind == "collect_error":
        records.collect_errors[data["nodeid"]] = data["text"]
    elif kind == "collected":
        records.collected = list(data["ids"])
    elif kind == "report":
        records.phases.setdefault(data["nodeid"], []).append(data["outcome"])
    if kind in ("start", "collected", "plugins", "finish"):
        records.plugins = sorted(set(records.plugins) | set(data["plugins"]))
    if kind == "finish":
        records.finished = True
