"""The routing policies the bench compares, each a variant of the shipped `implement` workflow plus role bindings.

Every policy runs through `run_workflow`: its own workflow file (written into the bench's output folder), the
real gates (the visible tests), the real routing strategies and the run log. Only the builder's binding and the
workflow around it differ.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orchestrator.resources import shipped_dir

BOTH = "bench_ladder"
"""A profile holding every ladder model, cheapest first: the bandit's and the random policy's choice set."""
NEVER_GATE = {"kind": "quality", "commands": [{"name": "never", "run": ["python", "-c", "raise SystemExit(1)"]}]}
"""A gate that always fails: the best-of samples policy uses it to sample every candidate (for the oracle bound)."""


@dataclass(frozen=True)
class Policy:
    """A named policy: how it changes the implement workflow and whom it binds the builder to."""

    name: str
    describe: str
    workflow: Callable[[dict[str, Any], list[str]], dict[str, Any]]
    builder: Callable[[str, list[str], random.Random], str]
    phase: int = 1
    """1: runs problem by problem; 2: needs the routers calibrated on the other split first (predictive)."""
    samples_of: tuple[str, int] | None = None
    """(a best-of policy, its n) when this policy only draws that policy's samples for the oracle bound: the bench
    reuses the best-of record when it already decides the bound (bench/tasks/runner.py's `derived_samples`)."""
    full_only: bool = False
    """Left out of the quick mode unless named in --policies: a policy the issue's comparison does not need whose
    own live calls would push the quick mode past its 30 minutes."""


def implement_workflow() -> dict[str, Any]:
    """The shipped implement workflow, as a dict."""
    return yaml.safe_load((shipped_dir("workflows") / "implement.yaml").read_text())


def _steps(flow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in flow["steps"]}


def single_shot(flow: dict[str, Any], rungs: list[str]) -> dict[str, Any]:
    """One build, one gate verdict, no feedback: the gate's failure ends the run."""
    flow = copy.deepcopy(flow)
    flow["steps"] = [s for s in flow["steps"] if s["id"] != "escalate"]
    quality = _steps(flow)["quality"]
    quality.update(on_fail="stop")
    quality.pop("max_rounds", None), quality.pop("on_exhausted", None)
    return flow


def feedback(rounds: int) -> Callable[[dict[str, Any], list[str]], dict[str, Any]]:
    """Visible-test failures go back to the same builder, up to `rounds` times, then the run stops."""
    def make(flow: dict[str, Any], rungs: list[str]) -> dict[str, Any]:
        flow = single_shot(flow, rungs)
        _steps(flow)["quality"].update(on_fail="build", max_rounds=rounds, on_exhausted="stop")
        return flow
    return make


def cascade(flow: dict[str, Any], rungs: list[str]) -> dict[str, Any]:
    """Cascade routing from the bottom rung; each failed gate climbs one rung (no fix round on the same rung)."""
    flow = single_shot(flow, rungs)
    # The failed gate itself climbs a cascading persona, so the work goes straight back to the build step.
    _steps(flow)["quality"].update(on_fail="build", max_rounds=len(rungs) - 1, on_exhausted="stop")
    flow["routing"] = {"personas": {"builder": {"strategy": "cascade", "cascade": {"start": rungs[0]}}}}
    return flow


def best_of(n: int, samples: bool = False) -> Callable[[dict[str, Any], list[str]], dict[str, Any]]:
    """n candidates sampled at 0.7, the first the visible gate passes wins; `samples`: a gate that passes none."""
    def make(flow: dict[str, Any], rungs: list[str]) -> dict[str, Any]:
        flow = single_shot(flow, rungs)
        _steps(flow)["build"]["best_of"] = {"n": n, "temperature": 0.7}
        if samples:
            flow["gates"]["tests"] = NEVER_GATE
        return flow
    return make


def bandit(flow: dict[str, Any], rungs: list[str]) -> dict[str, Any]:
    """Thompson sampling over the ladder's models, one build per problem, learning from each visible verdict."""
    flow = single_shot(flow, rungs)
    flow["routing"] = {"personas": {"builder": {"strategy": "bandit", "bandit": {"state": "bench-bandit", "seed": 0}}}}
    return flow


def predictive(router: Path) -> Callable[[dict[str, Any], list[str]], dict[str, Any]]:
    """The calibrated router picks the start rung (the strong one for problems it predicts hard), then a cascade."""
    def make(flow: dict[str, Any], rungs: list[str]) -> dict[str, Any]:
        flow = cascade(flow, rungs)
        options = {"router": str(router), "weak_profile": rungs[0], "strong_profile": rungs[-1]}
        flow["routing"] = {"personas": {"builder": {"strategy": "predictive", "predictive": options}}}
        return flow
    return make


def rung(index: int) -> Callable[[str, list[str], random.Random], str]:
    """Bind the builder to one ladder rung."""
    return lambda problem, rungs, rng: rungs[index]


def _random_rung(problem: str, rungs: list[str], rng: random.Random) -> str:
    """A rung drawn uniformly, seeded by the problem, so a resumed bench draws the same."""
    return random.Random(f"{problem}").choice(rungs)


def policies(rounds: int = 2) -> list[Policy]:
    """Every policy of the bench, in the order they run on a problem (the shared attempts come first)."""
    return [
        Policy("single-weak", "one build on the bottom rung, no feedback", single_shot, rung(0)),
        Policy("single-strong", "one build on the top rung, no feedback", single_shot, rung(-1)),
        Policy(f"feedback-{rounds}", f"bottom rung, visible-test failures back to it up to {rounds} times",
               feedback(rounds), rung(0)),
        Policy("cascade", "bottom rung first, a failed visible gate climbs one rung", cascade, rung(0)),
        Policy("best-of-3", "3 samples at 0.7 on the bottom rung, the first the visible gate passes",
               best_of(3), rung(0)),
        Policy("best-of-3-samples", "the same 3 samples, all drawn (for the oracle bound only)",
               best_of(3, samples=True), rung(0), samples_of=("best-of-3", 3)),
        Policy("bandit", "Thompson sampling over the ladder, online over the problem order", bandit,
               lambda problem, rungs, rng: BOTH),
        Policy("random", "a rung drawn at random for the attempt", single_shot, _random_rung),
        # Its fix rounds are feedback-2's, replayed; its climb and the top rung's fix rounds (24 live 1.5B calls
        # over the quick 30, about 9 minutes of model time on 2 cores) are its own.
        Policy("implement", "the shipped implement workflow: fix rounds, then climb, then fix rounds", lambda f, r: f,
               rung(0), full_only=True),
    ]


def predictive_policy(router: Path, name: str = "predictive") -> Policy:
    """The predictive policy with one calibrated router file."""
    return Policy(name, "calibrated router picks the start rung, then the cascade", predictive(router), rung(0),
                  phase=2)
