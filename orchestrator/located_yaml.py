"""Load YAML while remembering the line of every key and item, so errors can point at file:line.

Config files come from users and from repositories nobody vetted, so the loader refuses what no config
needs and what would crash or hang a plain `yaml.safe_load`: bytes that are not UTF-8, files over
MAX_BYTES, nesting deeper than MAX_DEPTH, documents that expand past MAX_NODES nodes through aliases
(alias bombs, recursive aliases), duplicate keys, and values Python can't build (`2001-13-01`, a
5,000-digit integer, `!!int foo`). Each refusal is a ConfigError at `file:line`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from orchestrator.errors import ConfigError

Location = tuple[str | int, ...]

MAX_BYTES = 1 << 20
"""A config file this large is a mistake (or an attack)."""
MAX_DEPTH = 64
"""Nesting levels a document may have; PyYAML's composer recurses once or twice per level."""
MAX_NODES = 100_000
"""Nodes a document may have once its aliases are expanded; a billion-laughs bomb has 10^9."""
MERGE_KEY = "tag:yaml.org,2002:merge"


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


class _Refused(yaml.MarkedYAMLError):
    """Well-formed YAML that this loader refuses (too deep, too large once expanded, a duplicate key, a bad value)."""


try:  # libyaml's scanner and parser, about 7x faster than PyYAML's own, when PyYAML was built with it
    from yaml._yaml import CParser  # the C extension itself; yaml.cyaml imports it from here too

    _Parser: type[CParser] | None = CParser
except ImportError:  # pragma: no cover - every PyYAML wheel has it; a source build may not
    _Parser = None


_BASES: tuple[type, ...] = ((yaml.composer.Composer, _Parser, yaml.constructor.SafeConstructor,
                             yaml.resolver.Resolver) if _Parser else (yaml.SafeLoader,))


class _Loader(*_BASES):  # type: ignore[misc]  # bases chosen at import time, which mypy can't follow
    """A safe loader with a nesting limit, and with Python's own errors on bad values turned into YAML errors.

    Events come from libyaml when it is there; nodes are composed by PyYAML's Python composer, so the
    nesting limit below holds whichever parser read the text."""

    def __init__(self, text: str):
        if _Parser is None:
            yaml.SafeLoader.__init__(self, text)
        else:
            _check_printable(text)
            _Parser.__init__(self, text)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self._depth >= MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise _Refused(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        # SafeConstructor lets these escape: datetime(2001, 13, 1), int("9" * 5000), int("foo") for `!!int foo`.
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            # Composed nodes are scalar, sequence or mapping nodes; the last two name themselves in `id`.
            value = node.value if isinstance(node, yaml.ScalarNode) else getattr(node, "id", type(node).__name__)
            raise _Refused(None, None, f"cannot read {short_repr(value)} as {_tag(node.tag)}: {short_repr(exc)}",
                                   node.start_mark) from None


def _check_printable(text: str) -> None:
    """PyYAML's own refusal of characters YAML does not allow (NUL, most control characters, lone surrogates),
    with its message and offset: libyaml's reader words it differently and counts in bytes."""
    found = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if found:
        raise yaml.reader.ReaderError("<unicode string>", found.start(), ord(found.group()), "unicode",
                                      "special characters are not allowed")


def read_config_text(path: Path) -> str:
    """A config file's text: a ConfigError at file:line when it can't be read, is too large or is not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{path}:1: file too large for a config file ({len(raw):,} bytes; the limit is "
                          f"{MAX_BYTES:,})")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                          "save the file as UTF-8") from None


def load_located_yaml(text: str, source: str) -> LocatedYaml:
    """Parse YAML text; any refusal becomes a ConfigError with file:line and the reason."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{source}:1: document too large for a config ({len(text):,} characters; the limit is "
                          f"{MAX_BYTES:,})")
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        lines: dict[Location, int] = {}
        if node is not None:
            _index_lines(node, lines)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        label = "YAML error" if isinstance(exc, _Refused) else "YAML syntax error"
        raise ConfigError(f"{source}:{_error_line(exc, text)}: {label}: {_reason(exc)}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return LocatedYaml(data, lines, source)


def load_located_file(path: Path) -> LocatedYaml:
    """Read and parse a YAML file; a missing, oversized or non-UTF-8 file is a ConfigError naming it."""
    return load_located_yaml(read_config_text(path), str(path))


def _index_lines(root: yaml.Node, lines: dict[Location, int]) -> None:
    """Map every field path to its line, walking aliases as often as they are used, without recursion.

    Refuses duplicate keys, and documents whose aliases expand them past MAX_NODES nodes or MAX_DEPTH levels
    (a recursive alias expands forever, so it hits the depth limit).
    """
    todo: list[tuple[yaml.Node, Location]] = [(root, ())]
    count = 0
    while todo:
        node, loc = todo.pop()
        count += 1
        if count > MAX_NODES or len(loc) > MAX_DEPTH:
            limit = f"{MAX_NODES:,} nodes" if count > MAX_NODES else f"{MAX_DEPTH} levels"
            raise _Refused(None, None, f"the document's aliases expand it past {limit}", node.start_mark)
        lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            _check_duplicate_keys(node)
            for key_node, value_node in node.value:
                child = (*loc, key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.id))
                # Point a key's errors at the key's own line, not at its (maybe nested) value.
                lines[child] = key_node.start_mark.line + 1
                todo.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((item, (*loc, index)) for index, item in enumerate(node.value))


def _check_duplicate_keys(node: yaml.MappingNode) -> None:
    """PyYAML keeps the last of two equal keys silently; a config with both surely meant something else."""
    seen: dict[tuple[str, str], int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == MERGE_KEY:
            continue
        key = (key_node.tag, key_node.value)
        if key in seen:
            raise _Refused(None, None, f"duplicate key {short_repr(key_node.value)} (first at line {seen[key]})",
                                key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1


def _error_line(exc: yaml.YAMLError, text: str) -> int:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return mark.line + 1
    position = getattr(exc, "position", None)  # a ReaderError (e.g. a NUL character) has only an offset
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else 1


def _reason(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        return f"character U+{exc.character:04X} is not allowed in YAML ({exc.reason})"
    return getattr(exc, "problem", None) or str(exc)


def _tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def field_path(loc: Location) -> str:
    """A field path as a reader writes it, `steps[2].persona`; a key that is not a plain word is quoted, as in
    `models['openai/gpt-4o']`, so a line break in a key never splits a one-line message."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(str(part)):
            text += f"[{short_repr(str(part))}]"
        else:
            text += f".{part}" if text else str(part)
    return text


_PLAIN_KEY = re.compile(r"[\w-]{1,64}")


def short_repr(value: object, limit: int = 60) -> str:
    """repr() cut to `limit` characters, so a 1 MiB scalar doesn't become a 1 MiB message."""
    text = repr(value) if not isinstance(value, BaseException) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
