"""Learned routing state comes from the run log's rows, so runs that overlap add up instead of overwriting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.models.registry import load_registry
from orchestrator.routing.spec import RoutingSpec
from orchestrator.run.routing import RunRouter
from orchestrator.store.log import RunLog

BANDIT = RoutingSpec(strategy="bandit")


class _Decision:
    """A bandit decision as the router logs it."""

    def __init__(self, chosen: str):
        self.chosen = chosen

    def as_log(self) -> dict[str, Any]:
        return {"strategy": "bandit", "candidates": [self.chosen], "chosen": self.chosen, "reason": "test",
                "latency_us": 1.0, "features": {"task_type": "feature"}, "prompt_hash": "h"}


def _router(log: RunLog, tmp_path: Path, run_id: str) -> RunRouter:
    return RunRouter(registry=load_registry(), spec=None, state_dir=tmp_path / "routing", runlog=log, run_id=run_id)


def test_two_overlapping_runs_both_teach_the_bandit(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    logs = [RunLog(path), RunLog(path)]  # two runs of one repo, at the same time (two connections)
    routers = [_router(log, tmp_path, f"run-{k}") for k, log in enumerate(logs)]
    bandits = [router.strategy(BANDIT) for router in routers]  # both built before either learned anything
    for k, (log, router) in enumerate(zip(logs, routers, strict=True)):
        log.decision(f"run-{k}", "build", "builder", _Decision("test/model"))
        router.settle("review", "pass" if k == 0 else "fail")
    assert [b.arm("feature", "test/model").pulls for b in bandits] == [1, 1]  # each saw its own outcome live
    later = _router(logs[0], tmp_path, "run-2").strategy(BANDIT)
    arm = later.arm("feature", "test/model")
    # A state file rewritten whole by each run would hold only the last writer's outcome.
    assert (arm.pulls, arm.alpha, arm.beta) == (2, 2.0, 2.0)
    assert not (tmp_path / "routing").exists()  # no state file at all
    for log in logs:
        log.close()


def test_latency_averages_are_replayed_from_the_logged_calls(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "runs.sqlite")

    class Reply:
        model, prompt_tokens, completion_tokens, cost_usd = "local/smollm2", 1, 1, 0.0
        provider_model_version, sampling = "", {}

    for run_id, seconds in (("a", 10.0), ("b", 20.0)):
        reply = Reply()
        reply.latency_s = seconds
        log.call(run_id, "build", "builder", reply)
    assert _router(log, tmp_path, "c").latency.get("local/smollm2") == 0.3 * 20.0 + 0.7 * 10.0
    log.close()
