"""Writes that would change what a test run means without touching a test: rebinding names in an existing
test file, new tests that patch what they import or load plugins, and files that shadow pytest, its plugin
machinery or the standard library."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

RUNNER_MODULES = frozenset({"pytest", "_pytest", "pluggy", "py", "conftest", "sitecustomize", "usercustomize"})
RUNNER_PACKAGES = frozenset({"pytest", "_pytest", "pluggy", "py"})
"""Folders that, found on sys.path, would be imported instead of the test runner or its plugin manager."""
SKIPPED_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache"})
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


def runner_shadow(rel_path: str) -> str | None:
    """Why a file at rel_path would change which test runner or plugins load, whatever its content; else None.

    pytest/, _pytest/, pluggy/ and py/ packages replace the runner; *.dist-info and *.egg-info folders carry
    entry points pytest autoloads; .pth files and site/usercustomize run code when Python starts.
    """
    parts = rel_path.replace("\\", "/").split("/")
    folders, name = parts[:-1], parts[-1]
    if any(p in RUNNER_PACKAGES for p in folders):
        return f"{rel_path} is inside a package named like the test runner ({', '.join(sorted(RUNNER_PACKAGES))})"
    if any(p.endswith((".dist-info", ".egg-info")) for p in folders):
        return f"{rel_path} is package metadata (*.dist-info, *.egg-info), whose entry points load as pytest plugins"
    if name.endswith(".pth"):
        return f"{rel_path} is a .pth file, which runs code when Python starts"
    if name.endswith(".py") and name[:-3] in RUNNER_MODULES - {"conftest"}:
        return f"{rel_path} would shadow the test runner module {name[:-3]!r}"
    return None


def runner_shadows(root: Path, known: set[str]) -> list[str]:
    """Files under root that shadow the runner (see runner_shadow), leaving out the paths in `known`."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in [*files, *(d for d in dirs if d in RUNNER_PACKAGES or d.endswith((".dist-info", ".egg-info")))]:
            rel = (Path(folder) / name).relative_to(root).as_posix()
            if rel not in known and (runner_shadow(rel) or runner_shadow(rel + "/x")) and \
                    not any(k.startswith(rel + "/") for k in known) and not _in_known_package(rel, known):
                found.append(rel)
    return sorted(set(found))


def _in_known_package(rel: str, known: set[str]) -> bool:
    """True inside a runner-named folder the base commit already has (the pytest project's own `_pytest/`)."""
    parts = rel.split("/")
    return any("/".join(parts[:i + 1]) in known for i, part in enumerate(parts[:-1]) if part in RUNNER_PACKAGES)


def test_code_problems(old: str | None, new: str) -> list[str]:
    """A test file's new `pytest_plugins`, and new statements that assign to what the file imports.

    `calc.add = lambda a, b: a + b` in a test module changes the code under test for every test that runs
    after it; `pytest_plugins` loads hooks that can rewrite any outcome. monkeypatch (undone after each test)
    is the way to replace something for one test.
    """
    try:
        after = ast.parse(new)
        before = ast.parse(old) if old is not None else ast.Module(body=[], type_ignores=[])
    except SyntaxError:
        return []
    problems = []
    if _plugin_lines(after) and not _plugin_lines(before):
        problems.append(f"line {_plugin_lines(after)[0]}: pytest_plugins loads plugins for the whole run; only the "
                        "base configuration's plugins may load")
    known = {ast.unparse(n) for n in _patches(before)}
    for node in _patches(after):
        if ast.unparse(node) not in known:
            problems.append(f"line {node.lineno}: `{ast.unparse(node)[:80]}` assigns to what the test imports; "
                            "use the monkeypatch fixture to replace something for one test")
    return problems


def _plugin_lines(tree: ast.Module) -> list[int]:
    return [n.lineno for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign))
            and any(isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in _targets(n))]


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return list(node.targets)
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        return [node.target]
    if isinstance(node, ast.Delete):
        return list(node.targets)
    return []


def _patches(tree: ast.Module) -> list[ast.stmt | ast.expr]:
    """Statements and calls that store into an imported name's attributes or items, anywhere in the file."""
    imported = set().union(*(bound_names(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))),
                           set())
    found: list[ast.stmt | ast.expr] = []
    for node in ast.walk(tree):
        stores = [t for t in _targets(node) if isinstance(t, (ast.Attribute, ast.Subscript))]
        if isinstance(node, ast.stmt) and any(_root_name(t) in imported for t in stores):
            found.append(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("setattr", "delattr") and node.args and _root_name(node.args[0]) in imported:
            found.append(node)
    return found


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None
