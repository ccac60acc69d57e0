"""The files a writing step works on are shown whole in its packet: the ones the task names and their tests."""

from __future__ import annotations

from pathlib import Path

from orchestrator.steps.relevant import MAX_LINES, named_files, render_files, working_files


def _repo(tmp_path: Path) -> list[str]:
    files = {"calc.py": "def add(a, b):\n    return a + b\n", "calcs.py": "x = 1\n",
             "tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n",
             "tests/test_other.py": "import json\n", "specs/calc/spec.md": "# calc.py\n",
             "big.py": "\n".join(f"x{n} = {n}" for n in range(MAX_LINES + 5))}
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return sorted(files)


def test_named_files_match_whole_names_only(tmp_path: Path) -> None:
    listed = _repo(tmp_path)
    assert named_files(listed, "Add subtract(a, b) to calc.py; see specs/calc/spec.md") == ["calc.py"]


def test_the_named_module_comes_with_the_tests_that_import_it(tmp_path: Path) -> None:
    listed = _repo(tmp_path)
    sources, tests = working_files(tmp_path, listed, "Add subtract(a, b) to calc.py", ["tests/test_other.py"])
    assert (sources, tests) == (["calc.py"], ["tests/test_calc.py", "tests/test_other.py"])
    text = render_files(tmp_path, sources)
    assert text.startswith("### calc.py (2 lines)") and "return a + b" in text


def test_a_long_file_shows_its_head_and_says_how_to_read_the_rest(tmp_path: Path) -> None:
    text = render_files(tmp_path, working_files(tmp_path, _repo(tmp_path), "Change big.py")[0])
    assert f"x{MAX_LINES - 1} = " in text and f"x{MAX_LINES} = " not in text
    assert "[... 5 more lines: read_file to see them]" in text
