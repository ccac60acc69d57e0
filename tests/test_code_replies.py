"""`edit_format: code`: a model answers with code blocks; they are merged into their file through the write policy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flows import QUALITY, add_workflow, events, run
from scripts import TEST

from orchestrator.agents.code_blocks import Block, code_blocks, merged
from orchestrator.agents.code_loop import CodeReplyLoop
from orchestrator.agents.loop import REPEAT_TEMPERATURE
from orchestrator.agents.tools import Toolbox
from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.models.types import ModelReply
from orchestrator.workflow.spec import WorkflowSpec

CALC = '"""Calculator."""\n\nimport math\n\n\ndef add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a + b\n'


def test_blocks_take_their_path_from_the_fence_the_first_comment_or_the_line_before() -> None:
    reply = ("calc.py\n```python\ndef f():\n    return 1\n```\n"
             "```python tests/test_f.py\nimport calc\n```\n"
             "```python\n# file: b.py\nx = 1\n```\n"
             "```\ny = 2\n")  # cut off before its closing fence: still a block
    assert [(b.path, b.code) for b in code_blocks(reply)] == [
        ("calc.py", "def f():\n    return 1\n"), ("tests/test_f.py", "import calc\n"), ("b.py", "x = 1\n"),
        (None, "y = 2\n")]
    assert code_blocks("no code here") == [] and code_blocks("```python\n\n```") == []


def test_a_reply_of_bare_python_is_one_block_named_by_its_first_comment() -> None:
    reply = "# file: tests/test_sub.py\nfrom calc import sub\n\ndef test_sub():\n    assert sub(2, 3) == -1\n"
    assert code_blocks(reply) == [Block(path="tests/test_sub.py",
                                        code="from calc import sub\n\ndef test_sub():\n    assert sub(2, 3) == -1\n")]
    assert code_blocks("Sure. I will fix it.") == [] and code_blocks("x = 1") == []  # prose, or no code worth a file
    closed_only = "# file: tests/test_sub.py\nfrom calc import sub\n\ndef test_sub():\n    assert sub(2, 3) == -1\n```"
    assert [b.path for b in code_blocks(closed_only)] == ["tests/test_sub.py"]


def test_a_block_importing_from_its_own_module_does_not_import_itself() -> None:
    text = merged(CALC, "from calc import add, sub\nimport os\n\ndef sub(a, b):\n    return a - b\n", module="calc")
    assert "from calc import" not in text and "import os" in text


def test_a_block_of_some_functions_replaces_them_in_place_and_adds_the_rest() -> None:
    block = "from typing import List\n\ndef sub(a, b):\n    return a - b\n\ndef mul(a, b):\n    return a * b\n\n" \
            "LIMIT = 3\n\nprint(sub(1, 2))\n\nif __name__ == '__main__':\n    mul(1, 2)\n"
    text = merged(CALC, block)
    assert text.index("def add") < text.index("def sub") < text.index("def mul")  # sub stays where it was
    assert "return a - b" in text and "return a + b\n\n\ndef sub" in text  # add untouched, sub replaced
    assert text.index("import math") < text.index("from typing import List") < text.index("def add")
    assert "LIMIT = 3" in text and "print(" not in text and "__main__" not in text  # nothing that runs on import
    assert text.startswith('"""Calculator."""')
    compile(text, "calc.py", "exec")


def test_a_block_with_every_definition_is_the_whole_new_file_and_a_broken_one_is_kept_as_written() -> None:
    whole = '"""Calculator."""\n\nimport math\n\n\ndef sub(a, b):\n    return a - b\n\n\n' \
        'def add(a, b):\n    return a + b\n'
    assert merged(CALC, whole) == whole  # its order, not the old file's
    functions_only = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
    assert merged(CALC, functions_only) == "a - b\n".join(CALC.rsplit("a + b\n", 1))
    assert merged(CALC, "def sub(a, b) return") == "def sub(a, b) return"  # the write refuses it, with the reason
    assert merged("", "x = 1\n") == "x = 1\n"


def _flow(repo: Path, deliverable: str = "source", max_calls: int = 6) -> str:
    steps = [{"id": "build", "persona": "builder", "deliverable": deliverable, "edit_format": "code",
              "instructions": "{task}", "next": "quality"},
             {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "stop"}]
    return add_workflow(repo, f"code_{deliverable}", steps, {"tests": {**QUALITY, "all_green": True}},
                        max_tool_calls=max_calls, autonomy="L4")


def test_the_builder_answers_with_a_block_and_the_run_ends_done(repo: Path) -> None:
    builder = ScriptedModel({"builder": [{"text": "```python\ndef subtract(a, b):\n    return a - b\n```"}]}, name="b")
    outcome = run(repo, _flow(repo), {"builder": register_scripted(builder)})
    assert outcome.exit_code == 0, outcome.message
    request = builder.calls[0]
    assert not request.tools and "```python code block" in request.messages[-1]["content"]
    assert "calc.py" in request.messages[-1]["content"]  # the target it names
    calls = [e for e in events(repo, outcome.run_id) if e["kind"] == "tool_call"]
    assert [(c["data"]["tool"], c["data"]["status"]) for c in calls] == [("write_file", "ok")]


def test_a_refused_block_is_answered_with_the_reason(repo: Path) -> None:
    builder = ScriptedModel({"builder": [{"text": "```python\ndef subtract(a, b) return a - b\n```"},
                                         {"text": "```python\ndef subtract(a, b):\n    return a - b\n```"}]}, name="b")
    outcome = run(repo, _flow(repo), {"builder": register_scripted(builder)})
    assert outcome.exit_code == 0, outcome.message
    assert "would no longer be valid Python" in builder.calls[1].messages[-1]["content"]


def test_a_turn_after_a_refusal_samples_hotter(tmp_path: Path) -> None:
    (tmp_path / "calc.py").write_text(CALC)
    asked: list[dict] = []
    answers = iter(["```python\ndef sub(a, b) return\n```", "```python\ndef sub(a, b):\n    return a - b\n```"])

    def complete(model: str, messages: list, **kwargs: object) -> ModelReply:
        asked.append(kwargs)
        return ModelReply(text=next(answers), model=model)

    loop = CodeReplyLoop(complete=complete, model="m", persona="builder", system_prompt="", toolbox=Toolbox(tmp_path),
                         deliverable_kind="source", target="calc.py",
                         deliverable=lambda: "" if "a - b" in (tmp_path / "calc.py").read_text() else "source")
    result = loop.run("packet")
    assert result.missing == "" and len(result.replies) == 2 and result.tool_calls == 2
    assert "temperature" not in asked[0] and asked[1]["temperature"] == REPEAT_TEMPERATURE
    assert "return a + b\n\n\ndef sub(a, b):\n    return a - b" in (tmp_path / "calc.py").read_text()


def test_a_reply_without_code_fails_the_step_after_its_turns(repo: Path) -> None:
    builder = ScriptedModel({"builder": [{"text": "I would write subtract."}] * 3}, name="b")
    outcome = run(repo, _flow(repo), {"builder": register_scripted(builder)})
    assert outcome.exit_code != 0 and builder.remaining() == 0 and len(builder.calls) == 3
    build = next(p for p in outcome.phases if p["step"] == "build")
    assert build["verdict"] == "failed" and "without its deliverable" in build["reason"]


def test_a_block_naming_a_file_outside_the_worktree_goes_nowhere_but_the_target(repo: Path, tmp_path: Path) -> None:
    """The repo's task (hostile) can't aim a block: a path that isn't the target or a named source goes to the target,
    and a target that is a link out of the worktree is refused by the toolbox like any write."""
    outside = tmp_path / "outside.py"
    outside.write_text("SAFE = 1\n")
    os.symlink(outside, repo / "linked.py")
    builder = ScriptedModel({"builder": [{"text": f"```python {outside}\nSAFE = 2\n```"},
                                         {"text": "```python linked.py\nSAFE = 3\n```"}] + [{"text": "no"}]},
                            name="b")
    run(repo, _flow(repo), {"builder": register_scripted(builder)})
    assert outside.read_text() == "SAFE = 1\n"


def test_a_tester_in_code_mode_writes_a_new_test_file_named_for_the_task(repo: Path) -> None:
    tester = ScriptedModel({"tester": [{"text": "```python\n" + TEST.replace("test_subtract_returns", "test_x")
                                        + "```"}]}, name="t")
    steps = [{"id": "tests", "persona": "tester", "deliverable": "tests", "edit_format": "code", "next": "end"}]
    name = add_workflow(repo, "code_tests", steps, autonomy="L4")
    outcome = run(repo, name, {"tester": register_scripted(tester)})
    assert outcome.exit_code == 0, outcome.message
    assert "# file: tests/test_subtract.py" not in tester.calls[0].messages[-1]["content"]  # that one exists
    assert "tests/test_subtract_2.py" in tester.calls[0].messages[-1]["content"]
    assert "Test subtract, what the task adds or fixes" in tester.calls[0].messages[-1]["content"]


def test_code_mode_needs_a_file_deliverable() -> None:
    flow = {"name": "x", "steps": [{"id": "a", "persona": "builder", "edit_format": "code"}]}
    with pytest.raises(ValueError, match="edit_format: code needs deliverable"):
        WorkflowSpec.model_validate(flow)


def test_a_builders_block_for_a_test_file_is_left_out_not_merged_into_the_code(tmp_path: Path) -> None:
    (tmp_path / "calc.py").write_text(CALC)
    reply = ("```python calc.py\ndef sub(a, b):\n    return a - b\n```\n"
             "```python tests/test_calc.py\nfrom calc import sub\n\ndef test_sub():\n    assert sub(3, 1) == 2\n```")

    def complete(model: str, messages: list, **kwargs: object) -> ModelReply:
        return ModelReply(text=reply, model=model)

    loop = CodeReplyLoop(complete=complete, model="m", persona="builder", system_prompt="", toolbox=Toolbox(tmp_path),
                         deliverable_kind="source", target="calc.py", max_turns=1)
    result = loop.run("packet")
    text = (tmp_path / "calc.py").read_text()
    assert "return a - b" in text and "test_sub" not in text and not (tmp_path / "tests").exists()
    assert result.tool_calls == 1


def test_a_model_that_gives_the_file_back_twice_stands_by_it_and_the_step_ends(tmp_path: Path) -> None:
    (tmp_path / "calc.py").write_text(CALC)

    def complete(model: str, messages: list, **kwargs: object) -> ModelReply:
        return ModelReply(text="```python\ndef sub(a, b):\n    return a + b\n```", model=model)

    loop = CodeReplyLoop(complete=complete, model="m", persona="builder", system_prompt="", toolbox=Toolbox(tmp_path),
                         deliverable_kind="source", target="calc.py", max_turns=3,
                         deliverable=lambda: "a change to a source file")
    result = loop.run("packet")
    assert len(result.replies) == 2 and result.missing and (tmp_path / "calc.py").read_text() == CALC
