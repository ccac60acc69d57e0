"""bench_tasks with scripted models: hidden tests reach only the score; a replayed policy equals its live run."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml

from bench.tasks import figures as fig
from bench.tasks.policies import implement_workflow, policies, predictive_policy
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
# More of the same kind for the router fit: the weak model gets the even ones right, the odd ones wrong.
SCALES = [problem(f"scale_by_{k}", f"return x * {k}", f"scale_by_{k}(2)\n    {2 * k}", f"candidate(3) == {3 * k}")
          for k in range(3, 9)]
WEAK_BODIES |= {p.entry_point: p.reference.strip() if k % 2 == 0 else "return x" for k, p in enumerate(SCALES)}


def writer(strong: bool):
    """A deterministic fake builder: it writes the function named in the task, right or (weak) as above."""
    def reply(messages: list[dict], tools: list, persona: str) -> dict:
        text = "\n".join(str(m.get("content") or "") for m in messages)
        name = re.search(r"Add the function (\w+)", text).group(1)
        item = next(p for p in PROBLEMS + SCALES if p.entry_point == name)
        body = item.reference.strip()
        if "Last gate report" in text:  # a fix round, or the strong rung after the weak one: fix the weak's line
            body = body if strong or name == "negate" else WEAK_BODIES[name]
        else:
            body = body if strong else WEAK_BODIES[name]
        # The implement workflow's builder answers with a code block (edit_format: code), merged into solution.py.
        return {"text": f"Here it is:\n```python\n{item.prompt}    {body}\n```\n"}
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
    assert "assert solution.double(2) == 4" in visible_tests(item) and CANARY not in visible_tests(item)
    assert CANARY not in stub(item) + task_text(item) and "def double" not in stub(item)
    assert score_source(item, stub(item) + item.prompt + "    return x * 2\n") == (True, "")
    passed, why = score_source(item, stub(item) + item.prompt + "    return x + 2\n")
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
    names = ["single-weak", "single-strong", "feedback-2", "cascade"]
    shared = run_all(tmp_path / "shared", names, AttemptStore(tmp_path / "shared" / "attempts.sqlite"), PROBLEMS[1:])
    assert sum(r["replayed_calls"] for rows in shared.values() for r in rows) > 0  # attempts were shared
    calls_before = sum(len(m.calls) for m in ladder)
    for name in names:
        live = run_all(tmp_path / f"live-{name}", [name], None, PROBLEMS[1:])[name]
        for replayed, alone in zip(shared[name], live, strict=True):
            assert alone["replayed_calls"] == 0
            same = ("hidden_pass", "visible", "builder")
            assert {k: replayed[k] for k in same} == {k: alone[k] for k in same}, name
            assert [(c["model"], c["prompt_tokens"], c["completion_tokens"]) for c in replayed["calls"]] == \
                   [(c["model"], c["prompt_tokens"], c["completion_tokens"]) for c in alone["calls"]], name
    assert sum(len(m.calls) for m in ladder) > calls_before
    table = fig.by_policy([r for rows in shared.values() for r in rows])
    ran = {p.task_id for p in PROBLEMS[1:]}
    rows = {f.policy: f for f in fig.figures(table, ran, LADDER, {m: 1.0 for m in LADDER})}
    assert (rows["single-weak"].passed, rows["single-strong"].passed) == (0, 2)
    assert rows["feedback-2"].passed == 1 and rows["cascade"].passed == 1  # double's x + 2 fooled both gates
    assert rows["cascade"].rungs == {0: 2, 1: 1} and rows["cascade"].bound[0] == 1.0  # an oracle gate climbs on double


def test_a_fix_round_one_policy_asked_for_replays_to_another(tmp_path: Path, ladder: list[FunctionModel]) -> None:
    out = tmp_path / "out"
    records = run_all(out, ["feedback-2", "implement"], AttemptStore(out / "attempts.sqlite"), PROBLEMS[2:3])
    feedback, implement = records["feedback-2"][0], records["implement"][0]
    assert feedback["visible"] == implement["visible"] == ["fail", "pass"]  # negate: fixed in the first round
    # The fix round's request quotes the gate report (`<function negate>`, no per-process address): answered once.
    assert (feedback["replayed_calls"], implement["replayed_calls"], len(implement["calls"])) == (0, 2, 2)


def test_the_bench_gates_load_no_installed_pytest_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.bench_tasks import _environment
    from orchestrator.gates.pytest_run import run_pytest

    monkeypatch.setenv("PATH", os.environ["PATH"])  # _environment changes these three: put them back afterwards
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    _environment()
    (tmp_path / "test_x.py").write_text("def test_x():\n    assert True\n")
    run = run_pytest(["python", "-m", "pytest", "-q"], tmp_path, allowlist={"python"}, timeout_s=120)
    installed = {e.value.split(":")[0] for e in entry_points(group="pytest11")}
    assert "langsmith.pytest_plugin" in installed  # langgraph's langsmith ships one: the probe would load it
    assert run.reported and run.outcomes == {"test_x.py::test_x": "passed"} and not installed & set(run.plugins)


def test_the_bench_run_log_calibrates_a_predictive_router_that_climbs(tmp_path: Path, ladder: list) -> None:
    from orchestrator.cli import main

    out = tmp_path / "out"
    run_all(out, ["single-weak", "single-strong"], None, PROBLEMS + SCALES)
    run_all(out, ["best-of-3-samples"], None, PROBLEMS[:1])
    repo = out / "split-a" / "repo"
    with sqlite3.connect(repo / ".git" / "orchestrator" / "runs.sqlite") as db:
        seeds = [json.loads(s)["seed"] for (s,) in db.execute("select sampling from calls where step = 'build' and "
                                                              "sampling like '%\"seed\"%' order by id")]
    assert set(seeds) == {1, 2, 3}  # each best-of candidate samples with its own seed
    cal, router = tmp_path / "cal.json", tmp_path / "router.json"
    assert main(["router", "calibrate", "--from-runs", "--repo", str(repo), "--out", str(cal),
                 "--router", str(router)]) == 0
    assert json.loads(router.read_text())["format"] == "orchestrator.predictive-router"
    assert main(["router", "drift", "--baseline", str(cal), "--repo", str(repo)]) == 0
    policy = predictive_policy(router)
    flow = policy.workflow(implement_workflow(), ["high_throughput", "high_reasoning"])
    flow["routing"]["personas"]["builder"]["predictive"]["threshold"] = 1e9  # everything looks easy: start weak
    path = tmp_path / "predictive.yaml"
    path.write_text(yaml.safe_dump(flow))
    record = run_policy(policy, PROBLEMS[2], out / "split-a", out, LADDER, ReplayingComplete(None, live_complete),
                        path)
    log = sqlite3.connect(repo / ".git" / "orchestrator" / "runs.sqlite")
    rows = log.execute("select strategy, chosen, features from decisions where run_id = ? order by id",
                       (record["run_id"],)).fetchall()
    # negate: the weak rung fails the visible test, and the predictive persona climbs from its pick
    assert [(r[0], r[1]) for r in rows] == [("predictive", "function/weak"), ("predictive", "function/strong")]
    assert "intent" in json.loads(rows[0][2]) and "score" in json.loads(rows[0][2])
    assert record["visible"] == ["fail", "pass"] and record["hidden_pass"]


def test_all_green_makes_the_quality_gate_require_the_tests_failing_at_the_base(tmp_path: Path, ladder: list) -> None:
    single = next(p for p in policies() if p.name == "single-weak")
    flow = single.workflow(implement_workflow(), ["high_throughput", "high_reasoning"])
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text(yaml.safe_dump({**flow, "gates": {"tests": {**flow["gates"]["tests"], "all_green": False}}}))
    complete = ReplayingComplete(None, live_complete)
    strict = run_policy(single, PROBLEMS[2], tmp_path / "split-a", tmp_path, LADDER, complete)
    loose = run_policy(single, PROBLEMS[2], tmp_path / "split-a", tmp_path, LADDER, complete, lenient)
    # negate's `return x` leaves the visible test failing, as it failed at the base: only all_green catches it
    assert (strict["visible"], loose["visible"]) == (["fail"], ["pass"])
    assert not strict["hidden_pass"] and not loose["hidden_pass"]


def _oracle(samples: list[dict]) -> tuple[bool, int]:
    """What the oracle bound reads of a problem's samples: a pass, and the tokens drawn up to it."""
    tokens = 0
    for sample in samples:
        tokens += sample["tokens"] or 0
        if sample["hidden_pass"]:
            return True, tokens
    return False, tokens


def test_the_oracle_samples_come_from_the_best_of_run_only_when_it_already_decides_the_bound(
        tmp_path: Path, ladder: list) -> None:
    from bench.tasks.runner import derived_samples

    records = run_all(tmp_path / "out", ["best-of-3", "best-of-3-samples"], None)
    samples_policy = next(p for p in policies() if p.name == "best-of-3-samples")
    derived = {r["problem"]: derived_samples(samples_policy, r) for r in records["best-of-3"]}
    # add_one: the first sample passes the hidden test; negate: no sample passes the visible one, all 3 drawn;
    # double: a visible pass that fails the hidden test, so the samples after it must be drawn.
    assert {name for name, d in derived.items() if d is not None} == {"Tiny/add_one", "Tiny/negate"}
    for drawn in records["best-of-3-samples"]:
        made = derived[drawn["problem"]]
        if made is not None:
            assert made["policy"] == "best-of-3-samples" and made["derived_from"] == "best-of-3"
            assert _oracle(made["samples"]) == _oracle(drawn["samples"])
    assert derived_samples(samples_policy, None) is None


def test_the_quick_mode_leaves_out_implement_unless_named() -> None:
    from bench.bench_tasks import _parser, selected_policies

    def names(*argv: str) -> list[str]:
        return [p.name for p in selected_policies(_parser().parse_args(list(argv)))]

    assert "implement" not in names() and "cascade" in names() and "best-of-3-samples" in names()
    assert "implement" in names("--full")
    assert names("--policies", "implement,cascade") == ["cascade", "implement"]


def test_the_feature_policy_runs_once_in_the_parent_not_in_each_splits_child(tmp_path: Path, monkeypatch) -> None:
    import bench.bench_tasks as bt

    ran: list[tuple[str, str]] = []
    monkeypatch.setattr(bt, "_run", lambda policy, problem, *rest: ran.append((policy.name, problem.task_id)))
    splits = {"a": PROBLEMS[0::2], "b": PROBLEMS[1::2]}
    for argv in (["--policies", "feature", "--feature", "2", "--split", "a"],
                 ["--policies", "feature", "--feature", "2"]):
        bt.run_all(splits, tmp_path, LADDER, bt._parser().parse_args(argv), tmp_path / "results.jsonl")
    assert ran == [("feature", "Tiny/add_one"), ("feature", "Tiny/double")]
