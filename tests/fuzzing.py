"""Shared by the fuzz tests: hostile YAML and hostile bytes, a hard time limit per example, and the check
that a rejection is a ConfigError whose every line starts with `file:line:`."""

from __future__ import annotations

import os
import re
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

# Hypothesis keeps a cache in ./.hypothesis even without an example database: keep it out of the repo.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "orchestrator-hypothesis"))

from hypothesis import HealthCheck, settings  # noqa: E402 - after the storage directory is set
from hypothesis import strategies as st

from orchestrator.errors import ConfigError, WorkflowValidationError


def fuzz_settings(examples: int) -> settings:
    """Deterministic (same examples on every machine), no example database in the repo, no flaky deadline:
    a hang is caught by `time_limit` instead."""
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


EXAMPLE_SECONDS = 10.0
"""Far above what any example takes (milliseconds): only a hang or an exponential blow-up gets here."""


class ExampleTimeout(Exception):
    """An example ran past EXAMPLE_SECONDS: the loader hangs on it."""


@contextmanager
def time_limit(seconds: float = EXAMPLE_SECONDS) -> Iterator[None]:
    """Interrupt the block with ExampleTimeout after `seconds` (SIGALRM: main thread, Unix)."""

    def expire(signum: int, frame: Any) -> None:
        raise ExampleTimeout(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_LINE_BREAKS = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a line break


def assert_located(exc: BaseException, source: str, raw: bytes) -> None:
    """A rejection is a ConfigError, and each of its lines names `source:LINE:` with a line in the file."""
    assert isinstance(exc, ConfigError), f"not a ConfigError: {type(exc).__name__}: {exc}"
    lines = exc.problems if isinstance(exc, WorkflowValidationError) else str(exc).splitlines()
    assert lines, "an empty error message"
    last = len(_LINE_BREAKS.split(raw.decode("utf-8", errors="replace"))) + 1
    for line in lines:
        assert "\n" not in line, f"a problem split over lines: {line[:300]!r}"
        match = re.match(rf"{re.escape(source)}:(\d+): .*\S", line)
        assert match, f"not located at {source}:LINE: {line[:300]!r}"
        assert 1 <= int(match.group(1)) <= last, f"line out of range (file has {last - 1}): {line[:300]!r}"


def render(doc: Any, flow: bool = False) -> str:
    """A document as YAML text; objects used twice become an anchor and aliases."""
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=flow, allow_unicode=True, width=100)


def _bomb(levels: int, width: int) -> str:
    """Billion laughs: each level is `width` aliases of the one before."""
    text = "lol0: &l0 [" + ", ".join(["lol"] * width) + "]\n"
    for i in range(1, levels):
        text += f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]\n"
    return text


HOSTILE_SNIPPETS = (
    _bomb(9, 9),
    _bomb(4, 4),  # small enough to load
    "loop: &loop [*loop]\n",
    "loop: &loop {self: *loop}\n",
    "x: *undefined\n",
    "a: &a 1\na2: &a 2\n",
    "name: !!python/object/apply:os.system ['echo pwned']\n",
    "name: !!python/name:os.system\n",
    "x: !!binary 'not base64 !'\n",
    "x: !!timestamp 2001-13-01\n",
    "when: 2001-02-30\n",
    "x: !!int foo\n",
    "x: !!float foo\n",
    "x: !!bool maybe\n",
    "x: !!set [1, 2]\n",
    "x: !!omap [1, 2]\n",
    "x: !!pairs {a: 1}\n",
    "x: !!str [1]\n",
    "x: !!map [1]\n",
    "x: !custom thing\n",
    "x: !<tag:example.com,2000:app/x> 1\n",
    "? [a, b]\n: c\n",
    "? {a: 1}\n: c\n",
    "<<: *nothing\n",
    "<<: [1, 2]\n",
    "base: &base {name: other}\nmerged:\n  <<: *base\n  name: mine\n",
    "name: one\nname: two\n",
    "%YAML 1.1\n---\nname: x\n",
    "%TAG ! tag:example.com,2000:\n---\nx: !y 1\n",
    "---\na: 1\n---\nb: 2\n",
    "...\n",
    "x: 'unterminated\n",
    "x: [unclosed\n",
    "x: {a: 1\n",
    "\tname: tab\n",
    "- a\nb: c\n",
    "x: " + "9" * 5000 + "\n",
    "x: 0x" + "f" * 5000 + "\n",
    "x: 1e99999\n",
    "x: [.nan, -.inf, .inf, ~, null, 0o17, 0b101, 1_000, 190:20:30]\n",
    "x: " + "[" * 200 + "]" * 200 + "\n",
    "x: " + "{a: " * 150 + "1" + "}" * 150 + "\n",
    "".join("  " * i + "a:\n" for i in range(120)) + "  " * 120 + "b\n",
    "x: " + "y" * 300_000 + "\n",
    "x: |\n" + "  long line\n" * 20_000,
    "\u2028name: sep\u2029\n",
    "x: \"\\ud800\"\n",
    "x: \"\\x00\"\n",
)

_INVALID_UTF8 = (b"\xff", b"\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\x80")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00")
_CONTROL = (b"\x00", b"\x07", b"\x1b", b"\x7f", b"\x0c", b"\x0b")


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """The text with one to three line-level edits: a hostile snippet spliced in, a line repeated (a duplicate
    key), dropped, re-indented or cut, or the text truncated."""
    lines = text.splitlines(keepends=True) or [""]
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(lines)))
        edit = draw(st.sampled_from(["snippet", "snippet", "repeat", "drop", "indent", "cut", "junk", "truncate"]))
        if edit == "snippet":
            indent = " " * draw(st.sampled_from([0, 0, 2, 4, 6]))
            snippet = draw(st.sampled_from(HOSTILE_SNIPPETS))
            lines[at:at] = [indent + line for line in snippet.splitlines(keepends=True)]
        elif edit == "repeat" and at < len(lines):
            lines.insert(at, lines[at])
        elif edit == "drop" and at < len(lines):
            del lines[at]
        elif edit == "indent" and at < len(lines):
            lines[at] = " " * draw(st.integers(1, 5)) + lines[at]
        elif edit == "cut" and at < len(lines):
            lines[at] = lines[at][: draw(st.integers(0, len(lines[at])))]
        elif edit == "junk":
            lines.insert(at, draw(st.text(max_size=40)) + "\n")
        elif edit == "truncate":
            lines = lines[:at] or [""]
    return "".join(lines)


@st.composite
def encoded(draw: st.DrawFn, text: str) -> bytes:
    """The text as bytes: mostly UTF-8, else with a BOM, UTF-16, CRLF or lone CR line ends, control
    characters or bytes that are not UTF-8 spliced in."""
    how = draw(st.sampled_from(["utf8", "utf8", "utf8", "bom", "utf16", "crlf", "cr", "control", "invalid"]))
    if how == "bom":
        return draw(st.sampled_from(_BOMS)) + text.encode("utf-8", "surrogatepass")
    if how == "utf16":
        return text.encode("utf-16", "surrogatepass")
    if how in ("crlf", "cr"):
        return text.replace("\n", "\r\n" if how == "crlf" else "\r").encode("utf-8", "surrogatepass")
    raw = text.encode("utf-8", "surrogatepass")
    if how in ("control", "invalid"):
        at = draw(st.integers(0, len(raw)))
        junk = draw(st.sampled_from(_CONTROL if how == "control" else _INVALID_UTF8))
        raw = raw[:at] + junk + raw[at:]
    return raw


def hostile_files(base_texts: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    """Files built to break a loader: mutated good documents in odd encodings, bare snippets, random bytes."""
    return st.one_of(
        base_texts.flatmap(mutated).flatmap(encoded),
        base_texts.flatmap(mutated).flatmap(encoded),
        base_texts.flatmap(encoded),
        st.sampled_from(HOSTILE_SNIPPETS).flatmap(encoded),
        st.binary(max_size=600),
        st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )


def junk_values() -> st.SearchStrategy[Any]:
    """A value of the wrong kind for any field: scalars of every type, lists and mappings of them."""
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(allow_nan=True),
                        st.text(max_size=20), st.sampled_from(["", "end", "stop", "builder", "~", "null"]))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(max_size=8), inner, max_size=3), max_leaves=6)


@st.composite
def damaged(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a nested document where a few values (or keys) are replaced by junk of the wrong type."""
    doc = yaml.safe_load(yaml.safe_dump(doc))  # deep copy, and plain YAML types only
    for _ in range(draw(st.integers(1, 3))):
        node: Any = doc
        while isinstance(node, (dict, list)) and node and draw(st.booleans()):
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            key = draw(st.sampled_from(keys))
            if not isinstance(node[key], (dict, list)) or not node[key]:
                break
            node = node[key]
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(list(node)))
            if draw(st.integers(0, 4)) == 0:
                node[draw(st.text(min_size=1, max_size=12))] = node.pop(key)  # a misspelt key
            else:
                node[key] = draw(junk_values())
        elif isinstance(node, list) and node:
            node[draw(st.integers(0, len(node) - 1))] = draw(junk_values())
    return doc
