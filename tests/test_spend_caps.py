"""Spend caps reserved atomically in the store: many small concurrent calls from two processes never pass one
shared cap, on SQLite and on Postgres; a run that would cross a named scope's cap stops before the call."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest
import yaml
from conftest import make_repo
from flows import add_file, add_workflow
from scripts import call, finish

from orchestrator.errors import ConfigError
from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.runner import RunOptions, start_run
from orchestrator.store.ledger import SpendCapReached, SpendLedger

CAP, CALL = 1.0, 0.03
THREADS = 6


def _spend_until_refused(store: str, scope: str, results: list[float]) -> None:
    """One thread: reserve a call's estimate, settle its cost, until the cap refuses one."""
    ledger = SpendLedger(store)
    try:
        while True:
            try:
                held = ledger.reserve([scope], CALL)
            except SpendCapReached:
                return
            ledger.settle(held, CALL)
            results.append(CALL)
    finally:
        ledger.close()


def _worker(store: str, scope: str, queue: multiprocessing.Queue) -> None:
    """One process of THREADS threads; reports how much it spent."""
    results: list[float] = []
    threads = [threading.Thread(target=_spend_until_refused, args=(store, scope, results)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(sum(results))


def _hammer(store: str) -> float:
    """Two processes spend against one cap at once; returns what they spent together."""
    SpendLedger(store).set_cap("team:web", CAP)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(store, "team:web", queue)) for _ in range(2)]
    for proc in procs:
        proc.start()
    spent = [queue.get(timeout=180) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    return sum(spent)


def _check(store: str, spent: float) -> None:
    row = SpendLedger(store).scope("team:web")
    assert spent <= CAP + 1e-9 and row["spent_usd"] <= CAP + 1e-9  # never past the cap
    assert row["spent_usd"] == pytest.approx(spent) and row["reserved_usd"] == pytest.approx(0.0)
    assert spent == pytest.approx(CALL * int(CAP / CALL))  # and every call that fitted was let through


def test_two_processes_of_many_threads_never_pass_a_shared_cap_on_sqlite(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.sqlite")
    _check(store, _hammer(store))


@pytest.mark.postgres
def test_two_processes_of_many_threads_never_pass_a_shared_cap_on_postgres(pg_url: str) -> None:
    _check(pg_url, _hammer(pg_url))


def test_a_reservation_over_any_of_its_scopes_holds_nothing(tmp_path: Path) -> None:
    ledger = SpendLedger(tmp_path / "runs.sqlite")
    ledger.set_cap("run:a", 1.0)
    ledger.set_cap("team:web", 0.10)
    with pytest.raises(SpendCapReached, match=r"team:web spend cap of \$0.1000 would be exceeded"):
        ledger.reserve(["run:a", "team:web"], 0.20)
    assert ledger.scope("run:a")["reserved_usd"] == 0.0  # the run's scope was rolled back with the refusal
    ledger.close()


def _priced_repo(path: Path, k: int) -> tuple[Path, str]:
    repo = make_repo(path, {"app.py": "x = 1\n"})
    model = register_scripted(ScriptedModel({"builder": [call("write_file", path="n.txt", content="n\n"),
                                                         finish("done")]}, name=f"priced-{k}"))
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump({"models": {model: {
        "input_cost_per_token": 0.001, "output_cost_per_token": 0.001}}}))
    add_workflow(repo, "priced", [{"id": "write", "persona": "builder", "next": "end"}], autonomy="L4")
    return repo, model


def test_a_run_stops_before_a_call_that_would_pass_its_named_scope(tmp_path: Path) -> None:
    repo, model = _priced_repo(tmp_path / "app", 0)
    store = repo / ".git" / "orchestrator" / "runs.sqlite"
    store.parent.mkdir(parents=True, exist_ok=True)
    SpendLedger(store).set_cap("team:web", 0.01)  # less than one call's estimate at these prices
    outcome = start_run(RunOptions(workflow="priced", repo=repo, task="note", approve="auto",
                                   model_overrides={"builder": model}, budget_scopes=["team:web"]))
    assert outcome.exit_code == 3 and "team:web spend cap" in outcome.message, outcome.message
    assert SpendLedger(store).scope("team:web")["spent_usd"] == 0.0


def test_an_unknown_named_scope_is_refused_before_the_run_starts(tmp_path: Path) -> None:
    repo, model = _priced_repo(tmp_path / "app", 1)
    with pytest.raises(ConfigError, match="--budget-scope 'team:wbe': no such scope"):
        start_run(RunOptions(workflow="priced", repo=repo, task="note", approve="auto",
                             model_overrides={"builder": model}, budget_scopes=["team:wbe"]))
