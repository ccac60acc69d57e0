"""The layout shows the architecture: imports only go downhill between layers, and no module cycle exists.

Every import counts, lazy and TYPE_CHECKING ones included: a dependency hidden in a function is still one.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "orchestrator"
LAYERS = [
    {"cli"},
    {"workers"},
    {"runner"},
    {"steps", "gates"},
    {"report"},
    {"run"},
    {"store"},
    {"workflow", "agents"},
    {"routing"},
    {"models"},
    {"plugins", "errors", "located_yaml", "resources", "globs", "markdown"},
]
"""Top to bottom; a unit (a subpackage or a top-level module) may import its own layer's units or lower ones."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """orchestrator modules a file imports (a `from pkg import mod` counts as the module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("orchestrator")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("orchestrator"):
            subs = {f"{node.module}.{a.name}" for a in node.names} & known
            found |= subs or {node.module}
    return {m for m in found if m in known}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(path, set(mods)) - {name} for name, path in mods.items()}


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer(unit_name: str) -> int:
    return next(i for i, names in enumerate(LAYERS) if unit_name in names)


def uphill_imports(edges: dict[str, set[str]]) -> list[str]:
    """Imports from a lower layer to a higher one, as `a -> b`."""
    bad = []
    for source, targets in edges.items():
        for target in targets:
            if unit(source) and unit(target) and layer(unit(target)) < layer(unit(source)):
                bad.append(f"{source} -> {target}")
    return sorted(bad)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """An import cycle, if any (graphlib names one; one is enough to fail)."""
    try:
        graphlib.TopologicalSorter(edges).prepare()
    except graphlib.CycleError as exc:
        return [sorted(set(exc.args[1]))]
    return []


def test_every_unit_has_a_layer() -> None:
    units = {unit(m) for m in modules()} - {""}
    unplaced = sorted(u for u in units if not any(u in names for names in LAYERS))
    assert unplaced == []


def test_imports_only_go_downhill() -> None:
    assert uphill_imports(graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


@pytest.mark.parametrize("source, target", [("orchestrator.models.registry", "orchestrator.runner"),
                                            ("orchestrator.run.workspace", "orchestrator.run.context")])
def test_the_checks_catch_an_inverted_import_and_a_new_cycle(source: str, target: str) -> None:
    edges = graph()
    edges[source] = edges[source] | {target}
    assert uphill_imports(edges) or cycles(edges)


def test_every_package_says_its_job_in_one_line() -> None:
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc.splitlines()[0]) > 15, init


def test_modules_and_functions_stay_small() -> None:
    too_long = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > 400:
            too_long.append(f"{module_name(path)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 40:
                too_long.append(f"{module_name(path)}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert too_long == []
