"""Failover, circuit breakers, rpm/tpm overflow and prefix affinity, through the real gateway with function fakes."""

from __future__ import annotations

import socket
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import ModelError, RealRequestBlockedError, ScriptExhaustedError
from orchestrator.models import gateway
from orchestrator.models.affinity import PrefixAffinity
from orchestrator.models.breaker import BreakerPolicy, CircuitBreaker
from orchestrator.models.failures import ModelCallError, describe_failure
from orchestrator.models.providers.scripted import FunctionModel, ScriptedModel, register_scripted, reset_fakes
from orchestrator.models.registry import load_registry
from orchestrator.models.resilience import (
    CircuitOpenError,
    FailoverError,
    RetryPolicy,
    add_failover_listener,
    complete_with_failover,
    configure_retries,
    remove_failover_listener,
)
from orchestrator.models.scope import breaker_for, breakers, configure_breakers
from orchestrator.models.types import ToolSpec

HELLO = [{"role": "user", "content": "hello"}]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Fresh fakes, breakers, rate counters and retry policy per test; real requests blocked."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    reset_fakes()
    configure_breakers()
    gateway.reset_rate_limits()
    previous = gateway.block_real_requests(True)
    yield
    gateway.block_real_requests(previous)
    configure_retries()
    configure_breakers()
    gateway.reset_rate_limits()
    reset_fakes()


@pytest.fixture
def sleeps() -> list[float]:
    """Record backoff sleeps instead of sleeping."""
    recorded: list[float] = []
    configure_retries(RetryPolicy(retries=2, base_delay_s=1.0), sleep=recorded.append)
    return recorded


@pytest.fixture
def events() -> Any:
    """Every (model, kind, next_model) the failover listener hears."""
    heard: list[tuple[str, str, str | None]] = []

    def listen(model: str, kind: str, following: str | None) -> None:
        heard.append((model, kind, following))

    add_failover_listener(listen)
    yield heard
    remove_failover_listener(listen)


@pytest.fixture
def clock() -> Clock:
    """Breakers open after 2 failures and half-open after 30 s of this clock."""
    fake = Clock()
    configure_breakers(BreakerPolicy(failure_threshold=2, cooldown_s=30.0), clock=fake)
    return fake


def litellm_error(name: str, message: str) -> Exception:
    """A LiteLLM exception instance, as a provider would raise it."""
    litellm = gateway.load_litellm()
    return getattr(litellm, name)(message, llm_provider="openai", model="gpt-4o-mini")


def fake(name: str, *failures: Exception) -> tuple[str, FunctionModel]:
    """A function model that raises the given errors in turn, then answers 'from <name>'."""
    queue = list(failures)

    def reply(messages: list[dict[str, Any]], tools: list[ToolSpec], persona: str) -> Any:
        if queue:
            raise queue.pop(0)
        return f"from {name}"

    model = FunctionModel(reply, name=name)
    return register_scripted(model), model


def always_failing(name: str, error: Exception) -> tuple[str, FunctionModel]:
    """A function model that raises the same error on every call."""

    def reply(messages: list[dict[str, Any]], tools: list[ToolSpec], persona: str) -> Any:
        raise error

    model = FunctionModel(reply, name=name)
    return register_scripted(model), model


def registry_with(tmp_path: Path, text: str) -> Any:
    """A registry with a repo models.yaml (published to the gateway, as a run would)."""
    (tmp_path / ".orchestrator").mkdir(exist_ok=True)
    (tmp_path / ".orchestrator" / "models.yaml").write_text(text)
    return load_registry(tmp_path)


def test_retryable_error_fails_over_to_the_next_model(events: list[Any]) -> None:
    first, down = always_failing("down", litellm_error("ServiceUnavailableError", "overloaded"))
    second, up = fake("up")
    reply = complete_with_failover([first, second], HELLO, persona="builder")
    assert (reply.model, reply.text) == (second, "from up")
    assert len(down.calls) == 1 and len(up.calls) == 1
    assert events == [(first, "ServiceUnavailableError", second)]


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("PaymentRequiredError", "insufficient credit"),
        ("BadRequestError", "Your credit balance is too low to access the Anthropic API."),
        ("RateLimitError", "You exceeded your current quota, please check your plan and billing details."),
    ],
)
def test_budget_and_quota_errors_fail_over_instead_of_crashing(error: str, message: str, events: list[Any]) -> None:
    broke, _ = always_failing("broke", litellm_error(error, message))
    paid, _ = fake("paid")
    assert complete_with_failover([broke, paid], HELLO, persona="critic").model == paid
    assert events == [(broke, "PaymentRequiredError", paid)]
    failure = describe_failure(litellm_error(error, message), broke)
    assert not failure.retryable and failure.trips_breaker and "out of credit" in failure.hint


def test_breaker_opens_skips_the_model_then_half_opens_and_closes(clock: Clock, events: list[Any]) -> None:
    healthy = threading.Event()
    outage = litellm_error("InternalServerError", "boom")

    def flaky_reply(messages: list[dict[str, Any]], tools: list[ToolSpec], persona: str) -> Any:
        if not healthy.is_set():
            raise outage
        return "flaky is back"

    flaky = FunctionModel(flaky_reply, name="flaky")
    first, (second, backup) = register_scripted(flaky), fake("backup")
    for _ in range(2):
        complete_with_failover([first, second], HELLO, persona="builder")
    assert breakers()[first].state == "open" and (first, "breaker_open", None) in events
    assert complete_with_failover([first, second], HELLO, persona="builder").model == second
    assert len(flaky.calls) == 2 and len(backup.calls) == 3  # skipped without a call
    assert (first, "CircuitOpen", second) in events

    clock.now += 30
    assert breakers()[first].state == "half_open"
    healthy.set()
    reply = complete_with_failover([first, second], HELLO, persona="builder")
    assert (reply.model, reply.text, len(flaky.calls)) == (first, "flaky is back", 3)
    assert breakers()[first].state == "closed"
    assert events[-2:] == [(first, "breaker_half_open", None), (first, "breaker_closed", None)]


def test_failed_probe_reopens_and_open_single_model_says_when_it_retries(clock: Clock) -> None:
    only, model = always_failing("dead", litellm_error("APIConnectionError", "refused"))
    configure_retries(RetryPolicy(retries=0))
    for _ in range(2):
        with pytest.raises(ModelCallError, match="APIConnectionError"):
            complete_with_failover([only], HELLO, persona="tester")
    with pytest.raises(CircuitOpenError, match=r"circuit open after 2 consecutive failures .*next probe in 30s"):
        complete_with_failover([only], HELLO, persona="tester")
    clock.now += 31
    with pytest.raises(ModelCallError):
        complete_with_failover([only], HELLO, persona="tester")  # the half-open probe fails
    assert len(model.calls) == 3 and breakers()[only].state == "open"


def test_half_open_lets_one_probe_through_at_a_time() -> None:
    clock = Clock()
    moves: list[tuple[str, str, str]] = []
    breaker = CircuitBreaker("m", BreakerPolicy(1, 10.0), clock, lambda *move: moves.append(move))
    breaker.record_failure("Timeout")
    assert not breaker.allow()
    clock.now += 10
    assert breaker.allow() and not breaker.allow()  # the second caller waits for the probe
    breaker.release()
    assert breaker.allow()
    breaker.record_success()
    assert moves == [("m", "closed", "open"), ("m", "open", "half_open"), ("m", "half_open", "closed")]


def test_breaker_counts_failures_from_many_threads() -> None:
    breaker = CircuitBreaker("m", BreakerPolicy(failure_threshold=400, cooldown_s=5.0))
    threads = [threading.Thread(target=lambda: [breaker.record_failure() for _ in range(50)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.snapshot().failures == 400 and breaker.state == "open"


def test_last_model_left_is_retried_with_backoff(sleeps: list[float], events: list[Any]) -> None:
    only, model = fake("wobbly", litellm_error("RateLimitError", "slow down"), litellm_error("Timeout", "late"))
    reply = complete_with_failover([only], HELLO, persona="builder")
    assert reply.text == "from wobbly" and len(model.calls) == 3
    assert sleeps == [1.0, 2.0]
    assert events == [(only, "RateLimitError", only), (only, "Timeout", only)]


def test_non_retryable_last_model_is_not_retried(sleeps: list[float]) -> None:
    only, model = always_failing("refused", litellm_error("AuthenticationError", "bad key"))
    with pytest.raises(ModelCallError, match="AuthenticationError") as error:
        complete_with_failover([only], HELLO, persona="builder")
    assert error.value.model == only and len(model.calls) == 1 and sleeps == []


def test_rpm_limit_sends_overflow_to_the_next_model_before_any_429(tmp_path: Path, events: list[Any]) -> None:
    # rpm counts per wall-clock minute: pin the minute so the test can't straddle two.
    gateway.reset_rate_limits(clock=lambda: datetime(2026, 1, 1, 12, 0, 30).timestamp())
    limited, limited_model = fake("limited")
    spare, spare_model = fake("spare")
    registry = registry_with(tmp_path, f"models:\n  {limited}:\n    rpm: 2\n")
    replies = [complete_with_failover([limited, spare], HELLO, persona="builder", registry=registry) for _ in range(5)]
    assert [reply.model for reply in replies] == [limited, limited, spare, spare, spare]
    assert len(limited_model.calls) == 2 and len(spare_model.calls) == 3
    assert events == [(limited, "LocalRateLimitError", spare)] * 3
    assert breakers()[limited].state == "closed"  # throttling ourselves says nothing about its health


def test_tpm_limit_counts_reply_tokens_and_a_new_minute_starts_afresh(tmp_path: Path, events: list[Any]) -> None:
    clock = Clock()
    gateway.reset_rate_limits(clock=clock)
    limited, limited_model = fake("metered")
    spare, _ = fake("reserve")
    registry = registry_with(tmp_path, f"models:\n  {limited}:\n    tpm: 12\n")
    prompt = [{"role": "user", "content": "x" * 20}]  # about 5 tokens; each reply reports 5 + 3
    models = [complete_with_failover([limited, spare], prompt, persona="builder", registry=registry).model
              for _ in range(3)]
    assert models == [limited, spare, spare]  # 8 used + ~5 asked > 12 after the first call
    assert events == [(limited, "LocalRateLimitError", spare)] * 2
    clock.now += 60
    assert complete_with_failover([limited, spare], prompt, persona="builder", registry=registry).model == limited
    assert len(limited_model.calls) == 2


def test_auth_failure_on_one_provider_fails_over(monkeypatch: pytest.MonkeyPatch, events: list[Any]) -> None:
    attempts: list[Any] = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: attempts.append(address))
    gateway.block_real_requests(False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9")
    local, _ = fake("keyless")
    reply = complete_with_failover(["openai/gpt-4o-mini", local], HELLO, persona="critic")
    assert reply.model == local and attempts == []
    assert events == [("openai/gpt-4o-mini", "AuthenticationError", local)]


def test_script_exhausted_and_blocked_requests_surface_unchanged(events: list[Any]) -> None:
    empty = register_scripted(ScriptedModel({"builder": []}, name="empty"))
    backup, backup_model = fake("backup")
    with pytest.raises(ScriptExhaustedError, match=r"no reply left for persona 'builder' \(call #1\)"):
        complete_with_failover([empty, backup], HELLO, persona="builder")
    with pytest.raises(RealRequestBlockedError):
        complete_with_failover(["openai/gpt-4o-mini", backup], HELLO, persona="builder")
    assert backup_model.calls == [] and events == []
    assert breakers()[empty].state == "closed" and breakers()[empty].failures == 0


def test_single_model_list_raises_what_complete_raises() -> None:
    only, _ = always_failing("long", litellm_error("ContextWindowExceededError", "prompt too long"))
    with pytest.raises(ModelCallError) as direct:
        gateway.complete(only, HELLO, persona="builder")
    with pytest.raises(ModelCallError) as failover:
        complete_with_failover([only], HELLO, persona="builder")
    assert (type(failover.value), str(failover.value)) == (type(direct.value), str(direct.value))


def test_request_errors_fail_over_without_tripping_the_breaker(clock: Clock) -> None:
    small, _ = always_failing("small", litellm_error("ContextWindowExceededError", "prompt too long"))
    large, _ = fake("large")
    for _ in range(3):
        assert complete_with_failover([small, large], HELLO, persona="surveyor").model == large
    assert breakers()[small].state == "closed"


def test_every_model_failing_gives_one_summary() -> None:
    first, _ = always_failing("one", litellm_error("ServiceUnavailableError", "down"))
    second, _ = always_failing("two", litellm_error("AuthenticationError", "bad key"))
    with pytest.raises(FailoverError) as error:
        complete_with_failover([first, second], HELLO, persona="builder")
    text = str(error.value)
    assert text.startswith("persona builder: all 2 models failed:")
    assert f"  - {first}: ServiceUnavailableError: down" in text and f"  - {second}: AuthenticationError" in text
    assert isinstance(error.value, ModelError) and set(error.value.failures) == {first, second}


def test_prefix_affinity_stays_unless_the_gain_beats_the_cache_saving() -> None:
    affinity = PrefixAffinity()
    held, other = "anthropic/claude-sonnet-4-5", "openai/gpt-4o-mini"
    assert not affinity.decide("critic", other, expected_gain_usd=1.0).stay  # nothing cached yet
    affinity.record("critic", held, prompt_tokens=10_000)
    saving = affinity.cache_saving_usd(held, 10_000)
    assert saving == pytest.approx((3e-6 - 3e-7) * 10_000)  # LiteLLM's input minus cache-read price
    stay = affinity.decide("critic", other, expected_gain_usd=0.01)
    assert (stay.model, stay.stay) == (held, True) and stay.reason.startswith(f"stay on {held}")
    switch = affinity.decide("critic", other, expected_gain_usd=0.05)
    assert (switch.model, switch.stay) == (other, False) and switch.reason.startswith(f"switch to {other}")
    assert affinity.decide("critic", other, expected_gain_usd=0.01, prompt_tokens=100).model == other
    assert affinity.decide("critic", held, expected_gain_usd=0.0).stay


def test_prefix_affinity_leaves_a_holder_whose_circuit_is_open(clock: Clock) -> None:
    affinity = PrefixAffinity()
    affinity.record("critic", "anthropic/claude-sonnet-4-5", prompt_tokens=50_000)
    for _ in range(2):
        breaker_for("anthropic/claude-sonnet-4-5").record_failure("Timeout")
    decision = affinity.decide("critic", "openai/gpt-4o-mini", expected_gain_usd=0.0)
    assert decision.model == "openai/gpt-4o-mini" and "circuit is open" in decision.reason


def test_failover_records_the_answering_model_for_affinity() -> None:
    first, _ = always_failing("gone", litellm_error("APIConnectionError", "refused"))
    second, _ = fake("there")
    affinity = PrefixAffinity()
    complete_with_failover([first, second], HELLO, persona="builder", affinity=affinity)
    assert affinity.holder("builder") == second


def test_concurrent_calls_share_one_gateway_safely() -> None:
    first, model = fake("shared")
    replies: list[str] = []

    def work() -> None:
        replies.extend(complete_with_failover([first], HELLO, persona="builder").text for _ in range(3))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert replies == ["from shared"] * 24 and len(model.calls) == 24
