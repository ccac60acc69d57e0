"""bench/bench_tasks.py with scripted models: hidden tests reach only the score; a replayed policy equals its live run."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from bench.tasks import figures as fig
from bench.tasks.policies import policies
from bench.tasks.problems import Problem, examples, score_source, stub, task_text, visible_tests
from bench.tasks.replay import AttemptStore, ReplayingComplete, live_complete
from bench.tasks.runner import run_policy
from orchestrator.models.providers.scripted import FunctionModel, register_scripted

CANARY = "CANARY-7f3a9c-hidden"
LADDER = ["function/weak", "function/strong"]


def problem(name: str, body_ok: str, visible: str, hidden: str) -> Problem:
    """A tiny HumanEval-shaped problem; `hidden` asserts carry the canary in their message."""
    prompt = f'def {name}(x):\n    """{name.replace("_", " ")}.\n    >>> {visible}\n    """\n'
    test = f"def check(candidate):\n    assert {hidden}, '{CANARY}'\n"
    return Problem(f"Tiny/{name}", prompt, name, test, f"    {body_ok}\n")


PROBLEMS = [
    problem("add_one", "return x + 1", "add_one(1)\n    2", "candidate(5) == 6"),
    # The weak model's x + 2 passes the visible example and fails the hidden test: a weak grader.
    problem("double", "return x * 2", "double(2)\n    4", "candidate(5) == 10"),
    # The weak model gets this right only once a gate report tells it what failed.
    problem("negate", "return -x", "negate(1)\n    -1", "candidate(7) == -7"),
]
WEAK_BODIES = {"add_one": "return x + 1", "double": "return x + 2", "negate": "return x"}


def writer(strong: bool):
    """A deterministic fake builder: it writes the function named in the task, right or (weak) as above."""
    def reply(messages: list[dict], tools: list, persona: str) -> dict:
        text = "\n".join(str(m.get("content") or "") for m in messages)
        name = re.search(r"Implement the function (\w+)", text).group(1)
        body = next(p.reference.strip() for p in PROBLEMS if p.entry_point == name)
        if not strong and not ("FAILED" in text.upper() and name == "negate"):
            body = WEAK_BODIES[name]
        return {"tool": "append_file", "arguments": {"path": "solution.py",
                                                    "content": f"\n\ndef {name}(x):\n    {body}\n"}}
    return reply


@pytest.fixture
def ladder() -> list[FunctionModel]:
    models = [FunctionModel(writer(False), name="weak"), FunctionModel(writer(True), name="strong")]
    for model in models:
        register_scripted(model)
    return models


def run_all(out: Path, names: list[str], store: AttemptStore | None, problems=PROBLEMS) -> dict[str, list[dict]]:
    """Run the named policies on every problem under `out`; records by policy."""
    complete = ReplayingComplete(store, live_complete)
    chosen = [p for p in policies() if p.name in names]
    records: dict[str, list[dict]] = {p.name: [] for p in chosen}
    for item in problems:
        for policy in chosen:
            records[policy.name].append(run_policy(policy, item, out / "split-a", out, LADDER, complete))
    return records


def test_visible_tests_come_from_the_docstring_and_the_hidden_test_scores() -> None:
    item = PROBLEMS[1]
    assert examples(item) == [("double(2)", "4")]
    assert "assert double(2) == 4" in visible_tests(item) and CANARY not in visible_tests(item)
    assert CANARY not in stub(item) + task_text(item)
    assert score_source(item, stub(item).replace("raise NotImplementedError", "return x * 2")) == (True, "")
    passed, why = score_source(item, stub(item).replace("raise NotImplementedError", "return x + 2"))
    assert not passed and CANARY in why  # the score is the one place the hidden test speaks


def test_the_hidden_canary_reaches_the_score_and_nothing_else(tmp_path: Path, ladder: list[FunctionModel]) -> None:
    out = tmp_path / "out"
    records = run_all(out, [p.name for p in policies()], AttemptStore(out / "attempts.sqlite"), PROBLEMS[1:2])
    assert {name: rows[0]["hidden_pass"] for name, rows in records.items()}["single-strong"] is True
    assert CANARY in records["single-weak"][0]["hidden_why"]  # the weak x + 2 passed visible, failed hidden
    assert records["single-weak"][0]["visible"] == ["pass"]
    for model in ladder:  # every request a model got
        assert model.calls and all(CANARY not in json.dumps(call.messages) for call in model.calls)
    for path in out.rglob("*"):  # run logs, checkpoints, attempt store, workflows, worktrees: every byte
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    repo = out / "split-a" / "repo"
    objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repo, capture_output=True)
    assert objects.returncode == 0 and objects.stdout and CANARY.encode() not in objects.stdout  # every branch
    with sqlite3.connect(repo / ".git" / "orchestrator" / "runs.sqlite") as db:
        assert db.execute("select count(*) from calls").fetchone()[0] > 0


def test_a_replayed_policy_gives_the_figures_of_its_live_run(tmp_path: Path, ladder: list[FunctionModel]) -> None:
    names = ["single-weak", "single-strong", "feedback-2", "cascade", "implement"]
    shared = run_all(tmp_path / "shared", names, AttemptStore(tmp_path / "shared" / "attempts.sqlite"))
    assert sum(r["replayed_calls"] for rows in shared.values() for r in rows) > 0  # attempts were shared
    calls_before = sum(len(m.calls) for m in ladder)
    for name in names:
        live = run_all(tmp_path / f"live-{name}", [name], None)[name]
        for replayed, alone in zip(shared[name], live, strict=True):
            assert alone["replayed_calls"] == 0
            same = ("hidden_pass", "visible", "builder")
            assert {k: replayed[k] for k in same} == {k: alone[k] for k in same}, name
            assert [(c["model"], c["prompt_tokens"], c["completion_tokens"]) for c in replayed["calls"]] == \
                   [(c["model"], c["prompt_tokens"], c["completion_tokens"]) for c in alone["calls"]], name
    assert sum(len(m.calls) for m in ladder) > calls_before
    table = fig.by_policy([r for rows in shared.values() for r in rows])
    rows = {f.policy: f for f in fig.figures(table, {p.task_id for p in PROBLEMS}, LADDER, {m: 1.0 for m in LADDER})}
    assert (rows["single-weak"].passed, rows["single-strong"].passed) == (1, 3)
    assert rows["feedback-2"].passed == 2 and rows["cascade"].passed == 2  # double's x + 2 fooled both gates
    assert rows["cascade"].bound == (1.0, pytest.approx(rows["cascade"].bound[1]))
