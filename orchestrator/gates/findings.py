"""Quality-gate output parsing: pytest, ruff and generic tool logs into short {file, line, message} findings."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

_LOCATION = re.compile(r"^(?P<file>[^\s:][^:\n]*?\.[A-Za-z0-9_]+):(?P<line>\d+):(?:(?P<col>\d+):)?\s*(?P<msg>.*)$")
_SECTION = re.compile(r"^={3,} (?P<title>.+?) ={3,}$")
# pytest pads a failure title with underscores; a title wider than the terminal gets a single one each side.
# Lines of spaced underscores (`_ _ _ _`) separate traceback entries and are not titles.
_BLOCK = re.compile(r"^_+ (?P<title>(?!_( _)*$).+?) _+$")
_SUMMARY_ITEM = re.compile(r"^(?P<kind>FAILED|ERROR) (?P<id>\S+)(?: - (?P<msg>.*))?$")
_RUFF_ARROW = re.compile(r"^\s*-->\s*(?P<file>.+?):(?P<line>\d+):(?P<col>\d+)\s*$")
_E_FILE = re.compile(r'^E\s+File "(?P<file>[^"]+)", line (?P<line>\d+)')
_RUFF_REFORMAT = re.compile(r"^Would reformat: (?P<file>.+)$")
_E_NOISE = ("Omitting ", "Use -v", "Full diff:")
_ADDRESS = re.compile(r" at 0x[0-9A-Fa-f]+>")
"""The memory address in a default repr (`<function f at 0x7f1f...>`): it differs in every process."""
_MAX_E_LINES = 4
_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Finding:
    """One problem a gate found: where (when known) and what, and which tool said so."""

    file: str | None
    line: int | None
    message: str
    tool: str


def _clip(text: str, limit: int = _MESSAGE_CHARS) -> str:
    """Collapse whitespace, drop reprs' memory addresses and cut a message to `limit` characters."""
    # Without the address the same failure reads the same in every run, so the builder's next request repeats
    # exactly: a rerun is reproducible and a benchmark's shared attempts replay (bench/tasks/replay.py).
    text = _ADDRESS.sub(">", " ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_pytest(output: str) -> list[Finding]:
    """Failures, errors and collection errors of a pytest run, each located at its crash line."""
    lines = output.splitlines()
    summary = _pytest_summary(lines)
    findings, seen_ids = [], set()
    for title, block in _pytest_blocks(lines):
        test_id = _match_summary_id(title, summary) or title
        seen_ids.add(test_id)
        findings.append(_block_finding(test_id, block))
    for test_id, (kind, message) in summary.items():
        if test_id not in seen_ids:
            path = test_id.split("::")[0]
            findings.append(Finding(path, None, _clip(f"{kind} {test_id}: {message or kind.lower()}"), "pytest"))
    findings.extend(_pytest_usage_errors(lines))
    return findings


def _pytest_blocks(lines: list[str]) -> list[tuple[str, list[str]]]:
    """The `___ title ___` blocks inside the FAILURES and ERRORS sections, with their lines."""
    blocks: list[tuple[str, list[str]]] = []
    in_report = False
    for line in lines:
        section = _SECTION.match(line)
        if section:
            in_report = section.group("title") in ("FAILURES", "ERRORS")
            continue
        block = _BLOCK.match(line) if in_report else None
        if block:
            blocks.append((block.group("title"), []))
        elif in_report and blocks:
            blocks[-1][1].append(line)
    return blocks


def _pytest_summary(lines: list[str]) -> dict[str, tuple[str, str]]:
    """The `FAILED id - msg` / `ERROR id - msg` lines of the short test summary, by test id."""
    items: dict[str, tuple[str, str]] = {}
    for line in lines:
        match = _SUMMARY_ITEM.match(line)
        if match:
            items.setdefault(match.group("id"), (match.group("kind"), match.group("msg") or ""))
    return items


def _match_summary_id(title: str, summary: dict[str, tuple[str, str]]) -> str | None:
    """Map a block title (`test_x`, `TestK.test_m`, `ERROR collecting a.py`) to a summary test id."""
    for prefix in ("ERROR collecting ", "ERROR at setup of ", "ERROR at teardown of "):
        title = title.removeprefix(prefix)
    for test_id in summary:
        if test_id == title or test_id.endswith("::" + title.replace(".", "::")):
            return test_id
    return None


def _block_finding(test_id: str, block: list[str]) -> Finding:
    """One finding for a failure block: where it crashed (see _crash_site) and the first `E` lines."""
    # A SyntaxError's `File "...", line N` E-line is the location, not part of the message.
    errors = [
        line[1:].strip()
        for line in block
        if line.startswith("E ") and not _E_FILE.match(line) and not line[1:].strip().startswith(_E_NOISE)
    ]
    file, line, note = _crash_site(test_id, block)
    detail = " | ".join(e for e in errors[:_MAX_E_LINES] if e) or note or "failed"
    return Finding(file, line, _clip(f"{test_id}: {detail}"), "pytest")


def _crash_site(test_id: str, block: list[str]) -> tuple[str | None, int | None, str]:
    """The most useful location of a failure: a SyntaxError's file, else the last frame in the project."""
    id_path = test_id.split("::")[0]
    for line in block:
        match = _E_FILE.match(line)
        if match:
            path = match.group("file")
            return (id_path if path.endswith("/" + id_path) else path), int(match.group("line")), ""
    frames = [m for m in map(_LOCATION.match, block) if m]
    # pytest prints project files relative to rootdir; absolute frames are stdlib or site-packages.
    local = [m for m in frames if not m.group("file").startswith(("/", "<"))]
    if not frames:
        return id_path or None, None, ""
    crash = (local or frames)[-1]
    return crash.group("file"), int(crash.group("line")), crash.group("msg")


def _pytest_usage_errors(lines: list[str]) -> list[Finding]:
    """Lines such as `ERROR: file or directory not found: x` that stop pytest before any test."""
    return [Finding(None, None, _clip(line), "pytest") for line in lines if line.startswith("ERROR: ")]


def parse_ruff(output: str) -> list[Finding]:
    """Ruff diagnostics in the concise (`path:line:col: CODE msg`) or full (`CODE msg` / `--> path`) format."""
    lines = output.splitlines()
    findings = []
    for index, line in enumerate(lines):
        arrow = _RUFF_ARROW.match(line)
        location = None if line.startswith(" ") else _LOCATION.match(line)
        reformat = _RUFF_REFORMAT.match(line)
        if arrow and index > 0:
            findings.append(Finding(arrow.group("file"), int(arrow.group("line")), _clip(lines[index - 1]), "ruff"))
        elif location and location.group("col"):
            findings.append(
                Finding(location.group("file"), int(location.group("line")), _clip(location.group("msg")), "ruff")
            )
        elif reformat:
            findings.append(Finding(reformat.group("file"), None, "would be reformatted (run `ruff format`)", "ruff"))
    return findings


def parse_generic(output: str, tool: str = "command") -> list[Finding]:
    """Any `path:line[:col]: message` lines; otherwise the last non-empty lines as one finding."""
    findings = [
        Finding(m.group("file"), int(m.group("line")), _clip(m.group("msg")), tool)
        for m in map(_LOCATION.match, output.splitlines())
        if m
    ]
    return findings or _tail_finding(output, tool)


def _tail_finding(output: str, tool: str, count: int = 5) -> list[Finding]:
    """The last `count` non-empty lines of the output as a single unlocated finding ([] if none)."""
    tail = [line.strip() for line in output.splitlines() if line.strip()][-count:]
    return [Finding(None, None, _clip(" | ".join(tail), 600), tool)] if tail else []


def tool_name(tool_name_or_argv: str | Sequence[str]) -> str:
    """The tool a command runs: `pytest` for `pytest -q`, `python -m pytest`, `.venv/bin/pytest`."""
    argv = [tool_name_or_argv] if isinstance(tool_name_or_argv, str) else list(tool_name_or_argv)
    if not argv:
        return "command"
    name = PurePosixPath(argv[0].replace("\\", "/")).name.removesuffix(".exe")
    if re.fullmatch(r"python[0-9.]*", name) and "-m" in argv[:-1]:
        name = argv[argv.index("-m") + 1]
    return "pytest" if name == "py.test" else name


def parse_output(tool_name_or_argv: str | Sequence[str], output: str, exit_code: int | None = None) -> list[Finding]:
    """Parse a gate command's output with the parser its tool name calls for.

    A failing command (non-zero `exit_code`) never yields no findings: the output tail stands in.
    """
    name = tool_name(tool_name_or_argv)
    parser = {"pytest": parse_pytest, "ruff": parse_ruff}.get(name)
    findings = parser(output) if parser else parse_generic(output, name)
    if findings and not parser and exit_code == 0:
        return [f for f in findings if f.file is not None]
    if not findings and exit_code not in (None, 0):
        return _tail_finding(output, name) or [Finding(None, None, f"exited with code {exit_code}, no output", name)]
    return findings


def compress_findings(findings: Sequence[Finding], max_chars: int = 2000, per_file: int = 8) -> str:
    """What a model sees instead of raw logs: deduped findings grouped by file, with drop counts."""
    unique = list(dict.fromkeys(findings))
    if not unique:
        return "No findings."
    groups: dict[str | None, list[Finding]] = {}
    for finding in unique:
        groups.setdefault(finding.file, []).append(finding)
    budget = max_chars - 90  # room for the closing note, so the total stays under max_chars
    lines: list[str] = []
    shown = 0
    for file, items in groups.items():
        block = [file or "(no file)"] + [_finding_line(f) for f in sorted(items, key=_line_key)[:per_file]]
        if len(items) > per_file:
            block.append(f"  ... {len(items) - per_file} more in this file")
        fits = _fitting_prefix(block, budget - sum(len(line) + 1 for line in lines))
        if len(fits) < 2:
            break
        lines += fits
        shown += sum(1 for line in fits[1:] if not line.startswith("  ... "))
    dropped = len(unique) - shown
    if dropped:
        lines.append(f"[{dropped} of {len(unique)} findings not shown; fix the ones above first]")
    return "\n".join(lines)[:max_chars]


def _line_key(finding: Finding) -> int:
    """Sort key: findings without a line come first."""
    return finding.line or 0


def _fitting_prefix(block: list[str], room: int) -> list[str]:
    """The longest prefix of `block` whose lines (plus newlines) fit in `room` characters."""
    fits: list[str] = []
    for line in block:
        room -= len(line) + 1
        if room < 0:
            break
        fits.append(line)
    return fits


def _finding_line(finding: Finding) -> str:
    """One indented line: `  12: message [tool]`."""
    where = f"{finding.line}: " if finding.line is not None else ""
    return f"  {where}{finding.message} [{finding.tool}]"
