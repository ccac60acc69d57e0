"""The one markdown section parser for specs: ATX headings outside code fences, each with its lines."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass
class Section:
    """One heading: its level, title, 1-based line, and every line up to the next heading of level <= its own."""

    level: int
    title: str
    line: int
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The heading line and its lines, as written."""
        return "\n".join([f"{'#' * self.level} {self.title}", *self.lines]).strip()


def sections(markdown: str) -> list[Section]:
    """Every heading of the document, in order; nested headings also appear inside their parents' lines."""
    found: list[Section] = []
    open_sections: list[Section] = []
    in_fence = False
    for number, line in enumerate(markdown.splitlines(), 1):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            level = len(match.group(1))
            open_sections = [s for s in open_sections if s.level < level]
        for section in open_sections:
            section.lines.append(line.rstrip())
        if match:
            found.append(Section(level, match.group(2), number))
            open_sections.append(found[-1])
    return found
