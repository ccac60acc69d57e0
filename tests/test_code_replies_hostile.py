"""`edit_format: code` and `small_task` against odd replies, odd files and a hostile repository."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.agents.code_blocks import code_blocks, merged
from orchestrator.agents.code_loop import CodeReplyLoop
from orchestrator.agents.tools import Toolbox
from orchestrator.agents.write_policy import WritePolicy
from orchestrator.gates.config import GATE_CONFIG_FILES
from orchestrator.models.types import ModelReply
from orchestrator.steps.code_step import new_test_file, source_target
from orchestrator.steps.task_size import small_task

TWO = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"


def test_a_form_feed_or_line_separator_in_the_file_does_not_shift_the_replaced_lines() -> None:
    """str.splitlines breaks at \\x0c and \\u2028, the parser doesn't: the merge must count lines as the parser."""
    for odd in ("\x0c\n", 'S = "x\u2028y"\n\n\n'):
        old = f"def a():\n    return 1\n\n\n{odd}def b():\n    return 2\n\n\ndef c():\n    return 3\n"
        text = merged(old, "def b():\n    return 20\n")
        assert "return 2\n" not in text and "return 20" in text and "return 3" in text and odd in text
        compile(text, "calc.py", "exec")


def test_a_block_with_every_function_keeps_the_imports_and_constants_it_leaves_out() -> None:
    old = '"""Areas."""\n\nimport math\n\nSCALE = 2\n\n\ndef area(r):\n    return math.pi * r * r\n'
    text = merged(old, "def area(r):\n    return SCALE * math.pi * r ** 2\n")
    assert text.startswith('"""Areas."""') and "import math" in text and "SCALE = 2" in text
    assert "SCALE * math.pi" in text and "return math.pi * r * r" not in text
    assert merged('"""Only a docstring."""\n', "def f():\n    return 1\n").startswith('"""Only a docstring."""')


def test_a_block_that_changes_a_constant_changes_it_in_place() -> None:
    old = "LIMIT = 10\n\n\ndef f():\n    return LIMIT\n\n\ndef g():\n    return 1\n"
    assert merged(old, "LIMIT = 100\n") == old.replace("LIMIT = 10\n", "LIMIT = 100\n")


def test_a_future_import_goes_first_so_the_file_still_compiles() -> None:
    old = '"""Doc."""\nimport os\n\n\n' + TWO
    text = merged(old, "from __future__ import annotations\n\ndef a() -> int:\n    return 5\n")
    assert text.startswith('"""Doc."""\nfrom __future__ import annotations\n')
    compile(text, "calc.py", "exec")


def test_a_package_module_does_not_import_itself() -> None:
    text = merged(TWO, "from pkg.calc import a\nimport os\n\ndef b():\n    return a()\n", module="pkg.calc")
    assert "from pkg.calc" not in text and "import os" in text


def test_a_reply_with_crlf_line_endings_is_read_like_one_with_lf() -> None:
    reply = "Here:\r\n```python calc.py\r\ndef f():\r\n    return 1\r\n```\r\nDone.\r\n"
    assert [(b.path, b.code) for b in code_blocks(reply)] == [("calc.py", "def f():\n    return 1\n")]


def test_a_fence_inside_a_docstring_does_not_end_the_block() -> None:
    reply = 'Fixed:\n```python\ndef f():\n    """Use it so:\n\n```python\nf()\n```\n    """\n    return 1\n```\nBye.\n'
    [block] = code_blocks(reply)
    assert block.code.endswith("    return 1\n") and "Bye" not in block.code
    compile(block.code, "calc.py", "exec")


def test_the_source_target_is_a_python_file_not_a_named_readme() -> None:
    """A README the task names (sorted first) must not be overwritten by a python block without a path."""
    listed = ["README.md", "calc.py", "tests/test_calc.py"]
    assert source_target(["README.md", "calc.py"], listed) == "calc.py"
    assert source_target(["README.md"], listed) == "calc.py" and source_target([], []) == "main.py"


def test_a_new_test_file_in_a_dot_folder_keeps_its_folder_name() -> None:
    assert new_test_file([".ci/tests/test_a.py"], "Add f(x)", []) == ".ci/tests/test_f.py"
    assert new_test_file(["test_a.py"], "Add f(x)", []) == "test_f.py"


def test_small_task_says_no_to_a_named_file_it_cannot_read(tmp_path: Path) -> None:
    """A huge, binary or linked-out file counts as unknown, not as 0 lines (small)."""
    outside = tmp_path / "outside.py"
    outside.write_text("x = 1\n" * 10)
    root = tmp_path / "repo"
    root.mkdir()
    (root / "huge.py").write_text("x = 1\n" * 400_000)  # 2.4 MB: past the read cap
    (root / "blob.py").write_bytes(b"\0" * 100)
    os.symlink(outside, root / "linked.py")
    for name in ("huge.py", "blob.py", "linked.py"):
        small, why = small_task(f"Add f( to {name}", root, [name])
        assert not small and name in why, why


def test_small_task_reads_only_a_few_named_files(tmp_path: Path) -> None:
    """A hostile repo with thousands of files of the named name must not make the rule read them all."""
    listed = [f"d{n}/calc.py" for n in range(2000)]
    small, why = small_task("Add f( to calc.py", tmp_path, listed)
    assert not small and "2000 files" in why, why


def test_a_constant_sharing_its_line_is_not_replaced_with_its_neighbour() -> None:
    old = "X = 1; Y = 2\n\n\ndef f():\n    return X + Y\n"
    text = merged(old, "X = 5\n")
    assert "Y = 2" in text
    compile(text, "calc.py", "exec")


def _loop(root: Path, reply: str, target: str, allowed: list[str], toolbox: Toolbox | None = None) -> CodeReplyLoop:
    def complete(model: str, messages: list, **kwargs: object) -> ModelReply:
        return ModelReply(text=reply, model=model)

    return CodeReplyLoop(complete=complete, model="m", persona="builder", system_prompt="",
                         toolbox=toolbox or Toolbox(root), deliverable_kind="source", target=target, allowed=allowed,
                         max_turns=1)


def test_a_module_of_a_package_does_not_get_an_import_of_itself(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "calc.py").write_text(TWO)
    _loop(tmp_path, "```python\nfrom pkg.calc import a\n\ndef b():\n    return a() + 1\n```", "pkg/calc.py",
          []).run("packet")
    text = (tmp_path / "pkg" / "calc.py").read_text()
    assert "return a() + 1" in text and "from pkg.calc" not in text


def test_hostile_block_paths_and_links_write_nothing_outside_the_target(repo: Path, tmp_path: Path) -> None:
    """Paths a model took from hostile files go to the target; protected and linked-out targets are refused."""
    outside = tmp_path / "outside.py"
    outside.write_text("SAFE = 1\n")
    os.symlink(outside, repo / "linked.py")
    (repo / "conftest.py").write_text("X = 1\n")
    policy = WritePolicy(repo, protected_paths=GATE_CONFIG_FILES)
    paths = ["../x.py", str(outside), ".git/hooks/pre-commit.py", "conftest.py", "linked.py", "calc.py", "x\0.py",
             "a\nb.py"]
    reply = "".join(f"```python {path}\nSAFE = 2\n```\n" for path in paths)
    loop = _loop(repo, reply, "linked.py", ["conftest.py"], Toolbox(repo, policy=policy))
    result = loop.run("packet")
    assert outside.read_text() == "SAFE = 1\n" and (repo / "conftest.py").read_text() == "X = 1\n"
    assert not (repo / ".git" / "hooks" / "pre-commit.py").exists() and not (repo.parent / "x.py").exists()
    assert "SAFE" not in (repo / "calc.py").read_text() and result.delivered == []
    assert any("protected" in line for line in result.trace) and len(result.trace) == len(paths)


def test_a_byte_order_mark_or_crlf_file_keeps_them_and_its_other_functions() -> None:
    bom = "\ufeffimport math\n\n\ndef a():\n    return math.pi\n\n\ndef b():\n    return 2\n"
    assert merged(bom, "def b():\n    return 3\n") == bom.replace("return 2", "return 3")
    crlf = TWO.replace("\n", "\r\n")
    assert merged(crlf, "def b():\n    return 3\n") == crlf.replace("return 2", "return 3")


def test_a_file_with_a_syntax_error_keeps_the_functions_the_block_leaves_out() -> None:
    """The bug may be the syntax error itself: the fixed function replaces the broken one, the rest stays."""
    old = ("import os\n\n\n@staticmethod\ndef a(\n    x,\n):\n    return 1\n\n\n"
           "def b():\n    return (2\n\n\nclass C:\n    pass\n")
    text = merged(old, "import sys\n\ndef b():\n    return 2\n\ndef d():\n    return 4\n")
    assert "def a(\n    x,\n):" in text and "class C" in text and "(2\n" not in text and "return 4" in text
    assert text.index("import os") < text.index("import sys") < text.index("def a")
    compile(text, "calc.py", "exec")
    one = "import math\n\nSCALE = 2\n\n\ndef area(r):\n    return math.pi * r *\n"
    assert merged(one, "def area(r):\n    return math.pi * r * r\n") == one.replace("r *\n", "r * r\n")
    whole = "import math\n\nSCALE = 3\n\n\ndef area(r):\n    return SCALE * r\n"
    assert merged(one, whole) == whole


def test_a_class_block_with_one_method_keeps_the_other_methods_and_decorators_stay() -> None:
    old = ("import functools\n\n\nclass K:\n    \"\"\"A K.\"\"\"\n\n    LIMIT = 1\n\n"
           "    def m(self):\n        return 1\n\n"
           "    @property\n    def n(self):\n        return 2\n\n\n@functools.cache\ndef f():\n    return 3\n")
    text = merged(old, "class K:\n    def n(self):\n        return 20\n\n    def o(self):\n        return 4\n\n"
                  "def f():\n    return 30\n")
    assert '"""A K."""' in text and "LIMIT = 1" in text and "return 1\n" in text and "return 4" in text
    assert "    @property\n    def n(self):\n        return 20" in text
    assert "@functools.cache\ndef f():\n    return 30" in text
    assert text.index("def m") < text.index("def n") < text.index("def o") < text.index("def f")
    compile(text, "calc.py", "exec")
    only_a_class = "class K:\n    def m(self):\n        return 1\n\n    def n(self):\n        return 2\n"
    assert merged(only_a_class, "class K:\n    def n(self):\n        return 20\n") == \
        only_a_class.replace("return 2", "return 20")


def test_small_task_counts_python_sources_not_a_named_readme(tmp_path: Path) -> None:
    """The lean path writes ```python blocks: a task naming only a README has no file for them to go to."""
    (tmp_path / "README.md").write_text("# Calc\n")
    (tmp_path / "calc.py").write_text(TWO)
    assert not small_task("Add f( as README.md says", tmp_path, ["README.md", "calc.py"])[0]
    small, why = small_task("Add f( to calc.py as README.md says", tmp_path, ["README.md", "calc.py"])
    assert small and "README" not in why, why


def test_a_fence_indented_in_a_markdown_list_is_a_block_and_its_code_is_dedented() -> None:
    reply = "1. Fix it:\n\n   ```python\n   def f():\n       return 1\n   ```\n2. Done.\n"
    assert [(b.path, b.code) for b in code_blocks(reply)] == [(None, "def f():\n    return 1\n")]
