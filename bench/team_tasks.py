"""The tasks of bench_team.py: load them, build each task's repo, splice a bare answer in, score hidden tests.

Library tasks start from a PyPI sdist that `fetch_sdists` downloads once (`bench_team.py --setup`) into
SDIST_CACHE; building a repo never touches the network, and a missing sdist is a clear error naming the fix.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestrator.globs import glob_match

HALVES = ("tune", "held", "fresh", "fresh2", "fresh3", "fresh4", "fresh5", "fresh6")
TASKS_FILE = Path(__file__).resolve().parent / "data" / "team" / "tasks.yaml"
SDIST_CACHE = Path.home() / ".cache" / "orchestrator" / "bench-sdists"
HIDDEN_TEST = "test_hidden_bench.py"
IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]


@dataclass(frozen=True)
class Task:
    """One task: where its repo comes from, what the team is asked, and the hidden tests that score it."""

    id: str
    half: str
    kind: str
    task: str
    module: str
    function: str
    signature: str
    hidden: str
    files: dict[str, str] = field(default_factory=dict)
    sdist: str = ""
    keep: list[str] = field(default_factory=list)
    drop: list[dict[str, str]] = field(default_factory=list)
    edits: list[dict[str, str]] = field(default_factory=list)
    solution: str = ""  # a reference answer, for the bench's own test: hidden tests pass on it, fail on the repo


def load_tasks(path: Path = TASKS_FILE) -> list[Task]:
    """Every task of the file, checked: known halves and kinds, unique ids."""
    tasks = [Task(**raw) for raw in yaml.safe_load(path.read_text())["tasks"]]
    ids = [t.id for t in tasks]
    bad = [t.id for t in tasks if t.half not in HALVES or t.kind not in ("feature", "bugfix")]
    if bad or len(set(ids)) != len(ids):
        raise ValueError(f"{path}: tasks with an unknown half or kind, or a repeated id: {bad or ids}")
    return tasks


def fetch_sdists(tasks: list[Task], cache: Path = SDIST_CACHE) -> list[str]:
    """Download each library task's sdist once (set-up only); returns what was fetched."""
    cache.mkdir(parents=True, exist_ok=True)
    fetched = []
    for spec in sorted({t.sdist for t in tasks if t.sdist}):
        if _sdist_file(spec, cache) is None:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
                            "-d", str(cache), spec], check=True)
            fetched.append(spec)
    return fetched


def _sdist_file(spec: str, cache: Path) -> Path | None:
    name, _, version = spec.partition("==")
    names = {name, name.replace("-", "_")}
    found = sorted(path for n in names for path in cache.glob(f"{n}-{version}.tar.gz"))
    return found[0] if found else None


def build_repo(task: Task, cache: Path = SDIST_CACHE) -> Path:
    """A fresh git repo with the task's files (or its cut library), one commit, no hidden test in it."""
    repo = Path(tempfile.mkdtemp(prefix=f"bench-team-{task.id}-"))
    files = dict(task.files) if not task.sdist else _library_files(task, cache)
    files.setdefault("conftest.py", "")  # tests import the modules from the repo's root
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    subprocess.run(["git", "init", "-q", "--initial-branch=main"], cwd=repo, check=True)
    subprocess.run(["git", *IDENTITY, "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", *IDENTITY, "commit", "-qm", f"task {task.id}"], cwd=repo, check=True)
    return repo


def _library_files(task: Task, cache: Path) -> dict[str, str]:
    """The sdist's files under `keep`, with `drop` and `edits` applied."""
    archive = _sdist_file(task.sdist, cache)
    if archive is None:
        raise FileNotFoundError(f"task {task.id}: sdist {task.sdist} is not in {cache}; "
                                f"run `python bench/bench_team.py --setup` once (it downloads with pip)")
    files: dict[str, str] = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            rel = member.name.split("/", 1)[1] if "/" in member.name else ""
            if member.isfile() and rel and glob_match(rel, task.keep):
                files[rel] = tar.extractfile(member).read().decode()
    for drop in task.drop:
        files[drop["file"]] = drop_function(files[drop["file"]], drop["name"])
    for edit in task.edits:
        text = files[edit["file"]]
        if text.count(edit["find"]) != 1:
            raise ValueError(f"task {task.id}: {edit['file']}: {edit['find']!r} occurs {text.count(edit['find'])} "
                             "times, not once")
        files[edit["file"]] = text.replace(edit["find"], edit["replace"])
    return files


def _top_level_def(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def drop_function(source: str, name: str) -> str:
    """The source without the top-level function `name` (its decorators included)."""
    node = _top_level_def(ast.parse(source), name)
    if node is None:
        raise ValueError(f"no top-level function {name!r} to drop")
    lines = source.splitlines(keepends=True)
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
    return "".join(lines[:start] + lines[node.end_lineno:])


def answer_code(text: str) -> str:
    """The code of a bare answer: its first ```python block, else the whole text."""
    match = re.search(r"```(?:python|py)?\s*\n(.*?)```", text, re.DOTALL)
    return match.group(1) if match else text


def splice(module_source: str, answer: str, name: str) -> str | None:
    """The module with the answer's `name` function in place of its own (or appended), the answer's imports first.

    None when the answer holds no parseable function of that name."""
    try:
        tree = ast.parse(answer)
    except SyntaxError:
        return None
    new = _top_level_def(tree, name)
    if new is None:
        return None
    answer_lines = answer.splitlines(keepends=True)
    function = "".join(answer_lines[min([new.lineno, *(d.lineno for d in new.decorator_list)]) - 1:new.end_lineno])
    imports = [ast.get_source_segment(answer, n) or "" for n in tree.body
               if isinstance(n, (ast.Import, ast.ImportFrom))]
    missing = "".join(f"{line}\n" for line in imports if line and line not in module_source)
    old = _top_level_def(ast.parse(module_source), name)
    if old is None:
        return missing + module_source.rstrip("\n") + "\n\n\n" + function.rstrip("\n") + "\n"
    lines = module_source.splitlines(keepends=True)
    start = min([old.lineno, *(d.lineno for d in old.decorator_list)]) - 1
    return missing + "".join(lines[:start]) + function.rstrip("\n") + "\n" + "".join(lines[old.end_lineno:])


def hidden_tests_pass(folder: Path, task: Task, timeout_s: float = 120) -> bool:
    """Write the hidden tests into `folder` (a copy of the work, never the run's repo) and run only them."""
    (folder / HIDDEN_TEST).write_text(task.hidden)
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", HIDDEN_TEST],
                              cwd=folder, capture_output=True, timeout=timeout_s,
                              env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"})
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def branch_copy(repo: Path, ref: str) -> Path | None:
    """The tree of `ref` (the run's branch) extracted into a fresh folder; None when there is no such ref."""
    check = subprocess.run(["git", "rev-parse", "--verify", "--quiet", ref], cwd=repo, capture_output=True)
    if check.returncode != 0:
        return None
    folder = Path(tempfile.mkdtemp(prefix="bench-team-score-"))
    archive = subprocess.run(["git", "archive", ref], cwd=repo, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def run_branch(repo: Path) -> str | None:
    """The run's branch (orchestrator/<run-id>), if the run made one."""
    out = subprocess.run(["git", "branch", "--list", "orchestrator/*", "--format=%(refname:short)"], cwd=repo,
                         capture_output=True, text=True).stdout.split()
    return out[0] if out else None


def as_dict(task: Task) -> dict[str, Any]:
    """What a record says about its task."""
    return {"id": task.id, "half": task.half, "kind": task.kind}


_CHECK = r'''
import importlib.util, json, sys, traceback
results = {}
for key, folder in json.loads(sys.argv[1]).items():
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location("hidden_" + key.replace("-", "_"), folder + "/HIDDEN")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name in [n for n in dir(module) if n.startswith("test_")]:
            getattr(module, name)()
        results[key] = True
    except Exception:
        results[key] = False
    finally:
        sys.path.remove(folder)
        for name, mod in list(sys.modules.items()):
            if (getattr(mod, "__file__", None) or "").startswith(folder):
                del sys.modules[name]
print(json.dumps(results))
'''


def check_set(tasks: list[Task], cache: Path = SDIST_CACHE) -> dict[str, tuple[bool, bool]]:
    """{task id: (hidden tests pass on its repo, pass with its reference solution)}: both checked in one
    interpreter (not pytest per task), so the bench's own test stays fast; a sound task gives (False, True)."""
    folders: dict[str, str] = {}
    made = []
    for task in tasks:
        base = build_repo(task, cache)
        solved = Path(tempfile.mkdtemp(prefix=f"bench-team-solved-{task.id}-"))
        made += [base, solved]
        subprocess.run(["cp", "-a", f"{base}/.", str(solved)], check=True)
        source = (base / task.module).read_text()
        (solved / task.module).write_text(splice(source, task.solution, task.function) or source)
        for folder, key in ((base, f"{task.id}:base"), (solved, f"{task.id}:solved")):
            (folder / HIDDEN_TEST).write_text(task.hidden)
            folders[key] = str(folder)
    script = _CHECK.replace("/HIDDEN", "/" + HIDDEN_TEST)
    try:
        out = subprocess.run([sys.executable, "-c", script, json.dumps(folders)], capture_output=True, text=True,
                             check=True, timeout=600, env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"})
        results = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)
    return {t.id: (results[f"{t.id}:base"], results[f"{t.id}:solved"]) for t in tasks}
