"""bench/bench_team.py's task set and scoring, with scripted models: no embedded model, no network."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from orchestrator.models.providers.scripted import ScriptedModel, register_scripted

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import bench_team  # noqa: E402
import team_tasks  # noqa: E402

TASKS = team_tasks.load_tasks()


def _buildable(task: team_tasks.Task) -> bool:
    return not task.sdist or team_tasks._sdist_file(task.sdist, team_tasks.SDIST_CACHE) is not None


def test_the_set_has_eight_fixed_halves_of_both_kinds() -> None:
    assert len(TASKS) >= 92
    for half in ("tune", "held", "fresh", "fresh2", "fresh3", "fresh4", "fresh5", "fresh6"):
        kinds = {t.kind for t in TASKS if t.half == half}
        assert kinds == {"feature", "bugfix"} and sum(t.half == half for t in TASKS) >= 10
    for half in ("fresh", "fresh2", "fresh3", "fresh4", "fresh5", "fresh6"):  # later: 8 features, 4 bugfixes, new names
        tasks = [t for t in TASKS if t.half == half]
        assert [t.kind for t in tasks].count("feature") == 8 and [t.kind for t in tasks].count("bugfix") == 4
        assert not {t.function for t in tasks} & {t.function for t in TASKS if t.half != half}
    assert {t.sdist for t in TASKS if t.sdist} >= {"inflection==0.5.1", "boltons==24.1.0"}
    assert all(t.solution for t in TASKS)


def test_half_picks_one_half_both_the_first_two_or_all_eight() -> None:
    def halves(half: str, ids: str | None = None) -> set[str]:
        return {t.half for t in bench_team.choose(TASKS, half, ids)}

    assert halves("fresh") == {"fresh"} and halves("held") == {"held"}
    assert halves("fresh2") == {"fresh2"} and halves("fresh3") == {"fresh3"} and halves("fresh4") == {"fresh4"}
    assert halves("fresh5") == {"fresh5"} and halves("fresh6") == {"fresh6"}
    assert halves("both") == {"tune", "held"}
    assert halves("all") == {"tune", "held", "fresh", "fresh2", "fresh3", "fresh4", "fresh5", "fresh6"}
    assert [t.id for t in bench_team.choose(TASKS, "all", "to_roman,lcm,mean_bug")] == ["mean_bug", "lcm", "to_roman"]
    assert bench_team.choose(TASKS, "both", "lcm") == []


def test_hidden_tests_fail_on_each_repo_and_pass_on_its_reference_answer() -> None:
    tasks = [t for t in TASKS if _buildable(t)]
    assert len(tasks) >= 92  # the library sdists are fetched at set-up (make setup / bench_team.py --setup)
    assert team_tasks.check_set(tasks) == {t.id: (False, True) for t in tasks}


def test_the_hidden_tests_never_enter_the_repo_the_team_works_in() -> None:
    for task in [t for t in TASKS if not t.sdist][:3]:
        repo = team_tasks.build_repo(task)
        try:
            tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True).stdout.split()
            assert team_tasks.HIDDEN_TEST not in tracked and task.module in tracked
            assert not any(task.hidden.strip() in (repo / p).read_text() for p in tracked)
        finally:
            shutil.rmtree(repo, ignore_errors=True)


def test_a_bare_answer_is_spliced_in_and_scored(tmp_path: Path) -> None:
    task = next(t for t in TASKS if t.id == "subtract_bug")
    right = ScriptedModel({"bare": [f"Here it is:\n```python\n{task.solution}```\n"]}, name="bare-right")
    wrong = ScriptedModel({"bare": ["```python\ndef subtract(a, b):\n    return b - a\n```"]}, name="bare-wrong")
    prose = ScriptedModel({"bare": ["I would subtract b from a."]}, name="bare-prose")
    from orchestrator.models.gateway import complete

    results = [bench_team.bare_shot(task, register_scripted(m), complete) for m in (right, wrong, prose)]
    assert [(r["passed"], r["usable"]) for r in results] == [(True, True), (False, True), (False, False)]
    prompt = right.calls[0].messages[0]["content"]
    assert task.task in prompt and task.signature in prompt and "return b - a" in prompt  # the module's source


def test_splice_replaces_the_function_keeps_the_rest_and_adds_imports() -> None:
    module = ("import os\n\n\ndef keep():\n    return 1\n\n\n@staticmethod\ndef f(x):\n    return x\n\n\n"
              "def tail():\n    return 2\n")
    out = team_tasks.splice(module, "import math\n\ndef f(x):\n    return math.floor(x)\n", "f")
    assert out.startswith("import math\nimport os") and "def keep" in out and "def tail" in out
    assert "@staticmethod" not in out and "return math.floor(x)" in out
    assert team_tasks.splice(module, "def g(x):\n    return x\n", "f") is None
    assert team_tasks.splice(module, "def f(x:\n", "f") is None


def test_the_run_branch_is_scored_in_a_copy(tmp_path: Path) -> None:
    task = next(t for t in TASKS if t.id == "rectangle_area")
    repo = team_tasks.build_repo(task)
    try:
        assert bench_team.score_branch(repo, task) is False  # no run branch: nothing to score
        ident = team_tasks.IDENTITY
        subprocess.run(["git", "checkout", "-qb", "orchestrator/20261207-000000-abcdef"], cwd=repo, check=True)
        (repo / task.module).write_text(team_tasks.splice((repo / task.module).read_text(), task.solution,
                                                          task.function))
        subprocess.run(["git", *ident, "commit", "-qam", "build"], cwd=repo, check=True)
        subprocess.run(["git", "checkout", "-q", "main"], cwd=repo, check=True)
        assert bench_team.score_branch(repo, task) is True
        assert not (repo / team_tasks.HIDDEN_TEST).exists()
    finally:
        shutil.rmtree(repo, ignore_errors=True)


def test_summary_counts_false_done_and_the_stopping_gates() -> None:
    def run(task: str, half: str, done: bool, hidden: bool, stopped: str = "") -> dict:
        return {"id": task, "half": half, "done": done, "hidden_pass": hidden, "seconds": 100.0,
                "tokens": {"builder": 1000, "critic": 500}, "prompt_tokens": 1000, "cached_tokens": 250,
                "stopped_by": stopped}

    team = [run("a", "held", True, True), run("b", "held", True, False), run("c", "held", False, True,
                                                                           "quality: 1 test(s) failing"),
            run("d", "held", False, False, "timeout")]
    bare = [{"model": "local/x", "half": "held", "passed": True, "seconds": 2.0, "tokens": 200},
            {"model": "local/x", "half": "held", "passed": False, "seconds": 4.0, "tokens": 300}]
    figures = bench_team.summarise(team, bare)
    assert figures["bare"]["local/x"] == {"passed": 1, "of": 2, "median_seconds": 3.0, "median_tokens": 250.0}
    t = figures["team"]
    assert (t["done"], t["false_done"], t["hidden_pass"], t["of"]) == (2, 1, 2, 4)
    assert t["cache_share"] == 0.25 and t["stopped_by"] == {"quality": 1, "timeout": 1}
    assert t["median_tokens_per_done_task"] == 1500
    assert bench_team.stopped_by(3, [{"gate": "spec_check", "verdict": "fail", "reason": "no scenarios"},
                                     {"gate": "spec_check", "verdict": "pass"}]) == "spec_check: no scenarios"
    assert bench_team.stopped_by(-1, []) == "timeout" and bench_team.stopped_by(0, []) == ""


def test_each_task_runs_its_kinds_workflow_and_auto_takes_the_lean_one_for_features_once_shipped() -> None:
    feature = next(t for t in TASKS if t.kind == "feature")
    bugfix = next(t for t in TASKS if t.kind == "bugfix")
    assert (bench_team.pick_workflow(feature, None), bench_team.pick_workflow(bugfix, None)) == ("feature", "bugfix")
    assert bench_team.pick_workflow(bugfix, "auto") == "bugfix"
    lean = (bench_team.ROOT / "workflows" / "implement.yaml").is_file()
    assert bench_team.pick_workflow(feature, "auto") == ("implement" if lean else "feature")
    assert bench_team.pick_workflow(bugfix, "feature") == "feature"


def test_bare_shots_are_reused_from_an_earlier_runs_printed_output_or_its_json_file(tmp_path: Path) -> None:
    chosen = [t for t in TASKS if t.half == "fresh3"][:1]
    shot = {"id": chosen[0].id, "half": "fresh3", "kind": chosen[0].kind, "model": "local/m", "passed": True}
    other = {**shot, "id": "not_chosen"}
    printed, saved = tmp_path / "run.log", tmp_path / "run.json"
    printed.write_text(json.dumps({"tasks": 1}) + "\n" + json.dumps(shot) + "\n" + json.dumps(other) + "\n== x\n")
    saved.write_text(json.dumps({"bare": [shot, other], "team": []}, indent=2))
    assert bench_team.earlier_bare(printed, chosen) == [shot] == bench_team.earlier_bare(saved, chosen)
