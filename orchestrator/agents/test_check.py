"""A tester's expected results, cross-checked: a second answer works out what each tested call returns, and an
assert whose expected value it contradicts is left out.

Measured 2026-12-07 (bench_team, fresh2 half): the 1.5B tester's asserts were the team's weak point. Five of its
eight stopped runs had built code that passes the hidden tests and failed an assert of the tester's own
(`common_letters("abc", "abc") == ["a"]`). Asked only for the value of each call, with no test to write around it,
the model states it again independently; where the two differ, at least one is wrong, and a wrong assert blocks a
right build for good while a missing one only weakens the gate. CodeT (arXiv 2207.10397) trusts tests by agreement
in the same spirit.

Only `assert <call> == <literal>` (either side), `assert <call>`, `assert not <call>` and `assert <call> is None` are
checked; any other assert is kept as it is. Names bound earlier in the test (`result = f(x)`) are put back into the
call, so the second answer sees the call whole.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any

from orchestrator.agents.test_trim import parsed, without_statements

ASK = ("For each call below, work out from the task what it returns. Answer with one ```python code block: for each "
       "call, a short comment that works the result out, then one line `<the call> == <its result as a Python "
       "literal>`, for example `add(2, 3) == 5`. Copy each call exactly. No tests, no imports, no other code.")
MAX_TOKENS = 400
"""About 60 tokens a call (a worked comment and the line) for the tester's five asserts."""
_UNSET = object()


@dataclass(frozen=True)
class Check:
    """One checkable assert: the call as the second answer sees it, and the result the tester expects."""

    node: ast.Assert
    call: str
    expected: Any
    truthy: bool = False  # `assert f(x)` / `assert not f(x)`: only the result's truth counts


def checks(code: str) -> list[Check]:
    """The checkable asserts of test functions in `code`, in order; [] when it doesn't parse."""
    tree = parsed(code)
    if tree is None:
        return []
    found = []
    for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        bound: dict[str, ast.expr] = {}
        for statement in function.body:
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
                    and isinstance(statement.targets[0], ast.Name):
                bound[statement.targets[0].id] = _inlined(statement.value, bound)
            elif isinstance(statement, ast.Assert):
                check = _check(statement, bound)
                if check is not None:
                    found.append(check)
    return found


def _check(node: ast.Assert, bound: dict[str, ast.expr]) -> Check | None:
    test = node.test
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.Is)):
        left, right = _inlined(test.left, bound), _inlined(test.comparators[0], bound)
        for call, literal in ((left, right), (right, left)):
            value = _literal(literal)
            if value is not _UNSET and _calls(call) and (isinstance(test.ops[0], ast.Eq) or value is None):
                return Check(node, ast.unparse(call), value)
        return None
    negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
    call = _inlined(test.operand if isinstance(test, ast.UnaryOp) and negated else test, bound)
    return Check(node, ast.unparse(call), not negated, truthy=True) if isinstance(call, ast.Call) else None


def _inlined(expr: ast.expr, bound: dict[str, ast.expr]) -> ast.expr:
    """`expr` with the names bound earlier in the test replaced by what they were bound to."""
    class Inline(ast.NodeTransformer):
        def visit_Name(self, name: ast.Name) -> ast.expr:
            return bound.get(name.id, name) if isinstance(name.ctx, ast.Load) else name

    return Inline().visit(ast.parse(ast.unparse(expr), mode="eval")).body  # a copy: the test's tree stays


def _literal(expr: ast.expr) -> Any:
    try:
        return ast.literal_eval(expr)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _UNSET


def _calls(expr: ast.expr) -> bool:
    return any(isinstance(n, ast.Call) for n in ast.walk(expr))


def question(task: str, found: list[Check]) -> str:
    """The second answer's prompt: the task and the calls, never the tester's expected results."""
    calls = "\n".join(check.call for check in found)
    return f"## Task\n{task[:2000]}\n\n## Calls\n```python\n{calls}\n```\n\n{ASK}"


def answers(text: str) -> dict[str, Any]:
    """{call: stated result} from the second answer's lines `<call> == <literal>` (an `assert` before it is fine)."""
    stated: dict[str, Any] = {}
    for line in text.splitlines():
        line = line.strip().removeprefix("assert ").strip()
        tree = parsed(line) if "==" in line else None
        if tree is None or len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
            continue
        compare = tree.body[0].value
        if isinstance(compare, ast.Compare) and len(compare.ops) == 1 and isinstance(compare.ops[0], ast.Eq):
            value = _literal(compare.comparators[0])
            if value is not _UNSET:
                stated[ast.unparse(compare.left)] = value
    return stated


def contradicted(found: list[Check], stated: dict[str, Any]) -> list[tuple[Check, Any]]:
    """The checks whose expected result the second answer contradicts, with what it said; unanswered ones stand."""
    wrong = []
    for check in found:
        if check.call not in stated:
            continue
        said = stated[check.call]
        if not _agree(check, said):
            wrong.append((check, said))
    return wrong


def _agree(check: Check, said: Any) -> bool:
    if check.truthy:
        return bool(said) == check.expected
    if isinstance(said, float) or isinstance(check.expected, float):
        try:
            return math.isclose(said, check.expected, rel_tol=1e-6, abs_tol=1e-9)
        except TypeError:
            return False
    return bool(said == check.expected)


def without(code: str, wrong: list[tuple[Check, Any]]) -> tuple[str, str]:
    """(`code` without the contradicted asserts and their worked comments, a note naming each and both results)."""
    if not wrong:
        return code, ""
    if len(wrong) == len(checks(code)) and not _unchecked_asserts(code, len(wrong)):
        # Two answers that agree on nothing: no telling which is right. The tester's stand, and the cost stays one
        # call (measured 2026-12-07, fresh2's common_letters: asking the tester again until some agreed took
        # 16,000 tokens and the run's whole 420 s).
        return code, f"a second answer contradicted all {len(wrong)} checked assert(s); kept them: nothing agreed"
    tree = parsed(code)
    assert tree is not None  # checks() found asserts in it
    lines = without_statements(code.splitlines(), tree, [_same(tree, c.node) for c, _ in wrong], comments=True)
    dropped = "; ".join(f"`{c.call}` (the test said {c.expected!r}, a second answer {s!r})" for c, s in wrong)
    return "\n".join(lines).rstrip() + "\n", f"left out {len(wrong)} assert(s) a second answer contradicted: {dropped}"


def _unchecked_asserts(code: str, checked: int) -> bool:
    """Whether `code` holds asserts besides its `checked` ones."""
    tree = parsed(code)
    return tree is not None and sum(isinstance(n, ast.Assert) for n in ast.walk(tree)) > checked


def _same(tree: ast.Module, node: ast.Assert) -> ast.Assert:
    """The assert of `tree` at `node`'s place (the checks came from another parse of the same code)."""
    return next(n for n in ast.walk(tree) if isinstance(n, ast.Assert) and n.lineno == node.lineno)
