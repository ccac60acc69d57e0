"""Gate report parsing, checked against the real output of pytest and ruff on tiny broken projects."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from orchestrator.agents.sandbox import run_command
from orchestrator.gates.findings import (
    Finding,
    compress_findings,
    parse_generic,
    parse_output,
    parse_pytest,
    parse_ruff,
    tool_name,
)

PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
needs_ruff = pytest.mark.skipif(RUFF is None, reason="ruff is not installed")


@pytest.fixture(autouse=True)
def fast_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip third-party plugin autoload in the child pytest (langsmith's alone costs seconds)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def run(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run through the sandbox, as the quality gate does."""
    result = run_command(argv, cwd, allowlist={"python", "ruff"}, timeout_s=60, max_output_chars=50_000)
    return result.exit_code, result.output


@pytest.fixture
def failing_project(tmp_path: Path) -> Path:
    """A project with an assertion failure, an exception in library code, a class test and a broken import."""
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a * b\n\n\ndef div(a, b):\n    return a / b\n")
    (tmp_path / "test_calc.py").write_text(
        "from calc import add, div\n\n\n"
        "def test_add():\n    assert add(1, 2) == 3\n\n\n"
        "def test_ok():\n    assert add(2, 2) == 4\n\n\n"
        "class TestDiv:\n    def test_zero(self):\n        assert div(1, 0) == 0\n"
    )
    (tmp_path / "test_broken.py").write_text("import not_a_module\n\n\ndef test_never():\n    pass\n")
    return tmp_path


class TestPytest:
    @pytest.mark.parametrize("flags", [[], ["-q"], ["-v"]])
    def test_failures_and_collection_errors_from_real_output(self, failing_project: Path, flags: list[str]):
        code, output = run([*PYTEST, *flags, "--continue-on-collection-errors"], failing_project)
        assert code == 1
        by_id = {f.message.split(": ", 1)[0]: f for f in parse_pytest(output)}
        add = by_id["test_calc.py::test_add"]
        assert (add.file, add.line, add.tool) == ("test_calc.py", 5, "pytest")
        assert "assert 2 == 3" in add.message
        zero = by_id["test_calc.py::TestDiv::test_zero"]
        assert (zero.file, zero.line) == ("calc.py", 6) and "ZeroDivisionError" in zero.message
        broken = by_id["test_broken.py"]
        assert broken.file == "test_broken.py" and "No module named 'not_a_module'" in broken.message
        assert len(by_id) == 3

    def test_collection_error_stops_the_run(self, failing_project: Path):
        code, output = run([*PYTEST, "-q"], failing_project)
        assert code == 2
        findings = parse_pytest(output)
        assert [f.file for f in findings] == ["test_broken.py"]
        assert "not_a_module" in findings[0].message

    def test_syntax_error_in_a_test_module(self, tmp_path: Path):
        (tmp_path / "test_syntax.py").write_text("def test_x(:\n    pass\n")
        code, output = run([*PYTEST, "-q"], tmp_path)
        [finding] = parse_pytest(output)
        assert (finding.file, finding.line) == ("test_syntax.py", 1)
        assert finding.message == "test_syntax.py: def test_x(: | ^ | SyntaxError: invalid syntax"

    def test_tb_no_falls_back_to_the_short_summary(self, failing_project: Path):
        code, output = run([*PYTEST, "-q", "--tb=no", "--continue-on-collection-errors"], failing_project)
        ids = sorted(f.message.split(": ", 1)[0] for f in parse_pytest(output))
        assert ids == [
            "ERROR test_broken.py",
            "FAILED test_calc.py::TestDiv::test_zero",
            "FAILED test_calc.py::test_add",
        ]

    def test_the_same_failure_reads_the_same_in_every_run(self, tmp_path: Path):
        (tmp_path / "calc.py").write_text("def add(a, b):\n    return a * b\n")
        (tmp_path / "test_calc.py").write_text("import calc\n\n\ndef test_add():\n    assert calc.add(1, 2) == 3\n")
        outputs = [run([*PYTEST, "-q"], tmp_path)[1] for _ in range(2)]
        assert all(" at 0x" in output for output in outputs)  # pytest shows `<function add at 0x...>`, per process
        first, second = (parse_pytest(output) for output in outputs)
        assert first == second and "where 2 = <function add>(1, 2)" in first[0].message

    def test_passing_run_has_no_findings(self, tmp_path: Path):
        (tmp_path / "test_ok.py").write_text("def test_ok():\n    assert True\n")
        code, output = run([*PYTEST, "-q"], tmp_path)
        assert code == 0 and parse_pytest(output) == []
        assert parse_output(PYTEST, output, exit_code=0) == []

    def test_usage_error_and_no_tests(self, tmp_path: Path):
        code, output = run([*PYTEST, "-q", "missing_dir"], tmp_path)
        assert code == 4
        assert "file or directory not found: missing_dir" in parse_pytest(output)[0].message
        code, output = run([*PYTEST, "-q"], tmp_path)
        assert code == 5
        [finding] = parse_output(PYTEST, output, exit_code=code)
        assert "no tests ran" in finding.message and finding.file is None


@needs_ruff
class TestRuff:
    @pytest.fixture
    def lint_project(self, tmp_path: Path) -> Path:
        (tmp_path / "bad.py").write_text("import os\n\n\ndef f():\n    x = 1\n    return undefined_name\n")
        return tmp_path

    @pytest.mark.parametrize("fmt", ["concise", "full"])
    def test_ruff_check_formats(self, lint_project: Path, fmt: str):
        code, output = run([RUFF, "check", "--no-cache", "--isolated", f"--output-format={fmt}", "."], lint_project)
        assert code == 1
        findings = parse_ruff(output)
        assert [(f.file, f.line, f.message.split()[0]) for f in findings] == [
            ("bad.py", 1, "F401"),
            ("bad.py", 5, "F841"),
            ("bad.py", 6, "F821"),
        ]
        assert all(f.tool == "ruff" for f in findings) and "`os` imported but unused" in findings[0].message

    def test_ruff_default_format_and_syntax_error(self, lint_project: Path):
        (lint_project / "broken.py").write_text("def f(:\n    pass\n")
        code, output = run([RUFF, "check", "--no-cache", "--isolated", "."], lint_project)
        findings = parse_output([RUFF, "check", "."], output, exit_code=code)
        assert {f.file for f in findings} == {"bad.py", "broken.py"}
        assert any(f.file == "broken.py" and f.line == 1 for f in findings)

    def test_ruff_format_check(self, lint_project: Path):
        (lint_project / "ugly.py").write_text("x = {  'a':1 }\n")
        code, output = run([RUFF, "format", "--check", "--no-cache", "--isolated", "ugly.py"], lint_project)
        assert code == 1
        [finding] = parse_ruff(output)
        assert finding.file == "ugly.py" and "reformatted" in finding.message
        old_style = "Would reformat: ugly.py\n1 file would be reformatted\n"  # ruff before 0.9
        assert parse_ruff(old_style) == [Finding("ugly.py", None, "would be reformatted (run `ruff format`)", "ruff")]

    def test_clean_ruff_run(self, tmp_path: Path):
        (tmp_path / "good.py").write_text("X = 1\n")
        code, output = run([RUFF, "check", "--no-cache", "--isolated", "."], tmp_path)
        assert code == 0 and parse_ruff(output) == []


class TestGenericAndDispatch:
    def test_generic_locations(self):
        output = "src/a.py:3: error: Incompatible types\nsrc/b.py:10:5: warning: unused\nFound 2 errors\n"
        assert parse_generic(output, "mypy") == [
            Finding("src/a.py", 3, "error: Incompatible types", "mypy"),
            Finding("src/b.py", 10, "warning: unused", "mypy"),
        ]

    def test_generic_falls_back_to_the_tail(self):
        [finding] = parse_generic("\n".join(f"line {n}" for n in range(20)) + "\n\n", "make")
        assert finding == Finding(None, None, "line 15 | line 16 | line 17 | line 18 | line 19", "make")
        assert parse_generic("") == []

    @pytest.mark.parametrize(
        ("command", "name"),
        [
            ("pytest", "pytest"),
            (["python", "-m", "pytest", "-q"], "pytest"),
            ([".venv/bin/ruff", "check"], "ruff"),
            (["/usr/bin/python3.11", "-m", "mypy", "."], "mypy"),
            (["py.test"], "pytest"),
            ([], "command"),
        ],
    )
    def test_tool_name(self, command, name: str):
        assert tool_name(command) == name

    def test_a_failing_command_always_has_a_finding(self):
        assert parse_output(["ruff", "check"], "error: unexpected argument '--bogus'\n", exit_code=2) == [
            Finding(None, None, "error: unexpected argument '--bogus'", "ruff")
        ]
        assert parse_output("mypy", "Success: no issues found\n", exit_code=0) == []
        assert parse_output("make", "", exit_code=2) == [Finding(None, None, "exited with code 2, no output", "make")]


class TestCompress:
    def test_dedupes_and_groups_by_file(self):
        findings = [
            Finding("b.py", 9, "E1", "ruff"),
            Finding("a.py", 2, "E2", "pytest"),
            Finding("b.py", 1, "E3", "ruff"),
            Finding("b.py", 9, "E1", "ruff"),
            Finding(None, None, "whole run failed", "pytest"),
        ]
        assert compress_findings(findings) == (
            "b.py\n  1: E3 [ruff]\n  9: E1 [ruff]\na.py\n  2: E2 [pytest]\n(no file)\n  whole run failed [pytest]"
        )

    def test_caps_per_file_and_total_and_says_what_was_dropped(self):
        findings = [
            Finding(f"f{n}.py", line, f"problem {n}-{line} " + "x" * 40, "ruff")
            for n in range(30)
            for line in range(1, 13)
        ]
        text = compress_findings(findings, max_chars=2000)
        assert len(text) <= 2000
        assert "  ... 4 more in this file" in text
        assert text.splitlines()[-1].startswith("[") and f"of {len(findings)} findings not shown" in text

    def test_empty(self):
        assert compress_findings([]) == "No findings."

    def test_tiny_budget_still_bounded(self):
        assert len(compress_findings([Finding("a.py", 1, "x" * 200, "ruff")], max_chars=50)) <= 50

    def test_real_pytest_report_compresses(self, failing_project: Path):
        code, output = run([*PYTEST, "--continue-on-collection-errors"], failing_project)
        text = compress_findings(parse_output(PYTEST, output, exit_code=code), max_chars=600)
        assert len(text) <= 600 and "test_calc.py\n  5: test_calc.py::test_add" in text
