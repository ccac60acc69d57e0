"""Parallel best-of-n and speculative drafting, with fake models (plain callables and through the gateway)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from test_routing_support import candidates, make_registry, request

from orchestrator.errors import ConfigError, ModelError, RunStopped, ScriptExhaustedError, UnknownNameError
from orchestrator.models.types import ModelReply
from orchestrator.routing.ensemble import (
    ParallelStrategy,
    SpeculativeStrategy,
    best_of_n,
    refine_messages,
    speculate,
)

ASK = [{"role": "user", "content": "Write add(a, b)."}]


def fake_call(answers: dict[str, str], log: list[tuple[str, list]] | None = None):
    """A call(model, messages) that answers per model and records what it was asked."""

    def call(model: str, messages: list) -> ModelReply:
        if log is not None:
            log.append((model, messages))
        if answers[model] == "!boom":
            raise ModelError(f"{model} is down")
        return ModelReply(model=model, text=answers[model], cost_usd=0.01)

    return call


ANSWERS = {"a": "def add(a, b): return a - b", "b": "def add(a, b): return a + b", "c": "def add(a, b): pass"}


def test_best_of_n_judge_picks_the_answer() -> None:
    def judge(messages, replies):
        return next(i for i, r in enumerate(replies) if "a + b" in r.text), "only correct one"

    result = best_of_n(fake_call(ANSWERS), ["a", "b", "c"], ASK, judge=judge)
    assert result.reply.model == "b" and "only correct one" in result.reason
    assert [r.model for r in result.replies] == ["a", "b", "c"] and result.cost_usd == pytest.approx(0.03)


def test_best_of_n_gate_takes_first_passing_in_model_order() -> None:
    result = best_of_n(fake_call(ANSWERS), ["c", "b", "a"], ASK, gate=lambda r: "return" in r.text)
    assert result.reply.model == "b" and result.accepted


def test_best_of_n_when_nothing_passes() -> None:
    result = best_of_n(fake_call(ANSWERS), ["a", "c"], ASK, gate=lambda r: (False, "tests fail"))
    assert not result.accepted and result.reply.model == "a" and "a: tests fail" in result.reason


def test_best_of_n_runs_models_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=5)

    def call(model: str, messages: list) -> ModelReply:
        barrier.wait()  # deadlocks (and times out) unless all three calls are in flight together
        return ModelReply(model=model, text="ok")

    assert len(best_of_n(call, ["a", "b", "c"], ASK, gate=lambda r: True).replies) == 3


def test_best_of_n_survives_one_failing_model_but_not_all() -> None:
    answers = {**ANSWERS, "a": "!boom"}
    result = best_of_n(fake_call(answers), ["a", "b"], ASK, gate=lambda r: True)
    assert result.reply.model == "b" and "a is down" in result.errors["a"]
    with pytest.raises(ModelError, match="every model failed"):
        best_of_n(fake_call({"a": "!boom"}), ["a"], ASK, gate=lambda r: True)


def test_best_of_n_needs_one_chooser_and_a_valid_index() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        best_of_n(fake_call(ANSWERS), ["a"], ASK)
    with pytest.raises(ConfigError, match="index"):
        best_of_n(fake_call(ANSWERS), ["a"], ASK, judge=lambda m, r: 5)


def test_speculative_keeps_a_verified_draft_without_calling_the_strong_model() -> None:
    log: list = []
    result = speculate(fake_call(ANSWERS, log), "b", "strong", ASK, verify=lambda d: True)
    assert result.reply.model == "b" and not result.refined and [m for m, _ in log] == ["b"]


def test_speculative_refines_only_when_the_check_fails() -> None:
    log: list = []
    answers = {**ANSWERS, "strong": "def add(a, b):\n    return a + b"}
    result = speculate(fake_call(answers, log), "a", "strong", ASK, verify=lambda d: (False, "subtracts instead"))
    assert result.refined and result.reply.model == "strong" and [m for m, _ in log] == ["a", "strong"]
    refine_prompt = log[1][1]
    assert refine_prompt[:1] == ASK and refine_prompt[1] == {"role": "assistant", "content": ANSWERS["a"]}
    assert "subtracts instead" in refine_prompt[2]["content"]
    assert result.cost_usd == pytest.approx(0.02)


def test_refine_messages_shape() -> None:
    msgs = refine_messages(ASK, ModelReply(model="a", text="draft"), "")
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"] and "(no details)" in msgs[-1]["content"]


def test_ensemble_through_the_gateway_with_function_and_scripted_models() -> None:
    from orchestrator.models import gateway
    from orchestrator.models.providers.scripted import FunctionModel, ScriptedModel, register_scripted, reset_fakes

    reset_fakes()
    try:
        right = register_scripted(FunctionModel(lambda messages, tools, persona: "return a + b", name="right"))
        wrong = register_scripted(ScriptedModel(["return a - b"], name="wrong"))

        def call(model: str, messages: list) -> ModelReply:
            return gateway.complete(model, messages, persona="builder")

        result = best_of_n(call, [wrong, right], ASK, gate=lambda r: "a + b" in r.text)
        assert result.reply.model == right and result.reply.text == "return a + b"
    finally:
        reset_fakes()


# --- the routing side: which models take part ---


@pytest.fixture
def registry(tmp_path: Path):
    return make_registry(tmp_path)


def test_parallel_strategy_tops_up_from_stronger_rungs(registry) -> None:
    decision = ParallelStrategy(registry, n=2).route(request(), candidates(registry))
    assert decision.features["ensemble"] == ["test/mid", "test/strong"]
    assert decision.chosen == "test/mid" and decision.strategy == "parallel"


def test_parallel_strategy_uses_the_persona_models_when_enough(registry) -> None:
    decision = ParallelStrategy(registry, n=2).route(request(needs_tools=False), candidates(registry))
    assert decision.features["ensemble"] == ["test/mid", "test/notools"]


def test_parallel_strategy_says_when_fewer_fit(registry) -> None:
    decision = ParallelStrategy(registry, n=3).route(request(profile="high_reasoning"), ["test/strong"])
    assert decision.features["ensemble"] == ["test/strong"] and "only 1" in decision.reason


def test_speculative_strategy_defaults_to_ladder_ends(registry) -> None:
    decision = SpeculativeStrategy(registry).route(request(), candidates(registry))
    assert (decision.features["drafter"], decision.features["verifier"]) == ("test/cheap", "test/strong")
    assert decision.candidates[0] == "test/cheap" and "test/strong" in decision.candidates


def test_speculative_strategy_takes_explicit_models(registry) -> None:
    decision = SpeculativeStrategy(registry, "test/mid", "high_reasoning").route(request(), [])
    assert (decision.features["drafter"], decision.features["verifier"]) == ("test/mid", "test/strong")


def test_speculative_strategy_refuses_unknown_targets(registry) -> None:
    with pytest.raises(UnknownNameError, match="high_reasoning"):
        SpeculativeStrategy(registry, verifier="high_reasonin")


@pytest.mark.parametrize("error", [ScriptExhaustedError("script ran out"), RunStopped("budget reached")])
def test_best_of_n_never_swallows_a_stop_or_an_exhausted_script(error: Exception) -> None:
    # Only a model's own failure (ModelError) is one candidate lost; a budget stop or a test setup error ends it.
    def call(model: str, messages: list) -> ModelReply:
        if model == "b":
            raise error
        return ModelReply(model=model, text="ok")

    with pytest.raises(type(error)):
        best_of_n(call, ["a", "b"], ASK, gate=lambda r: True)
