"""Write rules enforced in the tool layer: file scope, protected paths, existing tests, spec Contracts."""

from __future__ import annotations

import ast
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from orchestrator.agents.shadowing import added_statement_problems, runner_shadow, shadowing_problem, test_code_problems
from orchestrator.errors import ToolError, WorkspaceError
from orchestrator.globs import glob_match
from orchestrator.markdown import sections

DEFAULT_TEST_GLOBS = ("tests/**/*.py", "test_*.py", "**/test_*.py", "**/*_test.py")
DEFAULT_SPEC_GLOB = "specs/**/spec.md"

_UNTRACKED_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache"})
BaselineReader = Callable[[str], "str | None"]


def git_baseline(root: Path, start_commit: str = "HEAD") -> BaselineReader:
    """A reader of file contents at `start_commit`, resolved to a fixed sha right now."""
    import git  # gitpython is imported lazily: the policy module must stay cheap to import

    try:
        commit = git.Repo(root, search_parent_directories=True).commit(start_commit)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError, git.BadName) as exc:
        raise WorkspaceError(
            f"{root}: can't read the baseline commit {start_commit!r} for the write policy ({exc}); "
            "the worktree must be a git repository with at least one commit."
        ) from exc
    if commit.repo.working_tree_dir is None:
        raise WorkspaceError(f"{root}: the repository has no working tree; the write policy needs a worktree.")
    prefix = Path(commit.repo.working_tree_dir).resolve()
    offset = Path(root).resolve().relative_to(prefix).as_posix()

    def read(rel_path: str) -> str | None:
        """The file's text at the baseline commit, or None when it did not exist."""
        key = rel_path if offset == "." else f"{offset}/{rel_path}"
        try:
            return (commit.tree / key).data_stream.read().decode("utf-8", errors="replace")
        except KeyError:
            return None

    return read


class WritePolicy:
    """Decides whether an agent may write a file; refusals explain the rule and the way forward."""

    def __init__(
        self,
        root: Path,
        *,
        scope: list[str] | None = None,
        protected_paths: list[str] | None = None,
        protect_existing_tests: bool = True,
        protect_spec_contract: bool = True,
        test_globs: Iterable[str] = DEFAULT_TEST_GLOBS,
        spec_glob: str = DEFAULT_SPEC_GLOB,
        allow_refinement: bool = False,
        start_commit: str = "HEAD",
        baseline: BaselineReader | None = None,
        role_scope: list[str] | None = None,
        role: str = "",
    ):
        self.root = Path(root)
        self.scope = list(scope) if scope is not None else None
        self.protected_paths = list(protected_paths or [])
        self.protect_existing_tests = protect_existing_tests
        self.protect_spec_contract = protect_spec_contract
        self.test_globs = tuple(test_globs)
        self.spec_glob = spec_glob
        self.allow_refinement = allow_refinement
        self.role_scope = list(role_scope) if role_scope is not None else None
        self.role = role
        # The baseline is frozen now (start_commit -> sha), so later writes or commits in the run can't
        # move it: a test weakened in two small steps is still compared against the original.
        self.baseline = baseline or git_baseline(self.root, start_commit)

    def frozen_files(self) -> list[str]:
        """Existing files that commands (tests, gates) may not change: protected paths, the baseline's tests
        and specs, every conftest.py and pyproject.toml (an agent may edit its non-[tool] tables through its
        tools; a command may not touch it). The sandbox mounts them read-only."""
        globs = [*self.protected_paths, "**/conftest.py", "conftest.py", "pyproject.toml"]
        if self.protect_existing_tests:
            globs += self.test_globs
        if self.protect_spec_contract:
            globs.append(self.spec_glob)
        return sorted(rel for rel in self._existing_files(hidden=True)
                      if glob_match(rel, globs) and self.baseline(rel) is not None)

    def may_write(self, rel_path: str) -> bool:
        """Whether the path rules (protected, work-item scope, persona scope) let this persona write rel_path at all.

        The content rules (tests kept, Contract kept) still apply to each write."""
        return not glob_match(rel_path, self.protected_paths) and all(
            globs is None or glob_match(rel_path, globs) for globs in (self.scope, self.role_scope))

    def check_write(self, rel_path: str, new_content: str) -> None:
        """Raise ToolError when writing `new_content` to `rel_path` (root-relative) breaks a rule."""
        if glob_match(rel_path, self.protected_paths):
            raise ToolError(
                f"{rel_path} is protected (it defines how success is measured); "
                "agents may not change it. Change the code under test instead."
            )
        if self.scope is not None and not glob_match(rel_path, self.scope):
            raise ToolError(
                f"{rel_path} is outside this work item's file scope "
                f"({', '.join(self.scope) or 'no files'}); write only files in scope."
            )
        if self.role_scope is not None and not glob_match(rel_path, self.role_scope):
            raise ToolError(self._role_refusal(rel_path))
        if rel_path == "pyproject.toml":
            self._check_tool_tables_kept(new_content)
        baseline = self.baseline(rel_path)
        shadow = (runner_shadow(rel_path) or shadowing_problem(self.root, rel_path)) if baseline is None else None
        if shadow:
            raise ToolError(f"{shadow}; choose another file name" if "choose" not in shadow else shadow)
        if glob_match(rel_path, self.test_globs) and rel_path.endswith(".py"):
            problems = test_code_problems(baseline, new_content)
            if problems:
                raise ToolError(f"{rel_path}: {'; '.join(problems)}.")
        if self.allow_refinement:
            return
        if self.protect_existing_tests and glob_match(rel_path, self.test_globs):
            self._check_tests_kept(rel_path, new_content)
        if self.protect_spec_contract and glob_match(rel_path, [self.spec_glob]):
            self._check_contract_kept(rel_path, new_content)

    def _role_refusal(self, rel_path: str) -> str:
        """Why the persona may not write rel_path, with files it may write (a small model needs a name, not globs)."""
        allowed = [rel for rel in self._existing_files(hidden=False) if glob_match(rel, self.role_scope or [])]
        allowed.sort(key=lambda rel: (not rel.endswith(".py"), rel.count("/"), rel))
        hint = f" Files you may change include: {', '.join(allowed[:5])}." if allowed else ""
        globs = ", ".join(self.role_scope or []) or "nothing"
        return (f"{rel_path}: the {self.role or 'persona'} writes only {globs}; "
                f"leave other files to the persona whose job they are.{hint}")

    def _existing_files(self, hidden: bool) -> list[str]:
        """Root-relative files of the worktree outside .git, venvs and caches (and dot-folders unless hidden)."""
        found = []
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if d not in _UNTRACKED_DIRS and (hidden or not d.startswith(".")))
            found += [(Path(folder) / name).relative_to(self.root).as_posix() for name in files
                      if name != ".git" and (hidden or not name.startswith("."))]
        return found

    def _check_tests_kept(self, rel_path: str, new_content: str) -> None:
        """Refuse a write that removes, edits, shadows or skips a test that existed at the baseline."""
        old = self.baseline(rel_path)
        if old is None:
            return
        try:
            before = protected_test_nodes(ast.parse(old))
        except SyntaxError:
            return  # a broken baseline file protects nothing; fixing it is allowed
        try:
            after = protected_test_nodes(ast.parse(new_content))
        except SyntaxError as exc:
            raise ToolError(
                f"{rel_path}: the new content has a syntax error (line {exc.lineno}: {exc.msg}), "
                "so the existing tests in it can't be kept; fix the content and write again."
            ) from exc
        problems = _test_problems(before, after) + added_statement_problems(ast.parse(old), ast.parse(new_content))
        if problems:
            raise ToolError(
                f"{rel_path}: {'; '.join(problems)}. Existing tests may not be changed or removed; "
                "you may add new test functions or files: write your new tests to a new file (e.g. "
                f"{_new_test_file(rel_path)}), or keep every existing function as it is."
            )

    def _check_tool_tables_kept(self, new_content: str) -> None:
        """pyproject.toml's [tool.*] tables configure pytest and the linters: gate config, not the agents'."""
        import tomllib

        old = self.baseline("pyproject.toml")
        try:
            before = tomllib.loads(old).get("tool") if old is not None else None
            after = tomllib.loads(new_content).get("tool")
        except tomllib.TOMLDecodeError as exc:
            raise ToolError(f"pyproject.toml: the new content is not valid TOML ({exc}); fix it and write again."
                            ) from exc
        if before != after:
            raise ToolError(
                "pyproject.toml: its [tool.*] tables (pytest, ruff, ...) define how the gates judge the work "
                "and may not be changed by an agent; other tables may."
            )

    def _check_contract_kept(self, rel_path: str, new_content: str) -> None:
        """Refuse a write that changes any Contract section of an existing spec."""
        old = self.baseline(rel_path)
        if old is None:
            return
        if contract_sections(old) != contract_sections(new_content):
            raise ToolError(
                f"{rel_path}: the '## Contract' section may not be changed by an agent; "
                "edit the Blueprint or other sections only, or ask a human for a refinement."
            )


def _new_test_file(rel_path: str) -> str:
    """A sibling file name for new tests: tests/test_calc.py -> tests/test_calc_new.py."""
    folder, _, name = rel_path.rpartition("/")
    stem = name.removesuffix(".py")
    return f"{folder + '/' if folder else ''}{stem}_new.py"


def protected_test_nodes(tree: ast.Module) -> dict[str, list[str]]:
    """Map each test-defining node's qualified name to the ast.dump of every definition of it."""
    found: dict[str, list[str]] = {}
    _collect(tree.body, "", found)
    return found


def _collect(body: list[ast.stmt], scope: str, found: dict[str, list[str]]) -> None:
    """Record tests, fixtures, pytest hooks, pytestmark and Test* class headers in `body`."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_protected_def(node):
            found.setdefault(scope + node.name, []).append(ast.dump(node))
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            header: list[ast.AST] = [*node.decorator_list, *node.bases, *node.keywords]
            found.setdefault(f"{scope}{node.name}<class>", []).append("|".join(ast.dump(part) for part in header))
            _collect(node.body, f"{scope}{node.name}.", found)
        elif _assigns_pytestmark(node):
            found.setdefault(scope + "pytestmark", []).append(ast.dump(node))


def _is_protected_def(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Tests, pytest hooks and fixtures: the functions that decide what a test run checks."""
    if node.name.startswith(("test_", "pytest_")) or node.name == "test":
        return True
    return any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)


def _assigns_pytestmark(node: ast.stmt) -> bool:
    """True for `pytestmark = ...` (plain or annotated), which can skip a whole module or class."""
    targets = node.targets if isinstance(node, ast.Assign) else []
    if isinstance(node, ast.AnnAssign):
        targets = [node.target]
    return any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets)


def _test_problems(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    """Every way `after` weakens the tests in `before` (removed, changed, shadowed, newly marked)."""
    problems = []
    for name, dumps in before.items():
        label = name.replace("<class>", " (class decorators/bases)")
        if name not in after:
            problems.append(f"existing test {label} was removed")
        elif len(after[name]) > 1:
            problems.append(f"existing test {label} is defined twice; the later definition would replace it")
        elif after[name] != dumps:
            problems.append(f"existing test {label} was changed")
    for name in sorted(after.keys() - before.keys()):
        scope = name.rpartition(".")[0]
        if name.endswith("pytestmark") and (not scope or f"{scope}<class>" in before):
            problems.append(f"a new {name} would mark the existing tests (e.g. skip them)")
    return problems


def contract_sections(markdown: str) -> list[str]:
    """The text of every section whose heading mentions 'Contract', up to the next peer heading."""
    return [s.text for s in sections(markdown) if "contract" in s.title.lower()]
