"""`tests_from_task: also`: the calls and results a feature request states become a test beside the tester's."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import make_repo
from flows import bind, events

from orchestrator.models.providers.scripted import ScriptedModel
from orchestrator.runner import RunOptions, start_run
from orchestrator.steps.request_examples import Stated, examples_test, inputs_stay_unchanged, request_examples

MERGING = '"""Merging lists."""\n\n\ndef first(items):\n    return items[0]\n'
TASK = ("Add interleave(a, b) to merging.py: a new list that alternates between the lists a and b, starting with a's "
        "first item: interleave([1, 2], ['x', 'y']) == [1, 'x', 2, 'y']. When one list is longer, its remaining "
        "items go at the end (interleave([1, 2, 3], ['x']) gives [1, 'x', 2, 3]). Neither input list may be "
        "modified.")
TESTER = ("```python\nfrom merging import interleave\n\n\ndef test_interleave():\n"
          "    assert interleave([], []) == []\n    assert interleave([1], []) == [1]\n"
          "    assert interleave([], ['x']) == ['x']\n```")
POPS = ("```python\ndef interleave(a, b):\n    out = []\n    while a or b:\n        if a:\n"
        "            out.append(a.pop(0))\n        if b:\n            out.append(b.pop(0))\n    return out\n```")
RIGHT = ("```python\ndef interleave(a, b):\n    out = []\n    for i in range(max(len(a), len(b))):\n"
         "        out += a[i:i + 1] + b[i:i + 1]\n    return out\n```")


def test_calls_and_bare_literals_with_a_connector_are_stated_examples() -> None:
    assert request_examples(TASK, "interleave") == [Stated("interleave([1, 2], ['x', 'y'])", "[1, 'x', 2, 'y']"),
                                                    Stated("interleave([1, 2, 3], ['x'])", "[1, 'x', 2, 3]")]
    task = "Add number_to_words(n) to spelling.py, e.g. 0 -> 'zero', 7 -> 'seven', 42 is 'forty-two'."
    assert request_examples(task, "number_to_words") == [Stated("number_to_words(0)", "'zero'"),
                                                         Stated("number_to_words(7)", "'seven'"),
                                                         Stated("number_to_words(42)", "'forty-two'")]
    task = "Add to_base(n, base) to bases.py: to_base(255, 16) is 'ff'; to_base(5, 1) raises ValueError."
    assert request_examples(task, "to_base") == [Stated("to_base(255, 16)", "'ff'"),
                                                 Stated("to_base(5, 1)", raises="ValueError")]


def test_what_is_not_a_stated_example() -> None:
    # Bare literals count only for a one-parameter function (a tuple only in parentheses); an operator before the
    # literal, a non-literal argument or an exception that is not a built-in state nothing.
    assert request_examples("Add to_base(n, base) to bases.py: 0 is '0' in every base.", "to_base") == []
    assert request_examples("Add size(n) to sizes.py: 1024 ** 5 is '1024.0 TB'.", "size") == []
    assert request_examples("Add total(t) to p.py: (1, 2) gives 3.", "total") == [Stated("total((1, 2))", "3")]
    hostile = "Add f(x) to m.py: f(__import__('os').system('touch /tmp/x')) gives 1; f(1) raises Boom."
    assert request_examples(hostile, "f") == []
    assert request_examples("Add f(x) to m.py: an empty list gives [].", "f") == []


def test_inputs_stay_unchanged_only_when_a_sentence_says_so_of_the_inputs() -> None:
    assert inputs_stay_unchanged(TASK, "interleave")
    assert inputs_stay_unchanged("Add rot(items, k) to r.py; the list items itself is left unchanged.", "rot")
    assert not inputs_stay_unchanged("Add mask(text, n) to m.py: a short text comes back unchanged.", "mask")
    assert not inputs_stay_unchanged("Add sort_by(rows) to s.py: equal keys keep their order.", "sort_by")


def test_the_examples_test_checks_values_raises_and_unchanged_arguments() -> None:
    text = examples_test("pkg.merging", "interleave",
                         [Stated("interleave([1], ['x'])", "[1, 'x']"), Stated("interleave(1, 2)", raises="TypeError")],
                         unchanged=True)
    assert "from pkg.merging import interleave\n" in text and "    assert interleave([1], ['x']) == [1, 'x']\n" in text
    assert "    with pytest.raises(TypeError):\n        interleave(1, 2)\n" in text
    assert "    arguments = ([1], ['x'],)\n" in text and text.count("arguments = (") == 1  # ints can't change
    assert "interleave changed the arguments it was called with" in text
    compile(text, "test.py", "exec")


def _feature(repo: Path, **models: ScriptedModel):
    return start_run(RunOptions(workflow="feature", repo=repo, task=TASK, model_overrides=bind(**models),
                                approve="auto"))


def test_a_build_that_empties_its_inputs_fails_the_stated_test_and_the_next_round_ends_done(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"merging.py": MERGING, "conftest.py": ""})
    tester = ScriptedModel({"tester": [{"text": TESTER}]}, name="t")
    builder = ScriptedModel({"builder": [{"text": POPS}, {"text": RIGHT}]}, name="b")
    outcome = _feature(repo, tester=tester, builder=builder)
    assert outcome.exit_code == 0, outcome.message
    assert len(tester.calls) == 1 and not builder.remaining()
    (stated,) = [e for e in events(repo, outcome.run_id) if e["kind"] == "tests_from_task"]
    assert stated["step"] == "small_tests.examples" and "the arguments stay unchanged" in stated["data"]["asserts"]
    path = stated["data"]["path"]
    assert path == "tests/test_interleave_task_examples.py"
    steps = [p["step"] for p in outcome.phases]
    assert steps[:4] == ["size", "small_tests.examples", "small_tests", "small_red"]
    quality = [p for p in outcome.phases if p["step"] == "small_quality"]
    assert quality[0]["verdict"] == "fail" and "leaves_its_arguments_unchanged" in quality[0]["reason"]
    assert quality[-1]["verdict"] == "pass"
    files = subprocess.run(["git", "ls-tree", "-r", "--name-only", outcome.branch, "tests"], cwd=repo,
                           capture_output=True, text=True, check=True).stdout.split()
    assert sorted(files) == ["tests/test_interleave.py", path]


def test_a_request_stating_no_example_writes_no_stated_test(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"merging.py": MERGING, "conftest.py": ""})
    tester = ScriptedModel({"tester": [{"text": TESTER}]}, name="t")
    builder = ScriptedModel({"builder": [{"text": RIGHT}]}, name="b")
    outcome = start_run(RunOptions(workflow="feature", repo=repo, model_overrides=bind(tester=tester, builder=builder),
                                   task="Add interleave(a, b) to merging.py: alternate the items of a and b.",
                                   approve="auto"))
    assert outcome.exit_code == 0, outcome.message
    assert not [e for e in events(repo, outcome.run_id) if e["kind"] == "tests_from_task"]
    assert [p["step"] for p in outcome.phases][:2] == ["size", "small_tests"]


def test_a_tests_folder_that_links_out_of_the_repo_gets_no_stated_test(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = make_repo(tmp_path / "app", {"merging.py": MERGING, "conftest.py": ""})
    (repo / "tests").symlink_to(outside)
    subprocess.run(["git", "add", "tests"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "link"], cwd=repo, check=True)
    tester = ScriptedModel({"tester": [{"text": TESTER}] * 20}, name="t")
    builder = ScriptedModel({"builder": [{"text": RIGHT}]}, name="b")
    outcome = _feature(repo, tester=tester, builder=builder)
    assert list(outside.iterdir()) == []
    assert outcome.exit_code == 3 and "small_red" in outcome.message  # the tester's writes are refused too
    kinds = [e["kind"] for e in events(repo, outcome.run_id)]
    assert "tests_from_task_refused" in kinds and "tests_from_task" not in kinds
