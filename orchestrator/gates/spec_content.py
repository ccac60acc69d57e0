"""Spec content: a spec must say something. Filler sections, empty scenarios and specs about nothing fail.

Structure (headings, Given/When/Then shape) is spec_lint's job; a schema-shaped `submit_spec` always
passes it, so this module judges what the sections hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from orchestrator.gates.spec_lint import Scenario, spec_sections

_WORD = re.compile(r"[A-Za-z0-9_']+")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s*")
# Something a test can pin down: a number, a quoted or code value, a call, a dotted or snake_case name,
# a literal, or an error.
_CONCRETE = re.compile(
    r"\d|[\"'`]|\w\(|\b\w+\.\w+\b|\b[a-z]+_[a-z0-9_]+\b|\b(?:true|false|none|null|empty|error|raises?|exception)\b",
    re.IGNORECASE,
)
_IDENTIFIER = re.compile(r"`([^`\n]{2,60})`|\b([A-Za-z_][\w]*(?:\.[A-Za-z0-9_]+)+)|\b([A-Za-z_]\w{2,})\s*\(|"
                         r"\b([a-z]+_[a-z0-9_]+)\b|\b([a-z]+[A-Z]\w*)\b")
GENERIC_NAMES = frozenset("test tests init main setup conftest readme agents spec specs src lib docs index".split())


def _normal(text: str) -> str:
    """Lower-case words only, so '- 100.' and '100' compare equal."""
    return " ".join(_WORD.findall(text.lower()))


def _body_lines(lines: Iterable[str]) -> list[str]:
    return [_BULLET.sub("", line).strip() for line in lines if line.strip()]


def section_problems(text: str, path: str) -> list[str]:
    """Sections that are empty of meaning: a lone token or number, text repeated across sections or lines."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for top in spec_sections(text).values():
        for sub, (line, body) in top["subs"].items():
            if sub == "scenarios":
                continue
            where = f"{path}:{line}: section '{sub.capitalize()}'"
            lines = _body_lines(body)
            words = _WORD.findall(" ".join(lines))
            if lines and (len(words) < 2 or all(w.isdigit() for w in words)):
                problems.append(f"{where} is empty of meaning: {' '.join(lines)[:40]!r} is a lone token")
            normal = _normal(" ".join(lines))
            if normal and normal in seen:
                problems.append(f"{where} repeats the text of section '{seen[normal].capitalize()}'")
            seen.setdefault(normal, sub)
            repeated = sorted({n for n in map(_normal, lines) if n and [*map(_normal, lines)].count(n) > 1})
            if repeated:
                problems.append(f"{where} repeats the line {repeated[0][:60]!r}")
    return problems


def scenario_problems(scenarios: list[Scenario], path: str) -> list[str]:
    """Scenarios that are duplicates or carry no concrete input and expected outcome."""
    problems: list[str] = []
    seen: dict[tuple[str, ...], int] = {}
    for number, scenario in enumerate(scenarios, 1):
        where = f"{path}:{scenario.line}: scenario {number}"
        parts = {"Given": scenario.given, "When": scenario.when, "Then": scenario.then}
        key = tuple(_normal(p) for p in parts.values())
        if key in seen:
            problems.append(f"{where} is identical to scenario {seen[key]}")
            continue
        seen[key] = number
        lone = [k for k, v in parts.items() if len(_WORD.findall(v)) < 2]
        if lone:
            problems.append(f"{where}: {', '.join(lone)} is a lone token ({scenario.given[:20]!r}, "
                            f"{scenario.when[:20]!r}, {scenario.then[:20]!r}); say what is set up, done and expected")
        elif len(set(key)) < 3:
            problems.append(f"{where}: Given, When and Then repeat the same text")
        elif not _CONCRETE.search(scenario.given + " " + scenario.when):
            problems.append(f"{where}: no concrete input (a value, a call, a file or a name) in Given/When")
        elif not _CONCRETE.search(scenario.then):
            problems.append(f"{where}: Then names no concrete expected outcome (a value, an error, a name)")
    return problems


def vocabulary(*texts: str, files: Iterable[str] = ()) -> set[str]:
    """Identifiers and file names a spec of this task could name: from the task, the survey map and the repo."""
    found: set[str] = set()
    for text in texts:
        for match in _IDENTIFIER.finditer(text):
            found.add(next(g for g in match.groups() if g).strip())
    for path in files:
        found.add(path)
        stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        found.add(stem)
    return {word for word in found if len(word) >= 3 and word.lower() not in GENERIC_NAMES}


def names_something(text: str, words: set[str]) -> bool:
    """True when the spec mentions at least one of the words (as a whole word, any case)."""
    lowered = text.lower()
    return any(re.search(rf"(?<![\w]){re.escape(w.lower())}(?![\w])", lowered) for w in words)
