"""Run routing unit tests: the order of concerns, prefix-cache affinity as a tie-break, the hard filters."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.errors import ConfigError
from orchestrator.models.registry import load_registry
from orchestrator.run.routing import RunRouter
from orchestrator.workflow.spec import WorkflowSpec

CHEAP, STRONG = "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5"


class _Log:
    def decision(self, *args: object) -> int:
        return 1

    def recent_latencies(self) -> list[tuple[str, float]]:
        return []

    def bandit_outcomes(self) -> list[dict[str, object]]:
        return []


def router(tmp_path: Path, routing: object, profile: tuple[str, ...] | list[str] = (CHEAP, STRONG), **extra: object
           ) -> tuple[RunRouter, object]:
    (tmp_path / ".orchestrator").mkdir(exist_ok=True)
    (tmp_path / ".orchestrator" / "models.yaml").write_text(yaml.safe_dump({
        "profiles": {"high_throughput": list(profile)}, "roles": {"builder": "high_throughput"}, **extra}))
    spec = WorkflowSpec.model_validate({
        "name": "w", "steps": [{"id": "build", "persona": "builder"}],
        "routing": {"personas": {"builder": routing}}})
    registry = load_registry(tmp_path)
    return RunRouter(registry=registry, spec=spec, state_dir=tmp_path / "state", runlog=_Log(), run_id="r"), spec


def test_affinity_never_overrides_a_rule_that_names_a_model(tmp_path: Path) -> None:
    run_router, spec = router(tmp_path, {"strategy": "rules", "rules": [{"name": "strong", "use_model": STRONG}]})
    step = spec.steps[0]
    first, _ = run_router.choose(step, "builder", "task", [CHEAP, STRONG])
    assert first.chosen == STRONG and "affinity" not in first.reason  # nothing cached yet

    run_router.record_call("builder", CHEAP, 20_000)  # an earlier phase ran on the cheap model
    second, _ = run_router.choose(step, "builder", "task", [CHEAP, STRONG])
    assert second.chosen == STRONG
    assert f"affinity: {CHEAP} holds the prefix but the strategy prefers {STRONG} (not a tie)" in second.reason
    stages = second.features["stages"]
    assert list(stages) == ["filters", "strategy", "declarations", "affinity", "failover"]
    assert stages["strategy"].startswith(f"{STRONG}: rules: strong matched") and stages["failover"] == [CHEAP]


def test_affinity_breaks_a_tie_only_with_a_real_cache_saving(tmp_path: Path) -> None:
    run_router, spec = router(tmp_path, "static", [STRONG, CHEAP])  # one profile: the two models tie
    step = spec.steps[0]
    run_router.record_call("builder", CHEAP, 20_000)
    stay, _ = run_router.choose(step, "builder", "task", [STRONG, CHEAP])
    # Staying saves STRONG's full input price minus CHEAP's cache-read price on the 20,000-token prefix.
    assert stay.chosen == CHEAP and stay.candidates == [CHEAP, STRONG]
    assert f"affinity: tie: stay on {CHEAP}, saving $0.058500 on a 20000-token cached prefix" in stay.reason

    run_router.record_call("builder", STRONG, 20_000)  # the dear model's cache-read costs more than CHEAP's input
    keep, _ = run_router.choose(step, "builder", "task", [CHEAP, STRONG])
    assert keep.chosen == CHEAP and "keep openai/gpt-4o-mini: saving $-0.003000" in keep.reason


def test_no_cache_read_price_means_no_saving_so_the_choice_stands(tmp_path: Path) -> None:
    nocache = "openai/no-cache-model"
    run_router, spec = router(tmp_path, "static", [CHEAP, nocache], models={
        nocache: {"input_cost_per_token": 1e-7, "output_cost_per_token": 1e-7}})
    run_router.record_call("builder", nocache, 50_000)
    decision, _ = run_router.choose(spec.steps[0], "builder", "task", [CHEAP, nocache])
    assert decision.chosen == CHEAP and f"{nocache} holds the prefix but has no cache-read price" in decision.reason


def test_models_yaml_accepts_a_cache_read_price_and_affinity_uses_it(tmp_path: Path) -> None:
    priced = "openai/house-model"
    run_router, spec = router(tmp_path, "static", [CHEAP, priced], models={priced: {
        "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, "cache_read_input_token_cost": 1e-8}})
    assert run_router.registry.model_info(priced).cache_read_input_token_cost == 1e-8
    run_router.record_call("builder", priced, 10_000)
    decision, _ = run_router.choose(spec.steps[0], "builder", "task", [CHEAP, priced])
    assert decision.chosen == priced  # 10,000 x (1.5e-7 - 1e-8) = $0.0014 saved by staying
    assert "saving $0.001400" in decision.reason


def test_an_escalation_switches_for_quality_never_for_cache(tmp_path: Path) -> None:
    run_router, spec = router(tmp_path, "cascade", [CHEAP])
    (tmp_path / ".orchestrator" / "models.yaml").write_text(yaml.safe_dump({
        "profiles": {"high_throughput": [CHEAP], "high_reasoning": [STRONG]},
        "ladder": ["high_throughput", "high_reasoning"], "roles": {"builder": "high_throughput"}}))
    run_router.registry = load_registry(tmp_path)
    run_router.record_call("builder", CHEAP, 20_000)
    escalated, _ = run_router.choose(spec.steps[0], "builder", "task", [CHEAP], rung=1, why="gate review failed")
    assert escalated.chosen == STRONG and "affinity" not in escalated.features["stages"]
    assert escalated.reason == "cascade: escalated high_throughput -> high_reasoning: gate review failed"


def test_the_context_check_counts_the_whole_request(tmp_path: Path) -> None:
    small = "openai/tiny-window"
    run_router, spec = router(tmp_path, "static", [small, CHEAP], models={small: {
        "context_window": 600, "input_cost_per_token": 1e-7, "output_cost_per_token": 1e-7}})
    step = spec.steps[0]
    packet_only, _ = run_router.choose(step, "builder", "short packet", [small, CHEAP])
    assert packet_only.chosen == small
    whole, _ = run_router.choose(step, "builder", "short packet", [small, CHEAP], est_tokens=200,
                                 completion_tokens=512)
    assert whole.chosen == CHEAP
    why = "context window 600 < 712 tokens (200 prompt + 512 completion; prompt by estimate)"
    assert whole.features["stages"]["filters"] == {small: why}


def test_an_embedded_model_is_measured_with_its_own_tokenizer_and_others_conservatively(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    from orchestrator.models.tokens import TEMPLATE_TOKENS, _vocab

    local, remote = "local/smollm2", "openai/window-1400"
    run_router, spec = router(tmp_path, "static", [remote, local], models={
        remote: {"context_window": 1400, "input_cost_per_token": 1e-7, "output_cost_per_token": 1e-7},
        local: {"context_window": 1400}})
    vocab = _vocab("smollm2")  # a vocab-only load: the tokenizer without the weights
    assert vocab is not None
    prompt = "hello " * 600  # 3600 bytes: 1200 tokens at 3 bytes a token, about 600 for SmolLM2's tokenizer
    own = len(vocab.tokenize(prompt.encode(), add_bos=False, special=False)) + TEMPLATE_TOKENS
    decision, _ = run_router.choose(spec.steps[0], "builder", "packet", [remote, local], est_tokens=900,
                                    prompt_text=prompt, completion_tokens=512)
    assert decision.chosen == local and own + 512 < 1400
    assert decision.features["stages"]["filters"] == {
        remote: "context window 1400 < 1712 tokens (1200 prompt + 512 completion; prompt by estimate)"}


def test_a_usd_budget_drops_unpriced_and_unaffordable_models(tmp_path: Path) -> None:
    unpriced = "openai/unpriced-house-model"
    run_router, spec = router(tmp_path, "static", [unpriced, STRONG, CHEAP])
    step = spec.steps[0]
    assert run_router.choose(step, "builder", "t", [unpriced, STRONG, CHEAP])[0].chosen == unpriced  # no usd cap
    decision, _ = run_router.choose(step, "builder", "t", [unpriced, STRONG, CHEAP], est_tokens=1000,
                                    completion_tokens=500, usd_left=0.005)
    assert decision.chosen == CHEAP
    dropped = decision.features["stages"]["filters"]
    assert dropped[unpriced].startswith("price unknown under a usd budget")
    assert dropped[STRONG] == "one call (~$0.0105) exceeds the $0.0050 left in the usd budget"
    with pytest.raises(ConfigError, match="price unknown"):
        run_router.choose(step, "builder", "t", [unpriced], usd_left=1.0)


def test_high_stakes_and_interactive_steps_are_honoured_under_static(tmp_path: Path) -> None:
    (tmp_path / ".orchestrator").mkdir()
    (tmp_path / ".orchestrator" / "models.yaml").write_text(yaml.safe_dump({
        "models": {CHEAP: {"typical_latency_s": 9.0}, "openai/gpt-4o": {"typical_latency_s": 1.0}},
        "profiles": {"high_throughput": [STRONG], "high_reasoning": [CHEAP, "openai/gpt-4o"]},
        "ladder": ["high_throughput", "high_reasoning"], "roles": {"builder": "high_throughput"}}))
    spec = WorkflowSpec.model_validate({"name": "w", "steps": [
        {"id": "build", "persona": "builder", "stakes": "high", "interactive": True}]})
    run_router = RunRouter(registry=load_registry(tmp_path), spec=spec, state_dir=tmp_path / "s", runlog=_Log(),
                           run_id="r")
    decision, _ = run_router.choose(spec.steps[0], "builder", "task", [STRONG])
    assert decision.candidates == ["openai/gpt-4o", CHEAP, STRONG]  # climbed a rung, fastest first, own model last
    assert decision.features["stages"]["declarations"] == (
        "stakes high: climbed high_throughput -> high_reasoning; "
        "interactive: openai/gpt-4o is the fastest of openai/gpt-4o-mini, openai/gpt-4o")
