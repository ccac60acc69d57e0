"""Load YAML while remembering the line of every key and item, so errors can point at file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import ConfigError

Location = tuple[str | int, ...]


class LocatedYaml:
    """Parsed YAML data plus a map from field path to 1-based line number."""

    def __init__(self, data: Any, lines: dict[Location, int], source: str):
        self.data, self.lines, self.source = data, lines, source

    def line_of(self, loc: Location) -> int:
        """Line of the deepest known prefix of `loc` (a bad value points at its own line)."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return 1

    def where(self, loc: Location) -> str:
        """'file:line' for a field path."""
        return f"{self.source}:{self.line_of(loc)}"


def load_located_yaml(text: str, source: str) -> LocatedYaml:
    """Parse YAML text; a syntax error becomes a ConfigError with file:line and the parser's reason."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 1
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}:{line}: YAML syntax error: {reason}") from None
    lines: dict[Location, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return LocatedYaml(data, lines, source)


def load_located_file(path: Path) -> LocatedYaml:
    """Read and parse a YAML file; a missing file is a ConfigError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return load_located_yaml(text, str(path))


def _walk(node: yaml.Node, loc: Location, lines: dict[Location, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*loc, key_node.value)
            # Point a key's errors at the key's own line, not at its (maybe nested) value.
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), lines)
