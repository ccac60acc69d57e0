"""Existing tests judged as tests: weakening a test file without touching a test function is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_repo

from orchestrator.agents.write_policy import WritePolicy
from orchestrator.errors import ToolError

TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


@pytest.fixture
def policy(tmp_path: Path) -> WritePolicy:
    repo = make_repo(tmp_path / "app", {"calc.py": "def add(a, b):\n    return a + b\n", "tests/test_add.py": TEST,
                                        "pkg/__init__.py": "", "pkg/json.py": ""})
    return WritePolicy(repo)


@pytest.mark.parametrize("appended, why", [
    ("test_add = lambda: None\n", "a new top-level assign statement"),
    ("del test_add\n", "a new top-level delete statement"),
    ("import pytest\npytest.skip('later', allow_module_level=True)\n", "a new top-level expr statement"),
    ("add = lambda a, b: 5\n", "a new top-level assign statement"),
    ("from calc import add as add\n", "it rebinds add"),
    ("def add(a, b):\n    return 5\n", "it rebinds add"),
])
def test_appending_code_that_weakens_existing_tests_is_refused(policy: WritePolicy, appended: str, why: str) -> None:
    with pytest.raises(ToolError, match=why):
        policy.check_write("tests/test_add.py", TEST + "\n\n" + appended)


def test_new_test_functions_and_imports_may_still_be_added(policy: WritePolicy) -> None:
    added = "\n\ndef test_add_zero():\n    assert add(0, 0) == 0\n"
    policy.check_write("tests/test_add.py", "import math\n" + TEST + added)


@pytest.mark.parametrize("path", ["pytest.py", "tests/pytest.py", "json.py", "tests/os.py", "_pytest.py",
                                  "sitecustomize.py"])
def test_files_that_shadow_the_runner_or_the_stdlib_are_refused(policy: WritePolicy, path: str) -> None:
    with pytest.raises(ToolError, match="would shadow"):
        policy.check_write(path, "x = 1\n")


def test_a_stdlib_name_inside_a_package_is_fine(policy: WritePolicy) -> None:
    policy.check_write("pkg/types.py", "x = 1\n")
    policy.check_write("pkg/json.py", "x = 2\n")  # it exists at the baseline, too
