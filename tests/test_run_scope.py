"""State per run, not per process: two runs on two threads of one process each log only their own failovers,
breakers and events."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import yaml
from conftest import make_repo
from flows import add_file, add_workflow
from scripts import call, finish

from orchestrator.models.providers.scripted import FunctionModel, ScriptedModel, register_scripted
from orchestrator.models.scope import breakers
from orchestrator.report.events_text import log_path
from orchestrator.runner import run_workflow
from orchestrator.store.log import RunLog

STEPS = [{"id": "write", "persona": "builder", "next": "end"}]


class InternalServerError(Exception):
    """Named like LiteLLM's 500: the gateway files it as a provider failure that fails over."""


def _flaky(rendezvous: threading.Barrier) -> str:
    """One model both runs call first: it fails, but only once both runs are inside it."""

    def respond(messages: list[dict[str, Any]], tools: list[Any], persona: str) -> Any:
        rendezvous.wait(timeout=60)
        raise InternalServerError("down")

    return register_scripted(FunctionModel(respond, name="flaky"))


def _repo(path: Path, k: int, flaky: str) -> Path:
    repo = make_repo(path, {"app.py": "x = 1\n"})
    backup = register_scripted(ScriptedModel(
        {"builder": [call("write_file", path=f"note_{k}.txt", content=f"{k}\n"), finish(f"note {k}")]},
        name=f"backup-{k}"))
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump({"profiles": {"writers": [flaky, backup]}}))
    add_workflow(repo, "scoped", STEPS, autonomy="L4")
    return repo


def test_two_runs_on_two_threads_log_only_their_own_failovers_and_events(tmp_path: Path) -> None:
    flaky = _flaky(threading.Barrier(2))
    repos = [_repo(tmp_path / f"app{k}", k, flaky) for k in (0, 1)]
    heard: list[list[Any]] = [[], []]
    outcomes: list[Any] = [None, None]

    def one(k: int) -> None:
        outcomes[k] = run_workflow("scoped", f"note {k}", repos[k], models={"builder": "writers"},
                                   on_event=heard[k].append)

    threads = [threading.Thread(target=one, args=(k,)) for k in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for k in (0, 1):
        outcome = outcomes[k]
        assert outcome is not None and outcome.exit_code == 0, outcome and outcome.message
        assert {event.run_id for event in heard[k]} == {outcome.run_id}  # never the other run's events
        log = RunLog(repos[k] / ".git" / "orchestrator" / "runs.sqlite")
        failovers = [e["data"] for e in log.events(outcome.run_id, "failover")]
        log.close()
        # Both of its calls failed over to its own backup; a process-wide listener would have logged the other
        # run's two failovers here as well, and one shared breaker would have counted four failures.
        assert failovers == [{"model": flaky, "error": "InternalServerError", "next_model": f"scripted/backup-{k}"}] * 2
        assert breakers(outcome.run_id)[flaky].failures == 2
        text = log_path(repos[k] / ".git" / "orchestrator", outcome.run_id).read_text()
        assert "flaky" in text and outcomes[1 - k].run_id not in text and f"backup-{1 - k}" not in text
