"""The price of routing: a run's calls as routed beside the same calls on the top rung, in dollars and compute."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_repo

from orchestrator.models.registry import load_registry
from orchestrator.run.price import routing_price, si, usd


def call(model: str, prompt: int, completion: int, cost: float = 0.0) -> dict:
    return {"model": model, "prompt_tokens": prompt, "completion_tokens": completion, "cost_usd": cost}


def test_local_models_carry_their_parameter_counts() -> None:
    registry = load_registry()
    assert [registry.model_info(m).parameters for m in
            ("local/smollm2", "local/qwen2.5-coder-0.5b", "local/qwen2.5-coder-1.5b")] == [
        135_000_000, 494_000_000, 1_540_000_000]
    assert registry.model_info("openai/gpt-4o-mini").parameters is None


def test_offline_run_gets_a_compute_comparison_where_every_price_is_zero() -> None:
    calls = [call("local/qwen2.5-coder-0.5b", 1000, 200), call("local/smollm2", 300, 10)]
    price = routing_price(calls, load_registry())
    assert (price.top_profile, price.top_model) == ("high_reasoning", "local/qwen2.5-coder-1.5b")
    assert price.run_usd == 0 and price.top_usd == 0
    assert price.run_compute == 1200 * 494_000_000 + 310 * 135_000_000
    assert price.top_compute == 1510 * 1_540_000_000
    # $0 beside $0 says nothing: only the compute comparison is shown.
    assert price.lines() == ["Compute (tokens x parameters): this run 635 G, all on the top rung 2.33 T."]


def test_priced_top_rung_prices_the_same_tokens(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {".orchestrator/models.yaml": (
        "models:\n  openai/gpt-4o:\n    input_cost_per_token: 0.0000025\n    output_cost_per_token: 0.00001\n"
        "profiles:\n  premium: [openai/gpt-4o]\n"
        "ladder: [cheapest, high_throughput, high_reasoning, premium]\n")})
    calls = [call("local/qwen2.5-coder-0.5b", 10_000, 2_000), call("openai/gpt-4o-mini", 30_000, 10_000, 0.0108)]
    price = routing_price(calls, load_registry(repo))
    assert price.top_usd == pytest.approx(40_000 * 0.0000025 + 12_000 * 0.00001)
    assert price.lines()[0] == "This run: $0.01. All on the top rung (premium: openai/gpt-4o): $0.22."
    # Compute covers only the calls whose model has a parameter count, on both sides, and says so.
    assert price.run_compute == 12_000 * 494_000_000 and price.unsized_models == ("openai/gpt-4o-mini",)
    assert price.top_compute is None
    assert price.lines()[1] == ("Compute (tokens x parameters): unknown; no parameter count for openai/gpt-4o-mini, "
                                "openai/gpt-4o (set `parameters:` in models.yaml).")


def test_unsized_calls_are_left_out_of_both_compute_figures() -> None:
    calls = [call("local/qwen2.5-coder-0.5b", 100, 0), call("scripted/team", 5000, 5000)]
    price = routing_price(calls, load_registry())
    assert (price.run_compute, price.top_compute) == (100 * 494_000_000, 100 * 1_540_000_000)
    assert price.lines()[1] == "Compute leaves out the calls on scripted/team (no parameter count)."


def test_unpriced_models_and_a_missing_ladder_are_said_plainly(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {".orchestrator/models.yaml": "ladder: []\n"})
    price = routing_price([call("local/smollm2", 10, 10)], load_registry(repo))
    assert price.top_model is None
    assert price.lines() == []  # $0 and no ladder: nothing worth a line
    assert routing_price([call("local/smollm2", 10, 10, 0.5)], load_registry(repo)).lines() == [
        "This run: $0.50. No escalation ladder, so no top rung to compare with."]
    unpriced = routing_price([call("openai/gpt-4o-2099-preview", 10, 10)], load_registry())
    assert "No price known for openai/gpt-4o-2099-preview: those calls count $0." in unpriced.lines()


def test_money_and_counts_read_as_people_write_them() -> None:
    assert [usd(0), usd(0.00001), usd(0.0031), usd(0.84), usd(6.1)] == ["$0", "<$0.0001", "$0.0031", "$0.84",
                                                                      "$6.10"]
    assert [si(950), si(4.6e12), si(2.5e6)] == ["950", "4.6 T", "2.5 M"]
