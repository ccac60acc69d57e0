"""Toolbox: every agent tool exercised in a real temporary git repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.agents.builtin_tools import MAX_SEARCH_HITS, append_file
from orchestrator.agents.tool_registry import tool_specs
from orchestrator.agents.tool_specs import MAX_PATH_CHOICES
from orchestrator.agents.tools import Toolbox
from orchestrator.agents.write_policy import WritePolicy
from orchestrator.errors import SandboxViolation, ToolError


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a fixed identity."""
    argv = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args]
    return subprocess.run(argv, cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo with one commit: a module, a test file and an ignored folder."""
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "src" / "calc.py").write_text("def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n")
    (root / "tests" / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    )
    (root / ".gitignore").write_text("build/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    return root


@pytest.fixture
def box(repo: Path) -> Toolbox:
    """A writable toolbox with a real pytest test command."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", "."]
    return Toolbox(repo, test_command=command, timeout_s=60)


class TestSpecsAndValidation:
    def test_specs_are_closed_json_schemas(self, box: Toolbox):
        names = [spec.name for spec in box.specs()]
        assert names == ["read_file", "list_files", "search", "write_file", "append_file", "edit", "run_tests",
                         "git_diff"]
        for spec in box.specs():
            assert spec.parameters["additionalProperties"] is False
            assert isinstance(spec.parameters["required"], list)
            assert spec.as_openai()["function"]["name"] == spec.name

    def test_read_only_offers_only_readers(self, repo: Path):
        box = Toolbox(repo, read_only=True, test_command=["pytest"])
        assert [s.name for s in box.specs()] == ["read_file", "list_files", "search", "git_diff"]

    def test_run_tests_offered_only_with_a_test_command(self, repo: Path):
        assert "run_tests" not in [s.name for s in Toolbox(repo).specs()]

    def test_tools_narrows_to_a_persona_list(self, repo: Path):
        box = Toolbox(repo, tools=["read_file", "edit"])
        assert [s.name for s in box.specs()] == ["read_file", "edit"]
        with pytest.raises(ToolError, match="not available"):
            box.call("write_file", {"path": "a.txt", "content": "x"})
        with pytest.raises(ToolError, match="Did you mean 'edit'"):
            Toolbox(repo, tools=["edti"])

    @pytest.mark.parametrize(
        ("name", "arguments", "message"),
        [
            ("read_file", {}, "missing required argument 'path'"),
            ("read_file", {"path": "a", "lines": 3}, "unknown argument 'lines'"),
            ("read_file", {"path": 3}, "argument 'path': input should be a valid string, got 3"),
            ("read_file", {"path": "a", "start_line": True}, "'start_line': input should be a valid integer, got True"),
            ("read_file", {"path": "a", "start_line": 0}, "'start_line': input should be greater than or equal to 1"),
            ("edit", ["path"], "must be a JSON object"),
            ("wirte_file", {}, "Did you mean 'write_file'"),
        ],
    )
    def test_arguments_validated_before_running(self, box: Toolbox, name, arguments, message):
        with pytest.raises(ToolError, match=message):
            box.call(name, arguments)

    def test_calls_counts_every_attempt(self, box: Toolbox):
        box.call("list_files", {})
        with pytest.raises(ToolError):
            box.call("read_file", {})
        assert box.calls == 2


class TestReading:
    def test_read_file_whole_and_range(self, box: Toolbox):
        assert box.call("read_file", {"path": "src/calc.py"}).startswith("def add(a, b):")
        part = box.call("read_file", {"path": "src/calc.py", "start_line": 5, "end_line": 6})
        assert part == "[src/calc.py: lines 5-6 of 6]\ndef sub(a, b):\n    return a - b"

    def test_read_file_long_file_is_cut_at_a_line_with_a_hint(self, repo: Path):
        (repo / "big.txt").write_text("".join(f"line {n}\n" for n in range(1, 2001)))
        text = Toolbox(repo, max_output_chars=200).call("read_file", {"path": "big.txt"})
        assert text.startswith("[big.txt: lines 1-") and "read on with start_line=" in text
        assert len(text) < 300

    def test_read_file_errors(self, box: Toolbox, repo: Path):
        (repo / "blob.bin").write_bytes(b"\x00\x01\x02")
        for path, message in [("nope.py", "does not exist"), ("src", "is a folder"), ("blob.bin", "binary")]:
            with pytest.raises(ToolError, match=message):
                box.call("read_file", {"path": path})
        with pytest.raises(ToolError, match="has 6 lines"):
            box.call("read_file", {"path": "src/calc.py", "start_line": 9})

    def test_list_files_skips_git_and_filters(self, box: Toolbox, repo: Path):
        listing = box.call("list_files", {}).splitlines()
        assert listing == [".gitignore", "src/calc.py", "tests/test_calc.py"]
        assert box.call("list_files", {"path": "tests", "pattern": "test_*.py"}) == "tests/test_calc.py"
        assert "no files" in box.call("list_files", {"pattern": "*.rs"})

    def test_list_files_is_bounded(self, repo: Path, box: Toolbox):
        (repo / "many").mkdir()
        for n in range(450):
            (repo / "many" / f"f{n:03}.txt").write_text("")
        text = box.call("list_files", {"path": "many"})
        assert "[... 50 more files not shown" in text

    def test_search_regex_literal_and_bounds(self, box: Toolbox, repo: Path):
        assert box.call("search", {"pattern": r"def \w+\(a"}).splitlines() == [
            "src/calc.py:1: def add(a, b):",
            "src/calc.py:5: def sub(a, b):",
        ]
        assert (
            box.call("search", {"pattern": "add(1,", "path": "tests"}) == "tests/test_calc.py:5: assert add(1, 2) == 3"
        )
        (repo / "hits.txt").write_text("hit\n" * 500)
        assert f"stopped at {MAX_SEARCH_HITS} hits" in box.call("search", {"pattern": "hit"})
        assert "no matches" in box.call("search", {"pattern": "zzz"})

    def test_search_skips_links_that_leave_the_repo(self, box: Toolbox, repo: Path, tmp_path: Path):
        (tmp_path / "outside.txt").write_text("TOPSECRET\n")
        (repo / "link.txt").symlink_to(tmp_path / "outside.txt")
        assert "no matches" in box.call("search", {"pattern": "TOPSECRET"})


class TestConfinement:
    @pytest.mark.parametrize(
        "path", ["../outside.txt", "/etc/passwd", ".git/config", "escape/outside.txt", "etc/passwd"]
    )
    def test_reads_and_writes_outside_refused(self, box: Toolbox, repo: Path, tmp_path: Path, path: str):
        (tmp_path / "outside.txt").write_text("secret\n")
        (repo / "escape").symlink_to(tmp_path)
        (repo / "etc").symlink_to("/etc")
        with pytest.raises(SandboxViolation):
            box.call("read_file", {"path": path})
        with pytest.raises(SandboxViolation):
            box.call("write_file", {"path": path, "content": "pwned"})
        assert (tmp_path / "outside.txt").read_text() == "secret\n"

    def test_read_only_toolbox_refuses_writes(self, repo: Path):
        box = Toolbox(repo, read_only=True)
        for name, args in [
            ("write_file", {"path": "a.py", "content": ""}),
            ("edit", {"path": "src/calc.py", "search": "a + b", "replace": "a - b"}),
        ]:
            with pytest.raises(ToolError, match="not available to this agent .read-only"):
                box.call(name, args)
        assert not (repo / "a.py").exists()


class TestWriting:
    def test_write_file_creates_folders(self, box: Toolbox, repo: Path):
        assert (
            box.call("write_file", {"path": "pkg/new/mod.py", "content": "X = 1\n"}) == "wrote pkg/new/mod.py (1 lines)"
        )
        assert (repo / "pkg" / "new" / "mod.py").read_text() == "X = 1\n"

    def test_edit_replaces_exactly_once(self, box: Toolbox, repo: Path):
        box.call("edit", {"path": "src/calc.py", "search": "return a - b", "replace": "return a - b  # diff"})
        assert "return a - b  # diff" in (repo / "src" / "calc.py").read_text()

    def test_edit_not_found_and_ambiguous(self, box: Toolbox, repo: Path):
        before = (repo / "src" / "calc.py").read_text()
        with pytest.raises(ToolError, match="not found in src/calc.py") as missed:
            box.call("edit", {"path": "src/calc.py", "search": "return a * b", "replace": "x"})
        assert str(missed.value).endswith("It reads:\n" + before)  # a small file is shown whole
        with pytest.raises(ToolError, match="occurs 2 times"):
            box.call("edit", {"path": "src/calc.py", "search": "(a, b):", "replace": "(a, b, c):"})
        with pytest.raises(ToolError, match="empty"):
            box.call("edit", {"path": "src/calc.py", "search": "", "replace": "x"})
        assert (repo / "src" / "calc.py").read_text() == before


class TestCommands:
    def test_run_tests_reports_failure_then_success(self, box: Toolbox, repo: Path, monkeypatch: pytest.MonkeyPatch):
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # PYTEST_* passes the env scrub
        (repo / "tests" / "conftest.py").write_text("import sys\nsys.path.insert(0, 'src')\n")
        box.call("edit", {"path": "src/calc.py", "search": "return a + b", "replace": "return a * b"})
        failed = box.call("run_tests", {})
        assert "exit code 1 (failed)" in failed and "test_add" in failed
        box.call("edit", {"path": "src/calc.py", "search": "return a * b", "replace": "return a + b"})
        assert "exit code 0 (passed)" in box.call("run_tests", {})

    def test_run_tests_refuses_a_command_outside_the_allowlist(self, repo: Path):
        box = Toolbox(repo, test_command=["sh", "-c", "echo hi"])
        with pytest.raises(SandboxViolation, match="not allowed"):
            box.call("run_tests", {})

    def test_git_diff_shows_tracked_and_untracked_changes(self, box: Toolbox, repo: Path):
        assert box.call("git_diff", {}) == "no changes since HEAD"
        box.call("edit", {"path": "src/calc.py", "search": "return a - b", "replace": "return b - a"})
        box.call("write_file", {"path": "src/new_mod.py", "content": "NEW = True\n"})
        box.call("write_file", {"path": "build/out.txt", "content": "ignored\n"})
        diff = box.call("git_diff", {})
        assert "-    return a - b\n+    return b - a" in diff
        assert "+++ b/src/new_mod.py" in diff and "+NEW = True" in diff
        assert "out.txt" not in diff
        assert "new_mod.py" in git(repo, "status", "--porcelain")  # diffing touched no index state
        assert git(repo, "diff", "--cached") == ""


def test_a_whole_file_write_that_drops_a_function_is_refused_with_the_way_to_add_code(tmp_path) -> None:
    from orchestrator.agents.tools import Toolbox

    (tmp_path / "calc.py").write_text('"""Calc."""\n\n\ndef add(a, b):\n    return a + b\n')
    box = Toolbox(tmp_path)
    with pytest.raises(ToolError) as refused:
        box.call("write_file", {"path": "calc.py", "content": "def subtract(a, b):\n    return a - b\n"})
    # The new content is all new definitions, so the refusal spells out the exact call that keeps add.
    exact = json.dumps({"name": "append_file", "arguments": {"path": "calc.py",
                                                             "content": "def subtract(a, b):\n    return a - b\n"}})
    assert "drops add (line 4)" in str(refused.value) and f"call: {exact}" in str(refused.value)
    assert "def add" in (tmp_path / "calc.py").read_text()
    (tmp_path / "ops.py").write_text("def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n")
    with pytest.raises(ToolError) as mixed:  # rewrites add and drops mul: appending it would define add twice
        box.call("write_file", {"path": "ops.py", "content": "def add(a, b):\n    return b + a\n"})
    assert "drops mul (line 5)" in str(mixed.value) and "call append_file with path 'ops.py'" in str(mixed.value)
    assert "call: {" not in str(mixed.value)
    both = "def add(a, b):\n    return a + b\n\n\ndef subtract(a, b):\n    return a - b\n"
    box.call("write_file", {"path": "calc.py", "content": both})
    box.call("write_file", {"path": "notes.txt", "content": "x"})  # only Python files are checked
    box.call("write_file", {"path": "notes.txt", "content": "y"})


def test_append_file_adds_code_at_the_end_and_keeps_the_rest(tmp_path) -> None:
    from orchestrator.agents.tools import Toolbox

    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a + b\n\n")
    box = Toolbox(tmp_path)
    assert box.call("append_file", {"path": "calc.py", "content": "def subtract(a, b): return a - b"}) == (
        "appended 1 lines to calc.py")
    assert (tmp_path / "calc.py").read_text() == (
        "def add(a, b):\n    return a + b\n\n\ndef subtract(a, b): return a - b\n")
    with pytest.raises(ToolError, match="does not exist"):
        box.call("append_file", {"path": "nope.py", "content": "x = 1"})
    with pytest.raises(ToolError, match="read-only"):  # the tool function itself, past `call`: the write still refuses
        append_file(Toolbox(tmp_path, read_only=True, tools=None), "calc.py", "x = 1")


def test_a_wrong_path_gets_the_real_file_as_a_suggestion(tmp_path) -> None:
    from orchestrator.agents.tools import Toolbox

    (tmp_path / "tests").mkdir()
    (tmp_path / "calc.py").write_text("x = 1\n")
    (tmp_path / "tests" / "test_calc.py").write_text("def test_x():\n    pass\n")
    box = Toolbox(tmp_path)
    for wrong, right in [("/path/to/repo/calc.py", "calc.py"), ("src/calc.py", "calc.py"), ("calc", "calc.py"),
                         ("tests/test_cal.py", "tests/test_calc.py")]:
        with pytest.raises(ToolError, match=f"Did you mean '{right}'"):
            box.call("read_file", {"path": wrong})
    with pytest.raises(ToolError, match="Use list_files"):
        box.call("read_file", {"path": "zzz/qqq.txt"})


def test_tools_are_offered_in_the_personas_order(tmp_path) -> None:
    # Small models lean to the first tool offered, so a persona's order is a choice worth keeping.
    box = Toolbox(tmp_path, tools=["append_file", "edit", "write_file", "read_file"])
    assert [spec.name for spec in box.specs()] == ["append_file", "edit", "write_file", "read_file"]
    reader = Toolbox(tmp_path, tools=["write_file", "read_file", "search"], read_only=True)
    assert [spec.name for spec in reader.specs()] == ["read_file", "search"]


def test_append_file_refuses_a_second_definition_and_spells_out_the_edit(tmp_path) -> None:
    buggy = 'def add(a, b):\n    return a + b\n\n\ndef subtract(a, b):\n    """Return a minus b."""\n    return b - a\n'
    (tmp_path / "calc.py").write_text(buggy)
    box = Toolbox(tmp_path)
    fixed = "def subtract(a, b):\n    return a - b\n"
    with pytest.raises(ToolError) as refused:
        box.call("append_file", {"path": "calc.py", "content": fixed})
    current = 'def subtract(a, b):\n    """Return a minus b."""\n    return b - a'
    exact = json.dumps({"name": "edit", "arguments": {"path": "calc.py", "search": current, "replace": fixed.strip()}})
    assert str(refused.value) == ("append_file: calc.py already defines subtract (line 5); a second definition "
                                  f"would silently replace it, so change it in place instead: {exact}")
    assert (tmp_path / "calc.py").read_text() == buggy
    box.call("edit", json.loads(exact)["arguments"])  # the suggested call does the job
    assert "return a - b" in (tmp_path / "calc.py").read_text()
    box.call("append_file", {"path": "calc.py", "content": "def mul(a, b):\n    return a * b"})  # new names append


def test_a_change_that_breaks_python_syntax_is_refused_and_nothing_is_written(tmp_path) -> None:
    # The 0.5B's bugfix edit: search a bare name, replace with a whole def -> `def def subtract`.
    buggy = "def add(a, b):\n    return a + b\n\n\ndef subtract(a, b):\n    return b - a\n"
    (tmp_path / "calc.py").write_text(buggy)
    box = Toolbox(tmp_path)
    with pytest.raises(ToolError) as refused:
        box.call("edit", {"path": "calc.py", "search": "subtract", "replace": "def subtract(a, b): return a - b"})
    assert str(refused.value).startswith("edit: calc.py would no longer be valid Python: line 5: invalid syntax")
    assert "'def def subtract(a, b): return a - b(a, b):'" in str(refused.value)
    assert "must be whole lines" in str(refused.value)
    with pytest.raises(ToolError, match="append_file: calc.py would no longer be valid Python"):
        box.call("append_file", {"path": "calc.py", "content": "def mul(a, b) return a * b"})
    with pytest.raises(ToolError, match="write_file: new.py would no longer be valid Python"):
        box.call("write_file", {"path": "new.py", "content": "def f(:\n"})
    assert (tmp_path / "calc.py").read_text() == buggy and not (tmp_path / "new.py").exists()
    with pytest.raises(ToolError, match="`replace` is the same as `search`, so nothing would change"):
        box.call("edit", {"path": "calc.py", "search": "return b - a", "replace": "return b - a"})
    box.call("edit", {"path": "calc.py", "search": "return b - a", "replace": "return a - b"})  # whole lines pass
    # A file that didn't parse before may be changed step by step; text files are not Python's business.
    (tmp_path / "broken.py").write_text("def f(:\n")
    box.call("edit", {"path": "broken.py", "search": "def f(:", "replace": "def f(x:"})
    box.call("write_file", {"path": "notes.txt", "content": "def def"})


def test_edit_and_append_paths_are_limited_to_the_files_the_persona_may_change(repo: Path) -> None:
    # Measured on the bugfix demo: the 0.5B builder edited the test file (which it may not write) in 5 of 5 seeds.
    builder = WritePolicy(repo, role_scope=["**", "!tests/**"], role="builder")
    box = Toolbox(repo, tools=["edit", "append_file", "write_file", "read_file"], policy=builder)
    by_name = {spec.name: spec.parameters["properties"]["path"] for spec in box.specs()}
    assert by_name["edit"]["enum"] == by_name["append_file"]["enum"] == [".gitignore", "src/calc.py"]
    assert "enum" not in by_name["write_file"] and "enum" not in by_name["read_file"]  # new files, any file to read
    assert "enum" not in tool_specs()["edit"].parameters["properties"]["path"]  # the shared spec is left as it was
    for i in range(MAX_PATH_CHOICES):  # a large repo: the path stays free text
        (repo / "src" / f"m{i}.py").write_text("x = 1\n")
    assert "enum" not in Toolbox(repo, tools=["edit"], policy=builder).specs()[0].parameters["properties"]["path"]


def test_a_toolbox_given_the_steps_file_list_uses_it_until_a_write_adds_a_file(repo: Path) -> None:
    # An agent step lists the worktree once for its packet and hands the list on, so the toolbox walks no more.
    builder = WritePolicy(repo, role_scope=["**", "!tests/**"], role="builder")
    box = Toolbox(repo, tools=["edit", "write_file"], policy=builder, files=["src/calc.py", "tests/test_calc.py"])

    def edit_paths() -> list[str]:
        return box.specs()[0].parameters["properties"]["path"]["enum"]

    assert edit_paths() == ["src/calc.py"]  # the given list, filtered by the rules (.gitignore is not in it)
    box.call("write_file", {"path": "src/new.py", "content": "x = 1\n"})
    assert sorted(edit_paths()) == [".gitignore", "src/calc.py", "src/new.py"]  # walked again after the write


def test_the_packet_counts_every_file_it_leaves_out(tmp_path: Path) -> None:
    from orchestrator.steps.agent import MAX_PACKET_FILES, repo_files

    for i in range(450):  # more than a listing tool call shows (MAX_LISTED_FILES)
        (tmp_path / f"f{i:03}.txt").write_text("x")
    shown = repo_files(tmp_path)
    assert shown.splitlines()[0] == "f000.txt" and len(shown.splitlines()) == MAX_PACKET_FILES + 1
    assert shown.endswith(f"[... {450 - MAX_PACKET_FILES} more]")


def test_python_too_deep_for_the_parser_neither_crashes_a_write_nor_the_signature_flag(tmp_path) -> None:
    from orchestrator.gates.signatures import signatures

    deep = "x = " + "+".join(["1"] * 200_000) + "\n"  # RecursionError inside ast.parse, not a SyntaxError
    box = Toolbox(tmp_path)
    box.call("write_file", {"path": "deep.py", "content": deep})
    box.call("edit", {"path": "deep.py", "search": "x = 1+", "replace": "y = 1+"})
    assert signatures(deep) == {} and signatures("def f(a, *, b): pass\n") == {"f": "a, *, b"}
