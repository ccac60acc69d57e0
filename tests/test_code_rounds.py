"""Code replies after a failed gate, and a tester's block cut to what proves the task (agents/test_trim.py)."""

from __future__ import annotations

import ast
from pathlib import Path

from flows import QUALITY, add_workflow, run

from orchestrator.agents.code_loop import CodeReplyLoop
from orchestrator.agents.test_trim import MAX_ASSERTS, trimmed_tests
from orchestrator.agents.tools import Toolbox
from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.models.types import ModelReply

MANY = "from nums import clamp\n\n\ndef test_clamp():\n" + "".join(
    f"    assert clamp({i}, 0, 5) == {min(i, 5)}\n" for i in range(9))


def test_a_block_with_many_asserts_keeps_its_first_few() -> None:
    text, cut = trimmed_tests(MANY)
    asserts = [n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Assert)]
    assert len(asserts) == MAX_ASSERTS and "assert clamp(0, 0, 5) == 0" in text and "clamp(8" not in text
    assert cut == f"kept the first {MAX_ASSERTS} of 9 asserts"


def test_a_block_cut_at_its_token_cap_keeps_its_whole_statements() -> None:
    whole = "from nums import clamp\n\n\ndef test_clamp():\n    assert clamp(9, 0, 5) == 5\n"
    truncated = whole + "    assert clamp(15, 15.5"
    text, cut = trimmed_tests(truncated)
    assert text == whole
    assert cut == "cut 1 unfinished line(s) at the end"


def test_a_test_function_left_without_asserts_goes_whole_with_its_decorator() -> None:
    code = MANY + "\n\n@pytest.mark.slow\ndef test_more():\n    assert clamp(1, 2, 3) == 2\n"
    text, _ = trimmed_tests("import pytest\n" + code)
    assert "test_more" not in text and "@pytest.mark.slow" not in text and "def test_clamp" in text
    ast.parse(text)


def test_a_short_block_or_one_that_never_parses_is_left_as_it_is() -> None:
    short = "from nums import clamp\n\ndef test_clamp():\n    assert clamp(9, 0, 5) == 5\n"
    assert trimmed_tests(short) == (short, "")
    assert trimmed_tests("def test_x(:\n    pass\n") == ("def test_x(:\n    pass\n", "")


def test_a_tester_cut_at_its_cap_still_writes_its_file_and_hears_what_was_cut(tmp_path: Path) -> None:
    (tmp_path / "nums.py").write_text("def is_even(n):\n    return n % 2 == 0\n")
    reply = "```python\n# file: tests/test_clamp.py\n" + MANY + "    assert clamp(15, 15.55555, 15.5"

    def complete(model: str, messages: list, **kwargs: object) -> ModelReply:
        return ModelReply(text=reply, model=model)

    written = tmp_path / "tests" / "test_clamp.py"
    loop = CodeReplyLoop(complete=complete, model="m", persona="tester", system_prompt="", toolbox=Toolbox(tmp_path),
                         deliverable_kind="tests", target="tests/test_clamp.py", max_turns=1,
                         deliverable=lambda: "" if written.exists() else "tests")
    result = loop.run("packet")
    assert result.missing == "" and written.read_text().count("assert") == MAX_ASSERTS
    assert any("cut 1 unfinished line(s) at the end; kept the first 5 of 9 asserts" in t for t in result.trace)


def test_a_round_after_a_failed_gate_sees_the_file_before_the_run_not_the_rejected_attempt(repo: Path) -> None:
    wrong = "```python\ndef subtract(a, b):\n    return a * b * 7919\n```"
    right = "```python\ndef subtract(a, b):\n    return a - b\n```"
    builder = ScriptedModel({"builder": [{"text": wrong}, {"text": right}]}, name="b")
    steps = [{"id": "build", "persona": "builder", "deliverable": "source", "edit_format": "code",
              "instructions": "{task}", "next": "quality"},
             {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "build", "max_rounds": 2}]
    flow = add_workflow(repo, "code_rounds", steps, {"tests": {**QUALITY, "all_green": True}}, autonomy="L4")
    outcome = run(repo, flow, {"builder": register_scripted(builder)})
    assert outcome.exit_code == 0, outcome.message
    first, second = (call.messages[-1]["content"] for call in builder.calls)
    assert "The file to change (current content)" in first
    assert "as it was before this run" in second and "Gate quality (quality): fail" in second
    assert "7919" not in second  # the rejected attempt is left out of what the model reads
    assert "def add(a, b)" in second  # the file as it was at the base commit


def test_the_base_file_is_read_from_git_and_a_link_or_binary_in_the_base_shows_nothing(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from orchestrator.run.workspace import git
    from orchestrator.steps.relevant import render_base_files

    secret = tmp_path / "secret.txt"
    secret.write_text("TOKEN=hunter2\n")
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "link.py").symlink_to(secret)
    (repo / "blob.py").write_bytes(b"\x00\x01TOKEN=hunter2")
    (repo / "-n.py").write_text("def odd():\n    return 1\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / "calc.py").write_text("def add(a, b):\n    return 7919\n")
    shown = render_base_files(SimpleNamespace(path=repo, base_commit=base),
                              ["calc.py", "link.py", "new.py", "blob.py", "-n.py"])
    assert "return a + b" in shown and "7919" not in shown and "def odd():" in shown  # an odd name is a path
    assert "hunter2" not in shown and str(secret) not in shown
    assert "### new.py\n(a new file: it did not exist before this run)" in shown


def test_an_unfenced_reply_naming_its_file_is_kept_when_cut_at_the_cap() -> None:
    from orchestrator.agents.code_blocks import code_blocks

    reply = "# file: tests/test_clamp.py\n" + MANY + "    assert clamp(15, 15.5"
    (block,) = code_blocks(reply)
    assert block.path == "tests/test_clamp.py" and block.code.startswith("from nums import clamp")
    assert code_blocks("I would test clamp(1, 2, 3) first.\nThen more.") == []


def test_a_testers_next_round_rewrites_its_own_test_file_whole(repo: Path) -> None:
    passing = "```python\nfrom calc import add\n\n\ndef test_add_more():\n    assert add(1, 1) == 2\n```"
    failing = "```python\nfrom calc import subtract\n\n\ndef test_subtract_more():\n    assert subtract(3, 1) == 2\n```"
    tester = ScriptedModel({"tester": [{"text": passing}, {"text": failing}]}, name="t")
    steps = [{"id": "tests", "persona": "tester", "deliverable": "tests", "edit_format": "code",
              "instructions": "{task}", "next": "red"},
             {"id": "red", "type": "gate", "gate": "red", "on_pass": "end", "on_fail": "tests", "max_rounds": 2}]
    flow = add_workflow(repo, "code_tests", steps, {"red": {"kind": "red"}}, autonomy="L4")
    outcome = run(repo, flow, {"tester": register_scripted(tester)})
    assert outcome.exit_code == 0, outcome.message
    from orchestrator.run.workspace import git

    branch = f"orchestrator/{outcome.run_id}"
    added = git(repo, "diff", "--name-only", "--diff-filter=A", "HEAD", branch).split()
    assert added == ["tests/test_subtract_2.py"]  # one file: the repo already has tests/test_subtract.py
    text = git(repo, "show", f"{branch}:{added[0]}")
    assert "test_subtract_more" in text and "test_add_more" not in text


def test_a_builders_block_leaves_its_tests_out_of_the_source_file(tmp_path: Path) -> None:
    (tmp_path / "shapes.py").write_text("def perimeter(l, b):\n    return l + b\n")
    reply = ("```python\nimport unittest\nimport math\n\ndef perimeter(l, b):\n    return 2 * (l + b)\n\n\n"
             "class TestPerimeter(unittest.TestCase):\n    def test_p(self):\n        self.assertTrue(perimeter(3, 4))"
             "\n\n\n@pytest.mark.x\ndef test_more():\n    assert perimeter(1, 1) == 4\n```")

    def complete(model: str, messages: list, **kwargs: object) -> ModelReply:
        return ModelReply(text=reply, model=model)

    loop = CodeReplyLoop(complete=complete, model="m", persona="builder", system_prompt="", toolbox=Toolbox(tmp_path),
                         deliverable_kind="source", target="shapes.py", max_turns=1)
    result = loop.run("packet")
    text = (tmp_path / "shapes.py").read_text()
    assert "return 2 * (l + b)" in text and "import math" in text
    assert "unittest" not in text and "Test" not in text and "test_more" not in text and "pytest" not in text
    assert any("left out the test code: import unittest, TestPerimeter, test_more" in t for t in result.trace)


def test_a_test_named_function_the_source_already_defines_stays() -> None:
    from orchestrator.agents.test_trim import without_tests

    old = "def test_connection(host):\n    return bool(host)\n"
    block = "def test_connection(host):\n    return host is not None\n\n\ndef test_it():\n    assert True\n"
    code, cut = without_tests(block, old)
    assert "def test_connection" in code and "test_it" not in code and cut == "left out the test code: test_it"
