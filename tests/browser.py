"""Headless Chromium for tests of HTML output: found, or installed with apt-get when missing and root (as in CI).

Run with the flags NOTES.md lists so that it never reaches the network, each call with a fresh profile.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio"]
ARTIFACTS = Path(os.environ.get("ORCHESTRATOR_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))
"""Screenshots kept after the run (tests/artifacts/ is ignored by git)."""


def find_chromium() -> str | None:
    """The chromium executable on PATH, if any."""
    return next((shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name)), None)


def install_chromium() -> str:
    """Debian's chromium via apt-get when root (as in CI); returns apt's complaint, or why it did not try."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "not root, so no apt-get install"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
    proc = subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True, text=True,
                          timeout=1200)
    return proc.stderr[-2000:]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of chromium, installed when missing. Where it can be installed (root with apt-get: CI), a failed
    install fails the test instead of skipping it; elsewhere the test skips, saying how to install it."""
    found = find_chromium()
    if found is not None:
        return found
    problem = install_chromium()
    found = find_chromium()
    if found is not None:
        return found
    if os.environ.get("CI") or (os.geteuid() == 0 and shutil.which("apt-get")):
        pytest.fail(f"chromium could not be installed: {problem}")
    pytest.skip("chromium is not installed: run `apt-get install -y chromium` as root (make setup does)")


def _run(browser: str, *args: str) -> subprocess.CompletedProcess[str]:
    """One headless chromium call with a fresh profile; a start-up that hangs (seen once on a loaded 2-core
    machine, the same call taking a second at rest) gets one more try."""
    for attempt in (1, 2):
        with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
            try:
                return subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                                      text=True, timeout=180)
            except subprocess.TimeoutExpired:
                if attempt == 2:
                    raise
    raise AssertionError("unreachable")


def dump_dom(browser: str, page: Path) -> str:
    """The page's DOM after its scripts ran."""
    proc = _run(browser, "--dump-dom", page.resolve().as_uri())
    assert proc.returncode == 0 and "<html" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


def screenshot(browser: str, page: Path, target: Path, size: tuple[int, int] = (1280, 4000)) -> Path:
    """A PNG of the page at the given window size."""
    target.parent.mkdir(parents=True, exist_ok=True)
    proc = _run(browser, f"--screenshot={target}", f"--window-size={size[0]},{size[1]}", page.resolve().as_uri())
    assert proc.returncode == 0 and target.is_file(), proc.stderr[-2000:]
    return target


def element_text(dom: str, element_id: str) -> str:
    """The unescaped text of `<pre id=...>` in a dumped DOM."""
    match = re.search(rf'<pre id="{element_id}">(.*?)</pre>', dom, re.S)
    assert match, f"no #{element_id} in the dumped DOM"
    return html.unescape(match.group(1))


def png_facts(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct byte values of the decoded pixel rows): a blank page has very few."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            chunks.append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    return width, height, len(set(zlib.decompress(b"".join(chunks))))
