"""Code written as a reply: fenced blocks found in a model's text, and merged into the file they change.

A model that answers in prose and a ```python block writes better code than one that has to escape the code
inside a JSON tool call (measured 2026-12-07 on HumanEval through the tool harness: the 0.5B's constrained
writes were mostly a signature and no body). These functions only parse and merge text; the write itself goes
through the step's toolbox, so confinement and the write policy apply as to any tool call.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

_OPEN = re.compile(r"^( {0,3})```[ \t]*([^\n`]*)\n", re.MULTILINE)  # indented as markdown allows (in a list)
_CLOSE = re.compile(r"^ {0,3}```[ \t]*$", re.MULTILINE)
_MAX_CLOSINGS = 20
"""Closing fences tried for one block whose code doesn't parse at the first (a fence inside its docstring)."""
_PATH = r"[\w.][\w./-]*\.[A-Za-z0-9]+"
_PATH_BEFORE = re.compile(rf"(?:^|[\s`*:#(])({_PATH})[`*:)]*\s*$")
_PATH_COMMENT = re.compile(rf"^\s*#\s*(?:file(?:name)?\s*:\s*|path\s*:\s*)?({_PATH})\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: the path the reply gave it (None when it gave none) and its code."""

    path: str | None
    code: str


def code_blocks(text: str) -> list[Block]:
    """The reply's fenced blocks, in order; a last block cut off before its closing fence counts.

    The path is the first that fits of: a path in the fence's info string (```python calc.py), a first line
    that is a comment naming it (# file: calc.py, which is then dropped), a path ending the line before."""
    text = text.replace("\r\n", "\n")
    blocks = []
    for start, info_text, code in _fences(text):
        info = info_text.split()
        path = next((word for word in info[1:] if re.fullmatch(_PATH, word)), None)
        if path is None and info and re.fullmatch(_PATH, info[0]) and "." in info[0]:
            path = info[0]
        first, _, rest = code.partition("\n")
        named = _PATH_COMMENT.match(first)
        if path is None and named:
            path, code = named.group(1), rest
        if path is None:
            path = _path_before(text[:start])
        if code.strip():
            blocks.append(Block(path=path, code=code.rstrip() + "\n"))
    return blocks or _unfenced(text)


def _fences(text: str) -> Iterator[tuple[int, str, str]]:
    """(start, info string, code) of each fenced block. A block ends at the first closing fence after which its
    code parses (a docstring may show an example in fences), else at the first one, else at the end."""
    at = 0
    while (opening := _OPEN.search(text, at)) is not None:
        dedent = re.compile(rf"^ {{0,{len(opening.group(1))}}}", re.MULTILINE)  # the fence's own indent goes
        closings = list(islice(_CLOSE.finditer(text, opening.end()), _MAX_CLOSINGS))
        parses = (c for c in closings if _parsed(_between(text, opening, c, dedent)) is not None)
        closing = next(parses, closings[0] if closings else None)
        yield opening.start(), opening.group(2), _between(text, opening, closing, dedent)
        if closing is None:
            return
        at = closing.end()


def _between(text: str, opening: re.Match[str], closing: re.Match[str] | None, dedent: re.Pattern[str]) -> str:
    return dedent.sub("", text[opening.end():closing.start() if closing else len(text)])


def _unfenced(text: str) -> list[Block]:
    """A reply that is nothing but Python, without fences (measured 2026-12-07: the 1.5B tester answered
    `# file: tests/test_subtract.py` and the test, three times): one block, named by its first-line comment."""
    # A lone fence line with nothing to pair with (the 1.5B closed a block it never opened) is not code.
    text = "\n".join(line for line in text.splitlines() if not re.fullmatch(r"\s*```\w*\s*", line))
    first, _, rest = text.strip().partition("\n")
    named = _PATH_COMMENT.match(first)
    tree = _parsed(text)
    # A reply that opens by naming its file is code even when cut off at the token cap (measured 2026-12-07, the
    # 1.5B tester on clamp: three such replies were lost); whether it parses is the write's check.
    if not named and (tree is None or not any(isinstance(node, (*_DEFS, ast.Import, ast.ImportFrom))
                                              for node in tree.body)):
        return []
    path, code = (named.group(1), rest) if named else (None, text.strip())
    return [Block(path=path, code=code.rstrip() + "\n")] if code.strip() else []


def _path_before(text: str) -> str | None:
    lines = text.rstrip().splitlines()
    found = _PATH_BEFORE.search(lines[-1]) if lines else None
    return found.group(1) if found else None


def merged(old: str, new: str, module: str = "") -> str:
    """The file after a block: the block itself when it is the whole file, else the old file with the block's
    definitions put in.

    The block is the whole file when the old one is empty or doesn't parse, when it isn't Python, or when it has
    every top-level part of the old file: each function, class and assigned name (by name) and every other
    statement (imports, the docstring, a `__main__` block: the same code). Otherwise each function, class or
    single-name assignment of the block replaces the old one of its name, in place, or is added at the end; its
    imports the file lacks go after the file's own (a `__future__` import first), except imports from the file's
    own `module` (dotted; the 0.5B wrote `from calc import add, subtract` into calc.py); a new top-level
    assignment is added; anything else at top level (example calls, prints, a `__main__` block) is left out,
    as it would run on import. A file that doesn't parse (the bug may be its syntax error) is merged by
    pattern (`_merged_by_pattern`). A byte-order mark and CRLF line endings of the old file are kept.
    """
    bom = "\ufeff" if old.startswith("\ufeff") else ""  # the parser refuses it in a str: set it aside
    text = _merged(old[len(bom):].replace("\r\n", "\n"), new, module)
    crlf = "\r\n" in old and old.count("\r\n") == old.count("\n")
    return bom + (text.replace("\n", "\r\n") if crlf else text)


def _merged(old: str, new: str, module: str) -> str:
    old_tree, new_tree = _parsed(old), _parsed(new)
    if not old.strip() or new_tree is None:
        return new
    if old_tree is None:
        return _merged_by_pattern(old, new, new_tree, module)
    if _covers(old_tree.body, new_tree.body):
        return new
    lines = _lines(old)
    for name, node in reversed(list(_definitions(new_tree).items())):
        if name in _definitions(old_tree) and _alone(old_tree.body, _definitions(old_tree)[name]):
            lines = _put(lines, _definitions(old_tree)[name], new, node)
            old_tree = _parsed("\n".join(lines) + "\n") or old_tree
    text = "\n".join(lines).rstrip() + "\n"
    added = [_source(new, node) for name, node in _definitions(new_tree).items() if name not in _definitions(old_tree)]
    added += [_source(new, node) for node in _new_assignments(old_tree, new_tree)]
    text = _with_imports(text, old_tree, _new_imports(old, new, new_tree, module))
    return text + "".join(f"\n\n{chunk}\n" for chunk in added) if added else text


_TOP = re.compile(r"^(?:async[ \t]+def|def|class)[ \t]+(\w+)")
_IMPORT = re.compile(r"^(?:import|from)[ \t]+\S")
_ASSIGNED = re.compile(r"^([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=(?!=)")


def _merged_by_pattern(old: str, new: str, new_tree: ast.Module, module: str) -> str:
    """An old file that doesn't parse, merged by its lines. The block is the whole file when it defines every
    name a column-0 `def`, `class` or assignment line of the old file has, and has its one-line imports. Else
    each function or class of the block replaces the lines of the last one of its name (its decorators, up to
    the next line at column 0 that doesn't close a bracket) or is appended, and its new imports go after the
    file's last one-line import (else at the top)."""
    lines = _lines(old)
    named = {m.group(1) for line in lines if (m := _TOP.match(line) or _ASSIGNED.match(line))}
    imports = {line.strip() for line in lines if _IMPORT.match(line)}
    if named <= set(_definitions(new_tree)) and imports <= {line.strip() for line in _lines(new)}:
        return new
    added: list[str] = []
    for name, node in reversed([(n, d) for n, d in _definitions(new_tree).items() if isinstance(d, _DEFS)]):
        starts = [at for at, line in enumerate(lines) if (m := _TOP.match(line)) and m.group(1) == name]
        if not starts:
            added.insert(0, _source(new, node))
            continue
        first = last = starts[-1]
        while first and lines[first - 1].startswith("@"):
            first -= 1
        while last + 1 < len(lines) and lines[last + 1][:1] in ("", " ", "\t", ")", "]", "}"):
            last += 1
        while last > starts[-1] and not lines[last].strip():
            last -= 1
        lines[first:last + 1] = _lines(_source(new, node))
    at = max((n + 1 for n, line in enumerate(lines) if _IMPORT.match(line)), default=0)
    lines[at:at] = _new_imports(old, new, new_tree, module)
    return "\n".join(lines).rstrip() + "\n" + "".join(f"\n\n{chunk}\n" for chunk in added)


def _lines(text: str) -> list[str]:
    """The text's lines as the parser counts them (str.splitlines also breaks at \\x0c, \\u2028 and more, so
    its line numbers drift from the parser's and a replacement would land on the wrong lines)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _alone(body: list[ast.stmt], node: ast.stmt) -> bool:
    """Whether no other statement of the body shares a line with the node (`X = 1; Y = 2`): its lines can go."""
    first, last = _span(node)
    return not any(other is not node and _span(other)[0] <= last and _span(other)[1] >= first for other in body)


def _parsed(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _definitions(tree: ast.Module) -> dict[str, ast.stmt]:
    return _members(tree.body)


def _members(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    """Functions, classes and single-name assignments (`LIMIT = 3`) of a body, by name; the last one wins."""
    found: dict[str, ast.stmt] = {}
    for node in body:
        if isinstance(node, _DEFS):
            found[node.name] = node
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            found[node.targets[0].id] = node
        elif isinstance(node, ast.AnnAssign) and node.value is not None and isinstance(node.target, ast.Name):
            found[node.target.id] = node
    return found


def _parts(body: list[ast.stmt]) -> set[tuple[str, str]]:
    """What a block must have of an old body to replace it whole: its definitions by name, other statements as code."""
    definitions = _members(body)
    named = {id(node) for node in definitions.values()}
    return {("name", name) for name in definitions} | \
        {("code", ast.dump(node)) for node in body if id(node) not in named}


def _covers(old: list[ast.stmt], new: list[ast.stmt]) -> bool:
    """Whether a new body has every part of the old one, and each class of both every part of the old class."""
    old_members, new_members = _members(old), _members(new)
    classes = [(node, other) for name, node in old_members.items()
               if isinstance(node, ast.ClassDef) and isinstance(other := new_members.get(name), ast.ClassDef)]
    return _parts(old) <= _parts(new) and all(_covers(node.body, other.body) for node, other in classes)


def _put(lines: list[str], old_node: ast.stmt, new: str, node: ast.stmt) -> list[str]:
    """The lines with the block's `node` in place of `old_node`. A class lacking some of the old one's members
    gets its members put in one by one (a method fixed alone must not drop its siblings); a definition without
    decorators keeps the old one's (small models leave out `@property`)."""
    if isinstance(old_node, ast.ClassDef) and isinstance(node, ast.ClassDef) and not _covers(old_node.body, node.body):
        members = _put_members(list(lines), old_node.name, new, node)
        if members is not None:
            return members
    first, last = _span(old_node)
    if getattr(old_node, "decorator_list", None) and not getattr(node, "decorator_list", None):
        first = old_node.lineno
    return [*lines[:first - 1], *_lines(_source(new, node)), *lines[last:]]


def _put_members(lines: list[str], name: str, new: str, node: ast.ClassDef) -> list[str] | None:
    """The lines with each member of the block's class `name` in place of the old one, or added at the class's
    end; None when the result doesn't parse (the block indents its class differently)."""
    for member_name, member in reversed(list(_members(node.body).items())):
        tree = _parsed("\n".join(lines) + "\n")
        old_class = _definitions(tree).get(name) if tree else None
        if not isinstance(old_class, ast.ClassDef):
            return None
        old_member = _members(old_class.body).get(member_name)
        if old_member is not None and _alone(old_class.body, old_member):
            lines = _put(lines, old_member, new, member)
        elif old_member is None:
            end = old_class.end_lineno or old_class.lineno
            lines[end:end] = ["", *_lines(_source(new, member))]
    return lines if _parsed("\n".join(lines) + "\n") is not None else None


def _span(node: ast.stmt) -> tuple[int, int]:
    """First and last line of a statement, decorators included."""
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)]), node.end_lineno or node.lineno


def _source(text: str, node: ast.stmt) -> str:
    first, last = _span(node)
    return "\n".join(_lines(text)[first - 1:last])


def _new_imports(old: str, new: str, new_tree: ast.Module, module: str) -> list[str]:
    have = {line.strip() for line in old.splitlines()}
    parts = module.split(".")
    own = {".".join(parts[at:]) for at in range(len(parts))} if module else set()  # pkg.calc: also calc
    imports = [_source(new, node) for node in new_tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
               and not (isinstance(node, ast.ImportFrom) and node.module in own)]
    return [text for text in imports if text.strip() not in have]


def _with_imports(text: str, tree: ast.Module, imports: list[str]) -> str:
    """The text with the import lines added after its last top-level import (or its docstring, or at the top);
    a `from __future__` import right after the docstring, where Python requires it."""
    if not imports:
        return text
    docstring = tree.body[:1] if tree.body and isinstance(tree.body[0], ast.Expr) and \
        isinstance(tree.body[0].value, ast.Constant) and isinstance(tree.body[0].value.value, str) else []
    existing: list[ast.stmt] = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    anchors = existing or docstring
    lines = _lines(text)
    top = max((_span(node)[1] for node in docstring), default=0)
    at = max((_span(node)[1] for node in anchors), default=0)
    future = [line for line in imports if line.startswith("from __future__")]
    rest = [line for line in imports if line not in future]
    return "\n".join([*lines[:top], *future, *lines[top:at], *rest, *lines[at:]]) + "\n"


def _new_assignments(old_tree: ast.Module, new_tree: ast.Module) -> list[ast.stmt]:
    """Top-level assignments of several names the old file doesn't assign (`_definitions` has the single ones)."""
    def names(tree: ast.Module) -> dict[str, ast.stmt]:
        found: dict[str, ast.stmt] = {}
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AnnAssign) else []
            found.update({t.id: node for t in targets if isinstance(t, ast.Name)})
        return found
    old_names, defined = names(old_tree), {id(node) for node in _definitions(new_tree).values()}
    return list({id(node): node for name, node in names(new_tree).items()
                 if name not in old_names and id(node) not in defined}.values())
