"""Writes that would change what a test run means without touching a test: rebinding names in an existing
test file, and new files that shadow pytest or the standard library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

RUNNER_MODULES = frozenset({"pytest", "_pytest", "pluggy", "py", "conftest", "sitecustomize", "usercustomize"})
_ADDABLE = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def bound_names(node: ast.stmt) -> set[str]:
    """Names a top-level statement binds."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del))}


def added_statement_problems(old: ast.Module, new: ast.Module) -> list[str]:
    """In an existing test file, only new functions, classes and imports that rebind nothing may be added.

    Appending `test_add = lambda: None`, `del test_add`, `add = fake_add` or a module-level `pytest.skip(...)`
    would weaken the tests while every test function stays byte-identical.
    """
    before = [ast.dump(n) for n in old.body]
    names = set().union(*(bound_names(n) for n in old.body)) if old.body else set()
    problems = []
    for node in new.body:
        if ast.dump(node) in before:
            continue
        if not isinstance(node, _ADDABLE):
            problems.append(f"line {node.lineno}: a new top-level {type(node).__name__.lower()} statement "
                            "(only new test functions, classes and imports may be added)")
        elif bound_names(node) & names:
            problems.append(f"line {node.lineno}: it rebinds {', '.join(sorted(bound_names(node) & names))}, "
                            "which the file already defines")
    return problems


def shadowing_problem(root: Path, rel_path: str) -> str | None:
    """A new module named like pytest or a stdlib module, outside a package, would be imported instead of it."""
    path = Path(rel_path)
    if path.suffix != ".py":
        return None
    name = path.stem
    if name not in RUNNER_MODULES and name not in sys.stdlib_module_names:
        return None
    if (root / path.parent / "__init__.py").is_file() and name not in RUNNER_MODULES:
        return None  # inside a package its name is namespaced
    return (f"{rel_path} would shadow the {'test runner' if name in RUNNER_MODULES else 'standard library'} "
            f"module {name!r} for every test run; choose another file name")
