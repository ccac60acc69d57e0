"""Tracing without the cloud: an in-memory OpenTelemetry exporter gets one span per model call, and no secret."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flows import CALC_FIXED, add_workflow, run
from openai_server import FakeOpenAI, completion, error, fake_openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from scripts import SUBTRACT_TEST_ID, call, finish

from orchestrator.models import catalog, gateway, tracing
from orchestrator.models.failures import ModelCallError
from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.models.registry import load_registry, user_config_path
from orchestrator.models.resilience import RetryPolicy, configure_retries

CANARY = "sk-canary-5e1b7c9a03d2"
BUILD_REVIEW = [{"id": "build", "persona": "builder", "next": "review"},
                {"id": "review", "type": "gate", "gate": "review", "on_pass": "end", "on_fail": "build",
                 "max_rounds": 1}]


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Spans go to memory; the canary key is in the environment; retries don't sleep."""
    monkeypatch.setenv("REVIEW_BOX_KEY", CANARY)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable_otel(provider)
    configure_retries(RetryPolicy(retries=2, base_delay_s=0.0), sleep=lambda seconds: None)
    yield exporter
    tracing.disable_otel()
    configure_retries()
    catalog.publish_entries({})


def passing_verdict(body: dict[str, Any]) -> dict[str, Any]:
    """The critic's answer; it echoes the key it was sent, as a careless or hostile server might."""
    return completion(tool_calls=[{"name": "submit_verdict", "arguments": {
        "verdict": "pass", "violations": [{"clause": "style", "severity": "minor",
                                           "description": f"fine; by the way your key is {CANARY}"}],
        "scenarios": [{"scenario": 1, "test": SUBTRACT_TEST_ID, "met": True}]}}])


def test_one_span_per_call_with_genai_attributes_and_failures_marked(tmp_path: Path,
                                                                   spans: InMemorySpanExporter) -> None:
    with fake_openai() as server:
        user_config_path().parent.mkdir(parents=True)
        user_config_path().write_text(yaml.safe_dump(
            {"models": {"openai/traced": {"api_base": server.api_base, "api_key_env": "REVIEW_BOX_KEY"}}}))
        load_registry(tmp_path)
        server.push(completion("hello"), error(500, f"key {CANARY} is broken"))
        gateway.complete("openai/traced", [{"role": "user", "content": "hi"}], persona="critic", temperature=0.1,
                         metadata={"run_id": "r1", "step": "review"})
        with pytest.raises(ModelCallError):
            gateway.complete("openai/traced", [{"role": "user", "content": "hi"}], persona="critic")
        scripted = register_scripted(ScriptedModel(["in-process"], name="traced-fake"))
        gateway.complete(scripted, [{"role": "user", "content": "hi"}], persona="builder")
    ok, failed, local = spans.get_finished_spans()
    assert ok.name == "chat openai/traced" and ok.kind.name == "CLIENT"
    attributes = dict(ok.attributes)
    assert {key: attributes[key] for key in ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
                                             "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
                                             "server.address", "orchestrator.persona", "orchestrator.run_id",
                                             "orchestrator.step", "gen_ai.request.temperature")} == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "openai/traced",
        "gen_ai.usage.input_tokens": 11, "gen_ai.usage.output_tokens": 7, "server.address": "127.0.0.1",
        "orchestrator.persona": "critic", "orchestrator.run_id": "r1", "orchestrator.step": "review",
        "gen_ai.request.temperature": 0.1}
    assert failed.status.status_code.name == "ERROR" and failed.attributes["error.type"] == "InternalServerError"
    assert "[redacted REVIEW_BOX_KEY]" in failed.status.description
    assert local.attributes["gen_ai.request.model"] == scripted  # in-process models are traced the same way
    assert all(CANARY not in span.to_json() for span in spans.get_finished_spans())


def test_tracing_is_off_unless_switched_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tracing.disable_otel()
    monkeypatch.delenv(tracing.OTEL_ENV, raising=False)
    assert not tracing.otel_enabled()
    monkeypatch.setenv(tracing.OTEL_ENV, "1")
    assert tracing.otel_enabled()
    user_config_path().parent.mkdir(parents=True)
    user_config_path().write_text("tracing: {otel: false, litellm_callbacks: [langfuse]}\n")
    registry = load_registry(tmp_path)
    try:
        assert not tracing.otel_enabled() and registry.tracing.litellm_callbacks == ["langfuse"]
        assert tracing.litellm_callbacks() == ["langfuse"]
    finally:
        tracing.configure()
    monkeypatch.setenv(tracing.CALLBACKS_ENV, "langsmith, otel")
    assert tracing.litellm_callbacks() == ["langsmith", "otel"]


def test_litellm_callbacks_are_added_once_to_success_and_failure() -> None:
    class FakeLiteLLM:
        success_callback: list[Any] = ["mine"]
        failure_callback: list[Any] = []

    tracing.configure(litellm_callbacks=["langfuse"])
    try:
        tracing.apply_litellm_callbacks(FakeLiteLLM)
        tracing.apply_litellm_callbacks(FakeLiteLLM)
    finally:
        tracing.configure()
    assert (FakeLiteLLM.success_callback, FakeLiteLLM.failure_callback) == (["mine", "langfuse"], ["langfuse"])


def _run_with_traced_critic(repo: Path, server: FakeOpenAI) -> Any:
    user_config_path().parent.mkdir(parents=True, exist_ok=True)
    user_config_path().write_text(yaml.safe_dump({"models": {"openai/review-box": {
        "api_base": server.api_base, "api_key_env": "REVIEW_BOX_KEY", "description": "the critic's server"}}}))
    name = add_workflow(repo, "traced", BUILD_REVIEW, {"review": {"kind": "review", "critics": ["critic"]}},
                        autonomy="L4")
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED),
                                         finish("subtract added")]}, name="builder")
    # The first critic call fails with the key in the error text: retried, and the message goes nowhere.
    server.push(error(500, f"upstream refused key {CANARY}"))
    return run(repo, name, {"builder": register_scripted(builder), "critic": "openai/review-box"})


def test_a_run_traces_every_model_call_and_the_canary_key_appears_nowhere_not_even_in_the_report(
        repo: Path, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    with fake_openai(passing_verdict) as server:
        outcome = _run_with_traced_critic(repo, server)
    assert outcome.exit_code == 0, outcome.message
    assert all(r["headers"]["authorization"] == f"Bearer {CANARY}" for r in server.requests)  # the key was used
    db = sqlite3.connect(repo / ".git" / "orchestrator" / "runs.sqlite")
    calls = db.execute("SELECT step, persona, model FROM calls WHERE run_id = ?", (outcome.run_id,)).fetchall()
    db.close()
    finished = spans.get_finished_spans()
    answered = [s for s in finished if s.status.status_code.name != "ERROR"]
    assert len(finished) == len(calls) + 1 == 4  # builder x2, critic x1, plus the failed critic attempt
    assert sorted((s.attributes["orchestrator.step"], s.attributes["orchestrator.persona"],
                   s.attributes["orchestrator.answered_by"]) for s in answered) == sorted(calls)
    assert {s.attributes["orchestrator.run_id"] for s in finished} == {outcome.run_id}

    from orchestrator.cli import main

    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        main(["runs", "show", outcome.run_id, "--repo", str(repo), "--json"])
        assert main(["report", outcome.run_id, "--repo", str(repo)]) == 0  # written under .git/orchestrator/
    assert outcome.run_id in shown.getvalue()
    reports = list((repo / ".git" / "orchestrator").rglob("report.*"))
    assert sorted(p.suffix for p in reports) == [".html", ".md"]
    haystacks = {
        "spans": "".join(s.to_json() for s in finished),
        "logs": caplog.text,
        "output": capsys.readouterr().out + capsys.readouterr().err + shown.getvalue() + outcome.message,
        "summary": json.dumps([outcome.phases, outcome.gates, outcome.warnings], default=str),
    }
    for path in (repo / ".git" / "orchestrator").rglob("*"):
        if path.is_file():
            haystacks[str(path)] = path.read_bytes().decode("latin-1")
    assert [where for where, text in haystacks.items() if CANARY in text] == []
