"""Run routing unit tests: prefix-cache affinity between phases of one run."""

from __future__ import annotations

from pathlib import Path

import yaml

from orchestrator.models.registry import load_registry
from orchestrator.run.routing import RunRouter
from orchestrator.workflow.spec import WorkflowSpec

CHEAP, STRONG = "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5"


class _Log:
    def decision(self, *args: object) -> int:
        return 1


def router(tmp_path: Path) -> tuple[RunRouter, object]:
    (tmp_path / ".orchestrator").mkdir()
    (tmp_path / ".orchestrator" / "models.yaml").write_text(yaml.safe_dump({
        "profiles": {"high_throughput": [CHEAP, STRONG]}, "roles": {"builder": "high_throughput"}}))
    spec = WorkflowSpec.model_validate({
        "name": "w", "steps": [{"id": "build", "persona": "builder"}],
        "routing": {"personas": {"builder": {"strategy": "rules", "rules": [{"use_model": STRONG}]}}}})
    registry = load_registry(tmp_path)
    return RunRouter(registry=registry, spec=spec, state_dir=tmp_path / "state", runlog=_Log(), run_id="r"), spec


def test_a_persona_stays_on_the_model_holding_its_cached_prefix(tmp_path: Path) -> None:
    run_router, spec = router(tmp_path)
    step = spec.steps[0]
    first, _ = run_router.choose(step, "builder", "task", [CHEAP, STRONG])
    assert first.chosen == STRONG and "affinity" not in first.reason  # nothing cached yet

    run_router.record_call("builder", CHEAP, 20_000)  # e.g. an earlier phase ran on the cheap model
    second, _ = run_router.choose(step, "builder", "task", [CHEAP, STRONG])
    assert second.chosen == CHEAP and second.candidates == [CHEAP, STRONG]
    assert "affinity: stay on openai/gpt-4o-mini: expected gain $0.000000 vs cache saving $0.001500" in second.reason

    escalated, _ = run_router.choose(step, "builder", "task", [CHEAP, STRONG], rung=1)
    assert escalated.chosen == STRONG  # an escalation switches for quality, never for cache
