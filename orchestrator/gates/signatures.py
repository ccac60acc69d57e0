"""Flag functions whose parameters a run renamed, reordered, added or removed: callers may silently break.

Measured 2026-12-02 on the bugfix demo: asked to make subtract(a, b) return a minus b, the 0.5B builder swapped
the parameters (`def subtract(b, a)`), which passes every positional test, and the 1.5B critic passed it in 4 of
5 runs. A flag in the critic's packet names the change so the review can weigh it.
"""

from __future__ import annotations

import ast

from orchestrator.agents.worktree_files import read_text
from orchestrator.gates.changes import Changes

MAX_FLAGGED = 5


def signatures(source: str) -> dict[str, str]:
    """Top-level functions and methods of top-level classes -> their parameter list; {} when it doesn't parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # hostile nesting must not crash the review
        return {}
    found: dict[str, str] = {}
    for node in tree.body:
        members = [(f"{node.name}.", sub) for sub in node.body] if isinstance(node, ast.ClassDef) else [("", node)]
        for prefix, sub in members:
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + sub.name] = _parameters(sub.args)
    return found


def _parameters(args: ast.arguments) -> str:
    names = [a.arg for a in (*args.posonlyargs, *args.args)]
    names += [f"*{args.vararg.arg}"] if args.vararg else (["*"] if args.kwonlyargs else [])
    names += [a.arg for a in args.kwonlyargs] + ([f"**{args.kwarg.arg}"] if args.kwarg else [])
    return ", ".join(names)


def signature_changes(workspace, changes: Changes) -> str | None:
    """One flag line naming the changed signatures of the run's changed Python source, or None."""
    from orchestrator.run.workspace import git

    changed = []
    for path in [p for p in changes.source if p.endswith(".py")]:
        text = read_text(workspace.path, path)  # never through a link out of the worktree
        if text is None:
            continue
        before = signatures(git(workspace.path, "show", f"{workspace.base_commit}:{path}", check=False))
        after = signatures(text)
        changed += [f"{path} {name}({params}) -> {name}({after[name]})"
                    for name, params in before.items() if name in after and after[name] != params]
    if not changed:
        return None
    return ("parameters changed (callers that pass them by name or position now get other results): "
            + "; ".join(changed[:MAX_FLAGGED]))
