"""Bandit tests: a seeded simulation finds the better model, and learned state survives a restart."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from test_routing_support import make_registry, request

from orchestrator.routing.bandit import BanditStrategy

ARMS = ["test/mid", "test/notools"]


@pytest.fixture
def registry(tmp_path: Path):
    return make_registry(tmp_path)


def simulate(bandit: BanditStrategy, truth: dict[str, tuple[float, float]], rounds: int, seed: int) -> list[str]:
    """Route `rounds` times, reward each pick from its true pass rate and cost; return the picks."""
    world = random.Random(seed)
    picks = []
    for _ in range(rounds):
        chosen = bandit.route(request(task_type="feature", needs_tools=False), ARMS).chosen
        pass_rate, cost = truth[chosen]
        bandit.update("feature", chosen, world.random() < pass_rate, cost, save=False)
        picks.append(chosen)
    bandit.save()
    return picks


def test_simulation_converges_on_the_more_reliable_model(registry, tmp_path: Path) -> None:
    bandit = BanditStrategy(registry, tmp_path / "bandit.json", cost_weight=0.2, seed=7)
    # mid: 85% pass at 1 cent; notools: 45% pass at 0.2 cents. Net: 0.85 - 0.2 = 0.65 vs 0.45 - 0.04 = 0.41.
    picks = simulate(bandit, {"test/mid": (0.85, 0.01), "test/notools": (0.45, 0.002)}, rounds=300, seed=11)
    assert picks[-100:].count("test/mid") >= 80


def test_cost_penalty_prefers_the_cheap_model_when_quality_is_close(registry, tmp_path: Path) -> None:
    bandit = BanditStrategy(registry, tmp_path / "bandit.json", cost_weight=0.5, seed=3)
    # mid: 75% at 5 cents; notools: 70% at 0.1 cent. Net: 0.75 - 0.5 = 0.25 vs 0.70 - 0.01 = 0.69.
    picks = simulate(bandit, {"test/mid": (0.75, 0.05), "test/notools": (0.70, 0.001)}, rounds=300, seed=5)
    assert picks[-100:].count("test/notools") >= 80


def test_learned_state_survives_a_restart(registry, tmp_path: Path) -> None:
    path = tmp_path / "state" / "bandit.json"
    first = BanditStrategy(registry, path, seed=1)
    simulate(first, {"test/mid": (0.9, 0.01), "test/notools": (0.2, 0.001)}, rounds=120, seed=2)
    second = BanditStrategy(registry, path, seed=99)
    for model in ARMS:
        assert vars(second.arm("feature", model)) == vars(first.arm("feature", model))
    picks = [second.route(request(task_type="feature", needs_tools=False), ARMS).chosen for _ in range(50)]
    assert picks.count("test/mid") >= 45
    assert json.loads(path.read_text())["version"] == 1


def test_posteriors_are_kept_per_task_type(registry, tmp_path: Path) -> None:
    bandit = BanditStrategy(registry, tmp_path / "b.json", seed=1)
    for _ in range(30):
        bandit.update("docs", "test/notools", True, save=False)
        bandit.update("docs", "test/mid", False, save=False)
    assert bandit.arm("docs", "test/notools").mean_pass > 0.9
    assert bandit.arm("feature", "test/notools").pulls == 0
    decision = bandit.route(request(task_type="docs", needs_tools=False), ARMS)
    assert decision.chosen == "test/notools" and decision.features["task"] == "docs"
    assert "bandit: task docs" in decision.reason


def test_learn_replays_logged_rows(registry, tmp_path: Path) -> None:
    bandit = BanditStrategy(registry, tmp_path / "b.json")
    rows = [
        {"model": "test/mid", "passed": True, "cost_usd": 0.02, "task_type": "feature"},
        {"model": "test/mid", "passed": False, "cost_usd": 0.04, "task_type": "feature"},
        {"model": "test/notools", "passed": None},
    ]
    assert bandit.learn(rows) == 2
    arm = BanditStrategy(registry, tmp_path / "b.json").arm("feature", "test/mid")
    assert (arm.alpha, arm.beta, arm.pulls) == (2.0, 2.0, 2) and arm.mean_cost() == pytest.approx(0.03)


def test_bandit_applies_the_capability_filter(registry, tmp_path: Path) -> None:
    bandit = BanditStrategy(registry, tmp_path / "b.json", seed=1)
    decision = bandit.route(request(needs_tools=True), ARMS)
    assert decision.candidates == ["test/mid"]


def test_corrupt_state_starts_fresh(registry, tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"version": 1, "arms": {"feature": {"test/mid": {"bogus": 1}}}}')
    assert BanditStrategy(registry, path).arm("feature", "test/mid").pulls == 0
