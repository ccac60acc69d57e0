"""A tester's code block cut to what proves a small task (whole statements, its first few asserts), and a builder's
block without the tests it wrote beside its code.

Measured 2026-12-07 (bench_team, clamp, the 1.5B tester): asked for three to five asserts, it wrote twenty
near-identical ones until its token cap cut the last mid-line. The file didn't parse, so the whole reply was lost
(225 s); and the asserts past the fifth were the wrong ones (`clamp(15, 15.555555, 15.5555555) == 15.555555`).
The first asserts a small model writes are its plainest cases, so those are the ones kept.
"""

from __future__ import annotations

import ast

MAX_ASSERTS = 5


def trimmed_tests(code: str, max_asserts: int = MAX_ASSERTS) -> tuple[str, str]:
    """(`code` cut to whole statements and its first `max_asserts` asserts, what was cut; "" when nothing was).

    Code that parses keeps every statement; code that doesn't loses its last lines until it parses (a reply cut at
    its token cap), and is returned as it was when no prefix with an assert parses."""
    notes = []
    lines = code.splitlines()
    tree = _parsed(code)
    if tree is None:
        kept = _longest_parsing_prefix(lines)
        if kept is None:
            return code, ""
        notes.append(f"cut {len(lines) - kept} unfinished line(s) at the end")
        lines = lines[:kept]
        tree = _parsed("\n".join(lines))
        assert tree is not None  # _longest_parsing_prefix checked it
    asserts = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Assert)), key=lambda n: n.lineno)
    if len(asserts) > max_asserts:
        fewer = _without(lines, tree, asserts[max_asserts:])
        if _parsed("\n".join(fewer)) is not None:  # e.g. a class left empty: keep every assert instead
            lines = fewer
            notes.append(f"kept the first {max_asserts} of {len(asserts)} asserts")
    text = "\n".join(lines).rstrip() + "\n"
    return (text, "; ".join(notes)) if notes else (code, "")


def _parsed(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def _longest_parsing_prefix(lines: list[str]) -> int | None:
    """How many leading lines parse as Python holding at least one assert; None when no prefix does."""
    for end in range(len(lines) - 1, 0, -1):
        tree = _parsed("\n".join(lines[:end]))
        if tree is not None and any(isinstance(n, ast.Assert) for n in ast.walk(tree)):
            return end
    return None


def _without(lines: list[str], tree: ast.Module, dropped: list[ast.Assert]) -> list[str]:
    """`lines` without the `dropped` asserts; a function left with nothing else goes whole (decorators too)."""
    gone = {line for node in dropped for line in _span(node)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and all(
                set(_span(statement)) <= gone for statement in node.body):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            gone |= set(range(first, (node.end_lineno or node.lineno) + 1))
    return [line for number, line in enumerate(lines, start=1) if number not in gone]


def _span(node: ast.stmt) -> range:
    return range(node.lineno, (node.end_lineno or node.lineno) + 1)


TEST_MODULES = {"unittest", "pytest"}


def without_tests(code: str, old: str = "") -> tuple[str, str]:
    """A builder's block without the tests it put beside its code: top-level `test_*` functions, `Test*` and
    TestCase classes, and imports of unittest or pytest; (the code, what was left out; "" when nothing was).

    Measured 2026-12-07 (bench_team, perimeter_bug): the 0.5B's fix came with a TestCase class, which went into
    shapes.py, and the critic failed the work for it. A name the `old` file already defines is its own code, and
    stays. Code that doesn't parse is returned as it is (the write says why).
    """
    tree = _parsed(code)
    if tree is None:
        return code, ""
    old_tree = _parsed(old)
    own = {getattr(node, "name", "") for node in old_tree.body} if old_tree else set()
    dropped = [node for node in tree.body if _is_test(node) and getattr(node, "name", None) not in own]
    if not dropped:
        return code, ""
    gone = {line for node in dropped for line in _span(node)}
    gone |= {line for node in dropped if not isinstance(node, ast.Import)
             for d in getattr(node, "decorator_list", []) for line in _span(d)}
    kept = "\n".join(line for number, line in enumerate(code.splitlines(), start=1) if number not in gone)
    names = [_name(node) for node in dropped]
    return kept.strip() + "\n", f"left out the test code: {', '.join(names)}"


def _is_test(node: ast.stmt) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return node.name.startswith("test_")
    if isinstance(node, ast.ClassDef):
        return node.name.startswith("Test") or any("TestCase" in ast.unparse(base) for base in node.bases)
    if isinstance(node, ast.Import):
        return all(alias.name.split(".")[0] in TEST_MODULES for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] in TEST_MODULES
    return False


def _name(node: ast.stmt) -> str:
    if isinstance(node, ast.Import):
        return "import " + ", ".join(alias.name for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        return f"from {node.module} import"
    return getattr(node, "name", "")
