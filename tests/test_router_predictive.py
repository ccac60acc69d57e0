"""Predictive router: metrics on hand-computed cases, calibration, JSON round trip, threshold rules and the CLI."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from orchestrator.cli.router import app
from orchestrator.errors import ConfigError
from orchestrator.routing.predictive import metrics
from orchestrator.routing.predictive.eval import evaluate
from orchestrator.routing.predictive.features import CHAR_GROUPS, DENSE_NAMES, extract
from orchestrator.routing.predictive.router import PredictiveRouter, calibrate

HARD = ["integral", "theorem", "eigenvalue", "litigation", "percent", "fraction"]
EASY = ["apple", "colour", "dog", "sunny", "table", "friend"]
FILLER = ["the", "a", "of", "what", "which", "is", "how", "many", "each", "and"]


def synthetic_rows(n: int = 240, seed: int = 0) -> list[dict[str, str]]:
    """Rows whose hard words make the weak model fail while the strong one mostly succeeds."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        hard = i % 3 == 0
        words = rng.choices(FILLER, k=8) + rng.choices(HARD if hard else EASY, k=3)
        rng.shuffle(words)
        source = ["gsm8k", "mmlu/physics", "mmlu/history"][i % 4 % 3]
        weak = int(rng.random() < (0.2 if hard else 0.85))
        strong = int(rng.random() < (0.85 if hard else 0.9))
        prompt = " ".join(words) + "?"
        rows.append({"source": source, "prompt": prompt, "weak_correct": str(weak), "strong_correct": str(strong)})
    return rows


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    """A small synthetic preference set."""
    return synthetic_rows()


@pytest.fixture(scope="module")
def router(rows: list[dict[str, str]]) -> PredictiveRouter:
    """A router calibrated on the synthetic set with the default rule."""
    return calibrate(rows, max_strong_share=0.3)


# Metrics on hand-computed cases: gains in score order are +1, +1, 0, -1 and the total gain is 1.
WEAK, STRONG = [0, 0, 1, 1], [1, 1, 1, 0]


def test_pgr_curve_by_hand():
    share, pgr = metrics.pgr_curve([4, 3, 2, 1], WEAK, STRONG)
    assert share.tolist() == [0, 0.25, 0.5, 0.75, 1]
    assert pgr.tolist() == [0, 1, 2, 2, 1]


def test_apgr_oracle_reversed_and_ties():
    assert metrics.apgr([4, 3, 2, 1], WEAK, STRONG) == pytest.approx(1.375)
    assert metrics.apgr([1, 2, 3, 4], WEAK, STRONG) == pytest.approx(-0.375)
    assert metrics.apgr([0, 0, 0, 0], WEAK, STRONG) == pytest.approx(0.5)


def test_apgr_oracle_near_one_and_random_near_half():
    rng = np.random.default_rng(0)
    weak = rng.integers(0, 2, 4000)
    strong = np.maximum(weak, rng.integers(0, 2, 4000))  # the strong model never loses: oracle caps at 1
    assert metrics.apgr(strong - weak, weak, strong) > 0.7
    assert metrics.oracle_apgr(weak, strong) > 0.7
    assert metrics.apgr(weak - strong, weak, strong) < 0.3
    assert metrics.apgr(rng.random(4000), weak, strong) == pytest.approx(0.5, abs=0.03)


def test_apgr_oracle_close_to_one_when_gains_are_rare():
    weak, strong = [0] + [1] * 99, [1] * 100
    assert metrics.oracle_apgr(weak, strong) == pytest.approx(0.995)


def test_cpt_interpolates_first_crossing():
    assert metrics.cpt([4, 3, 2, 1], WEAK, STRONG, 0.5) == pytest.approx(0.125)
    assert metrics.cpt([4, 3, 2, 1], WEAK, STRONG, 1.0) == pytest.approx(0.25)
    assert metrics.cpt([1, 2, 3, 4], WEAK, STRONG, 0.5) == pytest.approx(0.875)


def test_pgr_undefined_when_models_tie():
    assert math.isnan(metrics.apgr([1, 2], [1, 0], [1, 0]))
    assert math.isnan(metrics.cpt([1, 2], [1, 0], [1, 0], 0.5))


def test_routing_accuracy_and_references():
    # The oracle sends rows 0 and 1 (weak wrong, strong right) to the strong model.
    assert metrics.routing_accuracy([True, True, False, False], WEAK, STRONG) == 1.0
    assert metrics.routing_accuracy([True, False, True, False], WEAK, STRONG) == 0.5
    assert metrics.random_routing_accuracy(0.5, WEAK, STRONG) == 0.5
    assert metrics.quality([True, True, False, False], WEAK, STRONG) == 1.0


def test_features_are_deterministic_and_char_ngrams_only_for_math():
    one, two = extract("Tom has 3 apples.", "gsm8k"), extract("Tom has 3 apples.", "gsm8k")
    assert one == two and len(one.dense) == len(DENSE_NAMES)
    assert "gsm8k" in CHAR_GROUPS and one.char and not extract("Tom has 3 apples.", "mmlu/x").char
    assert one.word["3"] == 1 and one.word["has 3"] == 1


def test_tree_export_matches_sklearn():
    from sklearn.ensemble import GradientBoostingRegressor

    from orchestrator.routing.predictive.trees import TREE_PARAMS, as_float32, fit_trees, predict_trees

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(300, 5)), rng.normal(size=300)
    exported = fit_trees(x, y)
    expected = GradientBoostingRegressor(random_state=0, **TREE_PARAMS).fit(x, y).predict(x[:20])
    got = [predict_trees(exported, as_float32(row.tolist())) for row in x[:20]]
    assert got == pytest.approx(expected.tolist(), abs=1e-9)


def test_calibrated_router_ranks_hard_prompts_higher(router: PredictiveRouter):
    fresh = synthetic_rows(150, seed=3)
    hard = [router.score(r["prompt"], r["source"]) for i, r in enumerate(fresh) if i % 3 == 0]
    easy = [router.score(r["prompt"], r["source"]) for i, r in enumerate(fresh) if i % 3 != 0]
    assert np.mean(hard) > np.mean(easy) + 0.3
    assert np.mean([s >= router.threshold for s in hard]) > 0.6
    assert np.mean([s >= router.threshold for s in easy]) < 0.1


def test_unknown_and_empty_sources_still_score(router: PredictiveRouter):
    assert math.isfinite(router.score("hello there", ""))
    assert math.isfinite(router.score("", "brand/new"))


def test_save_load_round_trip_gives_identical_scores(router: PredictiveRouter, rows, tmp_path: Path):
    path = tmp_path / "router.json"
    router.save(path)
    loaded = PredictiveRouter.load(path)
    pairs = [(r["prompt"], r["source"]) for r in rows[:50]]
    assert loaded.score_many(pairs) == router.score_many(pairs)
    assert loaded.threshold == router.threshold
    assert "pickle" not in path.read_text()[:200] and json.loads(path.read_text())["format"]


@pytest.mark.parametrize("share", [0.1, 0.3, 0.5])
def test_threshold_respects_max_strong_share(rows, share: float):
    fitted = calibrate(rows, max_strong_share=share)
    assert fitted.metadata["inner_oof_strong_share"] <= share + 1e-9
    fresh = synthetic_rows(300, seed=7)
    routed = np.mean([fitted.needs_strong(r["prompt"], r["source"]) for r in fresh])
    assert routed <= share + 0.1


def test_threshold_for_count_handles_ties():
    from orchestrator.routing.predictive.fit import threshold_for_count

    scores = np.asarray([3.0, 2.0, 2.0, 1.0])
    assert (scores >= threshold_for_count(scores, 2, at_least=False)).sum() == 1
    assert (scores >= threshold_for_count(scores, 2, at_least=True)).sum() == 3
    assert (scores >= threshold_for_count(scores, 0, at_least=False)).sum() == 0


def test_target_pgr_rule_and_conflicting_options(rows):
    fitted = calibrate(rows, target_pgr=0.8)
    assert fitted.metadata["threshold_rule"] == {"target_pgr": 0.8}
    with pytest.raises(ConfigError, match="either"):
        calibrate(rows, max_strong_share=0.3, target_pgr=0.8)
    with pytest.raises(ConfigError, match="target-pgr"):
        calibrate(rows, target_pgr=1.5)


def test_bad_labels_name_row_and_column(rows):
    bad = [dict(r) for r in rows[:10]]
    bad[3]["strong_correct"] = "maybe"
    with pytest.raises(ConfigError, match=r"row 4: strong_correct: expected 0 or 1, got 'maybe'"):
        calibrate(bad)


def test_load_errors_are_config_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        PredictiveRouter.load(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(ConfigError, match="not a predictive router"):
        PredictiveRouter.load(tmp_path / "other.json")


def test_evaluate_reports_cross_validated_figures(rows):
    report = evaluate(rows, folds=3, seed=0)
    assert report.overall.n == len(rows) and len(report.scores) == len(rows)
    assert 0.5 < report.overall.apgr < report.overall.oracle_apgr
    assert set(report.groups) == {"gsm8k", "mmlu"} and "mmlu/physics" in report.sources
    assert "APGR" in report.format(per_source=True)


def test_shipped_default_router_loads_and_scores():
    path = Path(__file__).resolve().parents[1] / "orchestrator" / "routing" / "predictive" / "router_default.json"
    router = PredictiveRouter.load(path)
    assert router.metadata["threshold_rule"] == {"max_strong_share": 0.3}
    hard = "A train leaves at 3:15 pm at 60 mph; a second leaves 45 minutes later at 75 mph. When does it catch up?"
    assert math.isfinite(router.score(hard, "gsm8k"))


def _write_csv(path: Path, rows: list[dict[str, str]], fields: list[str]) -> None:
    """Write rows with the csv module (quoting multiline fields)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def test_cli_calibrate_then_score_keeps_order(rows, tmp_path: Path):
    data, model, prompts, out = (tmp_path / n for n in ("data.csv", "router.json", "prompts.csv", "scores.csv"))
    _write_csv(data, rows, ["source", "prompt", "weak_correct", "strong_correct"])
    runner = CliRunner()
    result = runner.invoke(app, ["calibrate", str(data), "--out", str(model), "--max-strong-share", "0.3"])
    assert result.exit_code == 0, result.output
    assert "threshold" in result.output and model.exists()
    inputs = [dict(r, id=str(i)) for i, r in enumerate(rows[:25])]
    inputs[2]["prompt"] = 'a "quoted", multi-line\nprompt with the integral\n\nand more'
    _write_csv(prompts, inputs, ["id", "prompt", "source", "extra"])
    result = runner.invoke(app, ["score", str(model), "--input", str(prompts), "--output", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(newline="") as handle:
        written = list(csv.reader(handle))
    assert written[0] == ["score"] and len(written) == len(inputs) + 1
    expected = PredictiveRouter.load(model).score_many((r["prompt"], r["source"]) for r in inputs)
    assert [float(v[0]) for v in written[1:]] == expected


def test_cli_bad_csv_names_file_and_column(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("source,text\ngsm8k,hello\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["calibrate", str(bad), "--out", str(tmp_path / "r.json")])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    message = str(result.exception)
    assert "bad.csv" in message and "prompt" in message and "weak_correct" in message


def test_cli_help_lists_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert all(name in result.output for name in ("calibrate", "score", "eval"))
