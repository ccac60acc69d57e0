"""Unit tests: cascade escalation heuristics, ladder start, escalation and the cascade driver."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_routing_support import make_registry, request

from orchestrator.errors import ConfigError, UnknownNameError
from orchestrator.models.types import ModelReply
from orchestrator.routing.cascade import Cascade, self_reported_confidence, should_escalate

GOOD = "Added `subtract(a, b)` to calc.py and a test for it. All tests pass."


@pytest.fixture
def registry(tmp_path: Path):
    return make_registry(tmp_path)


def test_good_reply_does_not_escalate() -> None:
    assert should_escalate(GOOD) == (False, "ok")


@pytest.mark.parametrize(
    ("text", "kwargs", "expected"),
    [
        (GOOD, {"gate_passed": False}, "gate failed"),
        (GOOD, {"schema_ok": False}, "schema validation failed"),
        ("", {}, "empty output"),
        ("   \n ", {}, "empty output"),
        (GOOD, {"finish_reason": "length"}, "truncated: finish_reason=length"),
        ("Here is the fix:\n```python\ndef f(x):\n    return x", {}, "truncated: unclosed code fence"),
        ('{"files": ["calc.py", "test_calc.py"], "plan": {"steps": [1, 2', {}, "truncated: unclosed brackets"),
        ("Fix:\n```python\nprint(f(g(x))\n```", {}, "truncated: unclosed brackets"),
        ("I can't help with modifying that file.", {}, "refusal"),
        ("I cannot do that.", {}, "refusal"),
        ("As an AI language model, I have no access to your repo.", {}, "refusal"),
        ("I'm not sure this handles negative numbers.", {}, "hedging"),
        ("It might work. Maybe the test passes. Perhaps not.", {}, "hedging: 3 hedge words"),
        ("Which file? Which function? Which branch?", {}, "hedging: 3 question marks"),
        (GOOD + "\nconfidence: 0.3", {}, "low confidence 0.3 < 0.5"),
        ('{"answer": "done", "confidence": 0.2}', {}, "low confidence 0.2 < 0.5"),
        (GOOD + "\nConfidence: 40%", {}, "low confidence 0.4 < 0.5"),
        (GOOD + "\nconfidence: low", {}, "low confidence 0.25 < 0.5"),
    ],
)
def test_each_heuristic_escalates(text: str, kwargs: dict, expected: str) -> None:
    escalate, why = should_escalate(text, **kwargs)
    assert escalate and why.startswith(expected), why


@pytest.mark.parametrize(
    "text",
    [
        "Steps: 1) add the function 2) add the test :)",  # prose brackets are not code
        "Done.\n```python\nx = (a // b)  # don't (ever) change\ns = 'a(b'\n```",
        GOOD + "\nconfidence: 0.9",
        "The refactor might slow imports slightly; otherwise done.",
        "Done. Note: the old API can't take floats, so I added a check; I cannot see other callers.",
    ],
)
def test_heuristics_leave_sound_replies_alone(text: str) -> None:
    assert should_escalate(text) == (False, "ok")


def test_refusal_is_only_looked_for_in_the_first_sentence() -> None:
    assert should_escalate(GOOD + " I can't run the integration tests here.")[0] is False
    assert should_escalate("I'm sorry, but I can't do that. Anything else?")[0] is True


def test_confidence_threshold_is_configurable() -> None:
    assert should_escalate(GOOD + " confidence: 0.6", confidence_threshold=0.7)[0] is True
    assert should_escalate(GOOD + " confidence: 0.6", confidence_threshold=0.5)[0] is False


def test_self_reported_confidence_parses_forms() -> None:
    assert self_reported_confidence("no self-report") is None
    assert self_reported_confidence("confidence = .75") == 0.75
    assert self_reported_confidence("confidence: 85") == 0.85
    assert self_reported_confidence("'confidence': 'high'") == 0.9


@pytest.mark.parametrize(
    ("verdict", "escalates"),
    [(True, False), (False, True), ("pass", False), ("fail: misses a test", True), ((False, "wrong file"), True)],
)
def test_judge_verdict_forms(verdict, escalates: bool) -> None:
    escalate, why = should_escalate(GOOD, judge=lambda text: verdict)
    assert escalate is escalates
    if escalates:
        assert why.startswith("judge")


def test_judge_is_not_called_when_a_cheap_check_decides() -> None:
    calls = []
    should_escalate("", judge=lambda text: calls.append(text) or True)
    assert calls == []


def test_cascade_starts_at_the_bottom_rung_by_default(registry) -> None:
    decision = Cascade(registry).route(request(), [])
    assert decision.candidates == ["test/cheap", "test/cheap-eu"]
    assert decision.features["rung"] == "cheapest"
    assert decision.strategy == "cascade"


def test_cascade_start_rung_is_configurable_and_checked(registry) -> None:
    assert Cascade(registry, "high_throughput").route(request(), []).chosen == "test/mid"
    with pytest.raises(UnknownNameError):
        Cascade(registry, "massive_context")


def test_cascade_skips_rungs_where_nothing_fits(registry) -> None:
    decision = Cascade(registry).route(request(est_tokens=20_000), [])
    assert decision.chosen == "test/mid" and "skipped cheapest" in decision.reason


def test_escalate_climbs_one_rung_then_stops_at_top(registry) -> None:
    cascade = Cascade(registry)
    first = cascade.route(request(), [])
    second = cascade.escalate(first, request(), "gate failed")
    assert second is not None and second.chosen == "test/mid"
    assert "cheapest -> high_throughput: gate failed" in second.reason
    assert second.prompt_hash == first.prompt_hash
    third = cascade.escalate(second)
    assert third is not None and third.chosen == "test/strong" and third.features["escalations"] == 2
    assert cascade.escalate(third) is None


def test_escalate_applies_the_filter_when_given_the_request(registry) -> None:
    cascade = Cascade(registry)
    eu = request(tags=frozenset({"residency:eu"}))
    first = cascade.route(eu, [])
    assert first.chosen == "test/cheap-eu"
    nxt = cascade.escalate(first, eu)  # high_throughput has no EU model, so it goes straight to the top
    assert nxt is not None and nxt.chosen == "test/strong" and "skipped high_throughput" in nxt.reason


def test_cascade_without_ladder_is_a_config_error(tmp_path: Path) -> None:
    from orchestrator.models.registry import load_registry

    repo = tmp_path / "r"
    (repo / ".orchestrator").mkdir(parents=True)
    (repo / ".orchestrator" / "models.yaml").write_text("ladder: []\n")
    with pytest.raises(ConfigError, match="ladder"):
        Cascade(load_registry(repo))


def test_run_escalates_the_same_work_until_accepted(registry) -> None:
    replies = {"test/cheap": "I'm not sure.", "test/mid": "", "test/strong": GOOD}
    seen: list[tuple[str, list]] = []

    def call(model: str, messages: list) -> ModelReply:
        seen.append((model, messages))
        return ModelReply(model=model, text=replies[model], cost_usd=0.01)

    messages = [{"role": "user", "content": "add subtract"}]
    result = Cascade(registry).run(request(), call, messages)
    assert [m for m, _ in seen] == ["test/cheap", "test/mid", "test/strong"]
    assert all(msgs == messages for _, msgs in seen)
    assert result.accepted and result.reply.text == GOOD
    assert result.escalations == ['test/cheap: hedging: "I\'m not sure"', "test/mid: empty output"]


def test_run_reports_not_accepted_at_the_top(registry) -> None:
    def call(model: str, messages: list) -> ModelReply:
        return ModelReply(model=model, text="I cannot.")

    result = Cascade(registry, "high_throughput").run(request(), call, [])
    assert not result.accepted and len(result.decisions) == 2 and result.reply.model == "test/strong"


def test_run_takes_a_custom_check(registry) -> None:
    def call(model: str, messages: list) -> ModelReply:
        return ModelReply(model=model, text=GOOD)

    result = Cascade(registry).run(request(), call, [], check=lambda r: (r.model != "test/mid", "gate failed"))
    assert result.reply.model == "test/mid" and result.escalations == ["test/cheap: gate failed"]
