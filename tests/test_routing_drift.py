"""Drift detection on crafted outcome data, and preference rows built from run-log rows."""

from __future__ import annotations

import json
import random

import pytest

from orchestrator.routing.drift import (
    Baseline,
    baseline_from_rows,
    detect_drift,
    drop_p_value,
    preference_rows_from_calls,
)


def outcomes(model: str, n: int, pass_rate: float, cost: float, seed: int = 0, start: float = 0.0) -> list[dict]:
    """n outcome rows with about the given pass rate (exact count, shuffled) and cost."""
    passes = [True] * round(n * pass_rate) + [False] * (n - round(n * pass_rate))
    random.Random(seed).shuffle(passes)
    return [{"model": model, "passed": p, "cost_usd": cost, "ts": start + i} for i, p in enumerate(passes)]


BASE = {"m": Baseline(pass_rate=0.85, mean_cost_usd=0.010, n=200)}


def test_stable_data_is_not_flagged() -> None:
    report = detect_drift(outcomes("m", 60, 0.83, 0.0105), BASE)
    (model,) = report.models
    assert not model.flagged and model.reason == "stable" and not report.flagged
    assert model.pass_delta == pytest.approx(-0.0167, abs=1e-3)


def test_a_real_pass_rate_drop_is_flagged() -> None:
    report = detect_drift(outcomes("m", 60, 0.60, 0.010), BASE)
    (model,) = report.flagged
    assert model.p_value < 0.001 and "pass rate 0.85 -> 0.60" in model.reason


def test_a_drop_within_noise_is_not_flagged() -> None:
    # 0.85 -> 0.75 on 20 outcomes is past a 5-point threshold but not significant at 5% (p = 0.12).
    report = detect_drift(outcomes("m", 20, 0.75, 0.010), BASE, min_samples=20, max_pass_drop=0.05)
    assert not report.flagged and report.models[0].p_value > 0.05


def test_cost_rise_is_flagged() -> None:
    report = detect_drift(outcomes("m", 40, 0.85, 0.014), BASE)
    (model,) = report.flagged
    assert "cost per call +40%" in model.reason and model.cost_change == pytest.approx(0.4)


def test_too_few_samples_never_flag() -> None:
    report = detect_drift(outcomes("m", 10, 0.0, 1.0), BASE, min_samples=20)
    assert not report.flagged and "too few" in report.models[0].reason


def test_window_keeps_only_the_latest_outcomes() -> None:
    rows = outcomes("m", 100, 0.85, 0.01) + outcomes("m", 40, 0.40, 0.01, start=1000)
    assert detect_drift(rows, BASE, window=40).flagged
    assert not detect_drift(rows, BASE, window=40, max_pass_drop=0.5).flagged


def test_models_missing_either_side_are_reported_unflagged() -> None:
    report = detect_drift(outcomes("new", 30, 0.1, 0.01), {**BASE, "old": {"pass_rate": 0.9, "mean_cost_usd": 0.0}})
    reasons = {m.model: m.reason for m in report.models}
    assert reasons == {"m": "no recent outcomes", "new": "no baseline", "old": "no recent outcomes"}
    assert [r["model"] for r in report.rows()] == ["m", "new", "old"]


def test_baseline_as_plain_dict_without_size_uses_one_sample_test() -> None:
    report = detect_drift(outcomes("m", 50, 0.5, 0.01), {"m": {"pass_rate": 0.9, "mean_cost_usd": 0.01}})
    assert report.flagged


def test_baseline_from_rows() -> None:
    base = baseline_from_rows(outcomes("m", 40, 0.75, 0.02) + outcomes("k", 10, 1.0, 0.0))
    assert base["m"] == Baseline(0.75, pytest.approx(0.02), 40) and base["k"].pass_rate == 1.0


def test_drop_p_value_behaves() -> None:
    assert drop_p_value(0.8, 100, 0.8, 100) == pytest.approx(0.5)
    assert drop_p_value(0.8, 100, 0.5, 100) < 0.001
    assert drop_p_value(0.5, 100, 0.8, 100) > 0.99
    assert 0 < drop_p_value(1.0, 0, 0.9, 50) < 0.05


def test_preference_rows_attribute_work_to_the_next_gate() -> None:
    calls = [
        {
            "run_id": "r1",
            "ts": 1,
            "step": "spec",
            "persona": "spec_writer",
            "model": "strong",
            "cost_usd": 0.05,
            "prompt_tokens": 100,
            "completion_tokens": 50,
        },
        {
            "run_id": "r1",
            "ts": 2,
            "step": "build",
            "persona": "builder",
            "model": "cheap",
            "cost_usd": 0.01,
            "prompt_tokens": 10,
            "completion_tokens": 5,
        },
        {
            "run_id": "r1",
            "ts": 3,
            "step": "build",
            "persona": "builder",
            "model": "cheap",
            "cost_usd": 0.01,
            "prompt_tokens": 10,
            "completion_tokens": 5,
        },
        {"run_id": "r1", "ts": 5, "step": "build", "persona": "builder", "model": "mid", "cost_usd": 0.03},
        {"run_id": "r1", "ts": 7, "step": "review", "persona": "critic", "model": "strong", "cost_usd": 0.04},
    ]
    events = [
        {"run_id": "r1", "ts": 4, "kind": "gate", "step": "quality", "data": json.dumps({"verdict": "fail"})},
        {"run_id": "r1", "ts": 6, "kind": "gate", "step": "quality", "data": {"verdict": "pass"}},
        {"run_id": "r1", "ts": 8, "kind": "gate", "step": "review", "data": {"verdict": "pass"}},
    ]
    rows = preference_rows_from_calls(calls, events)
    summary = [(r["gate"], r["persona"], r["model"], r["passed"], r["calls"], round(r["cost_usd"], 3)) for r in rows]
    assert summary == [
        ("quality", "spec_writer", "strong", False, 1, 0.05),
        ("quality", "builder", "cheap", False, 2, 0.02),
        ("quality", "builder", "mid", True, 1, 0.03),
        # The review gate judges the same build again; the critic's own call is the judging, not the work.
        ("review", "builder", "mid", True, 1, 0.03),
    ]
    assert rows[1]["prompt_tokens"] == 20 and rows[1]["run_id"] == "r1"


def test_preference_rows_keep_runs_apart_and_accept_own_verdicts() -> None:
    calls = [
        {"run_id": "r2", "ts": 1, "step": "build", "persona": "builder", "model": "b", "cost_usd": 0.0},
        {"run_id": "r1", "ts": 1, "step": "build", "persona": "builder", "model": "a", "cost_usd": 0.0},
    ]
    events = [{"run_id": "r1", "ts": 2, "step": "quality", "data": {"verdict": "pass"}}]
    assert [r["model"] for r in preference_rows_from_calls(calls, events)] == ["a"]
    own = preference_rows_from_calls([{"model": "a", "verdict": "pass"}, {"model": "b"}, {"model": "c", "passed": 0}])
    assert [(r["model"], r["passed"]) for r in own] == [("a", True), ("c", False)]


def test_preference_rows_feed_drift_and_baseline() -> None:
    calls = [
        {"run_id": f"r{i}", "ts": 1, "step": "build", "persona": "builder", "model": "m", "cost_usd": 0.01}
        for i in range(30)
    ]
    events = [
        {"run_id": f"r{i}", "ts": 2, "step": "quality", "data": {"verdict": "pass" if i % 3 else "fail"}}
        for i in range(30)
    ]
    rows = preference_rows_from_calls(calls, events)
    assert baseline_from_rows(rows)["m"].pass_rate == pytest.approx(20 / 30)
    assert detect_drift(rows, BASE).flagged
