"""A tester's expected results, cross-checked by a second answer (orchestrator/agents/test_check.py)."""

from __future__ import annotations

import ast
from pathlib import Path

from orchestrator.agents import test_check
from orchestrator.agents.code_loop import CodeReplyLoop
from orchestrator.agents.tools import Toolbox
from orchestrator.models.types import ModelReply

TESTS = '''# file: tests/test_letters.py
from letters import common_letters, rank


def test_common_letters():
    # no letter in common
    assert common_letters("abc", "def") == []
    # every letter is in both, so one entry: the first
    assert common_letters("abc", "abc") == ["a"]
    scores = {"a": 1}
    result = rank(scores)
    assert result == ["a"]
    assert rank({}) is None
    assert not rank({"b": 2})
    assert len(rank({"c": 3})) > 0
'''


def test_the_checked_asserts_are_calls_against_literals_with_earlier_names_put_back() -> None:
    found = test_check.checks(TESTS)
    assert [(c.call, c.expected, c.truthy) for c in found] == [
        ("common_letters('abc', 'def')", [], False), ("common_letters('abc', 'abc')", ["a"], False),
        ("rank({'a': 1})", ["a"], False), ("rank({})", None, False), ("rank({'b': 2})", False, True)]
    # `len(...) > 0` is no equality: left as it is, unchecked


def test_the_question_shows_the_calls_and_never_the_expected_results() -> None:
    text = test_check.question("Add common_letters(a, b): the letters both have, sorted.", test_check.checks(TESTS))
    assert "common_letters('abc', 'abc')" in text and "rank({'a': 1})" in text
    assert "['a']" not in text and "is None" not in text and "no letter in common" not in text


def test_a_contradicted_assert_goes_with_its_worked_comment_and_the_rest_stays() -> None:
    found = test_check.checks(TESTS)
    reply = ('```python\n# none shared\ncommon_letters("abc", "def") == []\n# all three\n'
             'assert common_letters("abc", "abc") == ["a", "b", "c"]\nrank({"a": 1}) == ["a"]\nnot a line == \n```')
    stated = test_check.answers(reply)
    assert stated == {"common_letters('abc', 'def')": [], "common_letters('abc', 'abc')": ["a", "b", "c"],
                      "rank({'a': 1})": ["a"]}
    code, note = test_check.without(TESTS, test_check.contradicted(found, stated))
    assert 'common_letters("abc", "abc")' not in code and "every letter is in both" not in code
    assert 'common_letters("abc", "def") == []' in code and "no letter in common" in code
    assert "assert rank({}) is None" in code  # unanswered: it stands
    assert note == ("left out 1 assert(s) a second answer contradicted: `common_letters('abc', 'abc')` "
                    "(the test said ['a'], a second answer ['a', 'b', 'c'])")
    ast.parse(code)


def test_truth_and_float_results_compare_by_meaning() -> None:
    code = "def test_x():\n    assert ok(1)\n    assert mean([1, 2]) == 1.5\n    assert mean([1, 3]) == 2\n"
    found = test_check.checks(code)
    stated = test_check.answers("ok(1) == 1\nmean([1, 2]) == 1.5000000001\nmean([1, 3]) == 2.5")
    assert [c.call for c, _ in test_check.contradicted(found, stated)] == ["mean([1, 3])"]


def test_code_that_does_not_parse_or_nests_past_the_parser_checks_nothing() -> None:
    assert test_check.checks("def test_x(:\n") == []
    assert test_check.checks("def test_x():\n    assert f(" + "[" * 5000 + "]" * 5000 + ") == 1\n") == []
    assert test_check.answers("f(" + "(" * 5000 + ")" * 5000 + ") == 1") == {}


def _loop(tmp_path: Path, replies: list[str], seen: list[list[dict]]) -> CodeReplyLoop:
    answers = iter(replies)

    def complete(model: str, messages: list, **kwargs: object) -> ModelReply:
        seen.append(messages)
        return ModelReply(text=next(answers), model=model)

    written = tmp_path / "tests" / "test_letters.py"
    return CodeReplyLoop(complete=complete, model="m", persona="tester", system_prompt="", toolbox=Toolbox(tmp_path),
                         deliverable_kind="tests", target="tests/test_letters.py", max_turns=2,
                         deliverable=lambda: "" if written.exists() else "tests", task="Add common_letters(a, b).")


def test_a_tester_writes_only_the_asserts_the_second_answer_agrees_with(tmp_path: Path) -> None:
    seen: list[list[dict]] = []
    loop = _loop(tmp_path, [f"```python\n{TESTS}```", "common_letters('abc', 'abc') == ['a', 'b', 'c']"], seen)
    result = loop.run("packet")
    text = (tmp_path / "tests" / "test_letters.py").read_text()
    assert result.missing == "" and "common_letters(\"abc\", \"abc\")" not in text and "rank({})" in text
    assert len(result.replies) == 2 and "## Calls" in seen[1][-1]["content"]
    assert any("a second answer contradicted" in line for line in result.trace)


def test_a_tester_whose_every_assert_is_contradicted_keeps_them_at_the_cost_of_one_call(tmp_path: Path) -> None:
    only = ("```python\nfrom letters import common_letters\n\n\ndef test_c():\n"
            "    assert common_letters('a', 'a') == []\n```")
    seen: list[list[dict]] = []
    loop = _loop(tmp_path, [only, "common_letters('a', 'a') == ['a']"], seen)
    result = loop.run("packet")
    assert result.missing == "" and len(result.replies) == 2
    assert "== []" in (tmp_path / "tests" / "test_letters.py").read_text()
    assert any("contradicted all 1 checked assert(s); kept them: nothing agreed" in line for line in result.trace)
