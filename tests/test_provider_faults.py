"""Provider faults from a real HTTP server on 127.0.0.1: every run completes through retry or failover, or stops
cleanly with its state saved and resumes."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flows import CALC_FIXED, add_workflow, run
from openai_server import FakeOpenAI, Fault, completion, error, fake_openai, malformed, timeout, truncated
from scripts import SUBTRACT_TEST_ID, call, finish, verdict

from orchestrator.models import catalog
from orchestrator.models.breaker import BreakerPolicy
from orchestrator.models.failures import ModelCallError
from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.models.registry import user_config_path
from orchestrator.models.resilience import RetryPolicy, configure_retries
from orchestrator.models.scope import breakers, configure_breakers
from orchestrator.runner import ResumeOptions, resume_run

SERVER_MODEL = "openai/faulty-box"
BUILD_REVIEW = [{"id": "build", "persona": "builder", "next": "review"},
                {"id": "review", "type": "gate", "gate": "review", "on_pass": "end", "on_fail": "build",
                 "max_rounds": 2}]


@pytest.fixture
def sleeps() -> Iterator[list[float]]:
    """Backoff is recorded, not slept; two retries of the last model, as by default."""
    recorded: list[float] = []
    configure_retries(RetryPolicy(retries=2, base_delay_s=1.0), sleep=recorded.append)
    yield recorded
    configure_retries()
    catalog.publish_entries({})


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with fake_openai(lambda body: passing()) as fake:
        yield fake


def passing() -> dict[str, Any]:
    """The critic's good answer, as the server sends it."""
    return completion(tool_calls=[{"name": "submit_verdict", "arguments": {
        "verdict": "pass", "violations": [], "scenarios": [{"scenario": 1, "test": SUBTRACT_TEST_ID, "met": True}]}}])


def flow(repo: Path, server: FakeOpenAI, profiles: dict[str, list[str]] | None = None) -> str:
    """A build -> review workflow whose critic's model is served by the fake server (0.5 s timeout)."""
    user = user_config_path()  # the user's file: a repository may not choose servers (test_hostile_config_keys)
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(yaml.safe_dump({
        "models": {SERVER_MODEL: {"api_base": server.api_base, "timeout_s": 0.5}}, "profiles": profiles or {}}))
    return add_workflow(repo, "faults", BUILD_REVIEW, {"review": {"kind": "review", "critics": ["critic"]}},
                        autonomy="L4")


def builder(rounds: int = 1) -> str:
    """An in-process builder that writes the fix, once per round."""
    replies = [call("write_file", path="calc.py", content=CALC_FIXED), finish("subtract added")]
    replies += [finish("nothing left to change")] * (rounds - 1)
    return register_scripted(ScriptedModel({"builder": replies}, name=f"builder{rounds}"))


def failovers(repo: Path, run_id: str) -> list[tuple[str, str, str | None]]:
    db = sqlite3.connect(repo / ".git" / "orchestrator" / "runs.sqlite")
    rows = db.execute("SELECT data FROM events WHERE run_id = ? AND kind = 'failover' ORDER BY id", (run_id,))
    found = [(d["model"], d["error"], d["next_model"]) for d in (json.loads(r[0]) for r in rows)]
    db.close()
    return found


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (error(429, "slow down", **{"Retry-After": "7"}), "RateLimitError"),
        (error(500, "upstream exploded"), "InternalServerError"),
        (error(503, "overloaded"), "ServiceUnavailableError"),
        (timeout(3.0), "Timeout"),
        (malformed(), "InternalServerError"),
        (truncated(), "InternalServerError"),
    ],
    ids=["429", "500", "503", "timeout", "malformed-json", "truncated-body"],
)
def test_a_transient_fault_is_retried_and_the_run_completes(repo: Path, server: FakeOpenAI, sleeps: list[float],
                                                            fault: Fault, kind: str) -> None:
    name = flow(repo, server)
    server.push(fault)
    outcome = run(repo, name, {"builder": builder(), "critic": SERVER_MODEL})
    assert outcome.exit_code == 0, outcome.message
    assert len(server.requests) == 2  # the fault, then the retry that answered
    assert failovers(repo, outcome.run_id) == [(SERVER_MODEL, kind, SERVER_MODEL)]
    assert sleeps == [7.0 if kind == "RateLimitError" else 1.0]  # the server's Retry-After, else our backoff


def test_a_server_that_stays_down_fails_over_to_the_next_model(repo: Path, server: FakeOpenAI,
                                                               sleeps: list[float]) -> None:
    backup = ScriptedModel({"critic": [verdict("pass")]}, name="backup-critic")
    name = flow(repo, server, profiles={"reviewers": [SERVER_MODEL, register_scripted(backup)]})
    server.default = lambda body: error(500, "down for maintenance")
    outcome = run(repo, name, {"builder": builder(), "critic": "reviewers"})
    assert outcome.exit_code == 0, outcome.message
    assert len(server.requests) == 1 and len(backup.calls) == 1  # no retry before a failover
    assert failovers(repo, outcome.run_id) == [(SERVER_MODEL, "InternalServerError", "scripted/backup-critic")]
    db = sqlite3.connect(repo / ".git" / "orchestrator" / "runs.sqlite")
    answered = db.execute("SELECT model FROM calls WHERE persona = 'critic'").fetchall()
    db.close()
    assert answered == [("scripted/backup-critic",)]


def test_invalid_tool_calls_are_refused_to_the_model_and_the_run_goes_on(repo: Path, server: FakeOpenAI,
                                                                         sleeps: list[float]) -> None:
    name = flow(repo, server)
    server.push(completion(tool_calls=[{"name": "rm_rf", "arguments": {"path": "/"}}]),
                completion(tool_calls=[{"name": "read_file", "arguments": '{"path": "calc.py"'}]),
                completion(tool_calls=[{"name": "submit_verdict", "arguments": "{not json at all"}]))
    outcome = run(repo, name, {"builder": builder(rounds=2), "critic": SERVER_MODEL})
    assert outcome.exit_code == 0, outcome.message
    first_review = server.requests[1]["body"]["messages"][-1]
    assert first_review["role"] == "tool" and first_review["content"].startswith("refused:")
    verdicts = [p for p in outcome.phases if p["step"] == "review" and p["persona"] == "-"]
    assert "unusable verdict" in verdicts[0]["reason"]  # the broken verdict failed closed, then a round fixed it


@pytest.mark.parametrize("fault", [error(500, "still down"), timeout(3.0)], ids=["500", "timeout"])
def test_an_outage_past_retries_stops_cleanly_and_the_run_resumes_when_it_ends(
        repo: Path, server: FakeOpenAI, sleeps: list[float], fault: Fault) -> None:
    now = [1000.0]
    configure_breakers(BreakerPolicy(failure_threshold=3, cooldown_s=30.0), clock=lambda: now[0])
    name = flow(repo, server)
    server.default = lambda body: fault
    stopped = run(repo, name, {"builder": builder(), "critic": SERVER_MODEL})
    assert (stopped.status, stopped.exit_code) == ("stopped", 3)
    assert f"continue with `orchestrator resume {stopped.run_id} --repo {repo}`" in stopped.message
    assert len(server.requests) == 3 and len(sleeps) == 2  # the call and two retries, then a clean stop
    assert [p["step"] for p in stopped.phases] == ["build"]  # the builder's work is saved

    assert breakers(stopped.run_id)[SERVER_MODEL].state == "open"  # the run's own breaker
    now[0] += 30  # the provider is back and the breaker's cooldown has passed: the next call is its probe
    server.default = lambda body: passing()
    done = resume_run(ResumeOptions(repo=repo, run_id=stopped.run_id))  # the builder's script is used up:
    assert done.exit_code == 0, done.message                             # it must not run again
    assert [p["step"] for p in done.phases if p["persona"] != "-"] == ["build", "review"]


def test_a_rejected_key_ends_the_run_as_an_error_and_resume_continues_after_the_fix(
        repo: Path, server: FakeOpenAI, sleeps: list[float]) -> None:
    name = flow(repo, server)
    server.push(error(401, "invalid api key"))
    with pytest.raises(ModelCallError, match="AuthenticationError") as caught:
        run(repo, name, {"builder": builder(), "critic": SERVER_MODEL})
    assert not caught.value.retryable and len(server.requests) == 1 and sleeps == []
    db = sqlite3.connect(repo / ".git" / "orchestrator" / "runs.sqlite")
    run_id, status = db.execute("SELECT id, status FROM runs").fetchone()
    db.close()
    assert status == "failed"
    assert resume_run(ResumeOptions(repo=repo, run_id=run_id)).exit_code == 0


def test_the_cli_says_how_to_resume_after_an_outage(repo: Path, server: FakeOpenAI, sleeps: list[float],
                                                    tmp_path: Path) -> None:
    from orchestrator.cli import main

    name = flow(repo, server)
    script = tmp_path / "builder.yaml"
    script.write_text(yaml.safe_dump({"builder": [call("write_file", path="calc.py", content=CALC_FIXED),
                                                  finish("subtract added")]}))
    server.default = lambda body: error(503, "overloaded")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", name, "--repo", str(repo), "--task", "Add subtract", "--approve", "auto",
                     "--model", f"builder=scripted:{script}", "--model", f"critic={SERVER_MODEL}"])
    text = out.getvalue() + err.getvalue()
    assert code == 3, text
    assert "ServiceUnavailableError" in text and "orchestrator resume" in text and f"--repo {repo}" in text
    assert "Traceback" not in text
