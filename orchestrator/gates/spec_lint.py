"""Spec structure: a spec.md needs its Blueprint and Contract sections and Given/When/Then scenarios that parse."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from orchestrator.markdown import sections

REQUIRED = {
    "blueprint": ("context", "architecture", "constraints"),
    "contract": ("definition of done", "guardrails", "scenarios"),
}
_STEP = re.compile(r"\b(given|when|then)\b", re.IGNORECASE)


@dataclass
class Scenario:
    """One Given/When/Then scenario and the line it starts on."""

    line: int
    given: str
    when: str
    then: str


@dataclass
class SpecLint:
    """Result of linting one spec file."""

    path: str
    problems: list[str] = field(default_factory=list)
    scenarios: list[Scenario] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the spec may gate a build."""
        return not self.problems


def lint_spec(text: str, path: str = "spec.md") -> SpecLint:
    """Check required sections and parse the scenarios of a spec's Contract."""
    result = SpecLint(path=path)
    sections = spec_sections(text)
    for top, subs in REQUIRED.items():
        if top not in sections:
            result.problems.append(f"{path}: missing section '## {top.title()}'")
            continue
        for sub in subs:
            if sub not in sections[top]["subs"]:
                result.problems.append(f"{path}: missing section '### {sub.capitalize()}' under {top.title()}")
            elif not "".join(sections[top]["subs"][sub][1]).strip():
                result.problems.append(f"{path}:{sections[top]['subs'][sub][0]}: section '{sub}' is empty")
    scenarios = sections.get("contract", {}).get("subs", {}).get("scenarios")
    if scenarios:
        result.scenarios, problems = parse_scenarios(scenarios[1], scenarios[0], path)
        result.problems += problems
        if not result.scenarios and not problems and "".join(scenarios[1]).strip():
            result.problems.append(f"{path}:{scenarios[0]}: no Given/When/Then scenario found")
    return result


def spec_sections(text: str) -> dict[str, dict]:
    """Level-1/2 headings (matched by keyword) -> their level-3 subsections with start line and body lines."""
    found: dict[str, dict] = {}
    top: str | None = None
    for section in sections(text):
        title = section.title.lower()
        if section.level <= 2:
            top = next((k for k in REQUIRED if k in title), None)
            if top:
                found.setdefault(top, {"line": section.line, "subs": {}})
        elif section.level == 3 and top:
            sub = next((s for s in REQUIRED[top] if s in title), None)
            if sub:
                found[top]["subs"][sub] = (section.line, section.lines)
    return found


def parse_scenarios(lines: list[str], first_line: int, path: str) -> tuple[list[Scenario], list[str]]:
    """Split the Scenarios section into blocks (bullets, 'Scenario:' lines or headings) and parse each."""
    blocks: list[tuple[int, str]] = []
    for offset, line in enumerate(lines, 1):
        stripped = line.strip()
        starts = re.match(r"^([-*+]|\d+[.)]|#{4,6}|scenario\b)", stripped, re.IGNORECASE)
        if starts and not line.startswith((" ", "\t")):
            blocks.append((first_line + offset, stripped))
        elif stripped and blocks:
            blocks[-1] = (blocks[-1][0], blocks[-1][1] + " " + stripped)
        elif stripped:
            blocks.append((first_line + offset, stripped))
    scenarios, problems = [], []
    for start, block in blocks:
        parsed = _parse_block(block)
        if parsed is None:
            if _STEP.search(block):
                problems.append(f"{path}:{start}: scenario does not read Given ... When ... Then ...: {block[:80]!r}")
            continue
        scenarios.append(Scenario(start, *parsed))
    return scenarios, problems


def _parse_block(block: str) -> tuple[str, str, str] | None:
    parts = _STEP.split(block)
    keywords = [p.lower() for p in parts[1::2]]
    if "given" not in keywords or "when" not in keywords or "then" not in keywords:
        return None
    first = {k: keywords.index(k) for k in ("given", "when", "then")}
    if not first["given"] < first["when"] < first["then"]:
        return None
    text = {k: parts[2 * first[k] + 2].strip(" ,;.") for k in first}
    return text["given"], text["when"], text["then"]
