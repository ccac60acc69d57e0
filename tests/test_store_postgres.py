"""A shared Postgres store: migrations, a run's checkpoints and log in one database, runs of many repos."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from conftest import make_repo
from flows import add_workflow
from scripts import call, finish
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.errors import ScriptExhaustedError
from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.runner import ResumeOptions, RunOptions, resume_run, start_run
from orchestrator.store.log import RunLog
from orchestrator.store.schema import MIGRATIONS, statements

pytestmark = pytest.mark.postgres

STEPS = [{"id": "write", "persona": "builder", "next": "end"}]


def test_a_new_store_migrates_once_and_a_store_one_version_behind_upgrades(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:  # the store as the previous version left it
        conn.execute("CREATE TABLE migrations (v INTEGER PRIMARY KEY, applied DOUBLE PRECISION)")
        for version in range(1, len(MIGRATIONS)):
            for sql in statements(version, "postgres"):
                conn.execute(sql)
            conn.execute("INSERT INTO migrations (v, applied) VALUES (%s, 0)", (version,))
        conn.execute("INSERT INTO runs (id, task, repo, status, options, started) VALUES "
                     "('old', 'kept', '/app', 'done', '{}', 1.5)")
    log = RunLog(pg_url)
    try:
        assert log.version == len(MIGRATIONS)
        assert log.run("old")["task"] == "kept"
    finally:
        log.close()
    assert RunLog(pg_url).version == len(MIGRATIONS)  # opening again applies nothing
    with psycopg.connect(pg_url) as conn:
        assert [r[0] for r in conn.execute("SELECT v FROM migrations ORDER BY v")] == list(
            range(1, len(MIGRATIONS) + 1))
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'events'")}
    assert "events_run" in indexes


def _repo(path: Path, k: int) -> Path:
    repo = make_repo(path, {"app.py": "x = 1\n"})
    add_workflow(repo, "shared", STEPS, autonomy="L4")
    return repo


def _builder(k: int) -> str:
    script = [call("write_file", path=f"note_{k}.txt", content=f"{k}\n"), finish(f"note {k}")]
    return register_scripted(ScriptedModel({"builder": script}, name=f"builder-{k}"))


def test_runs_of_two_repos_share_one_store_with_checkpoints_in_it(pg_url: str, tmp_path: Path) -> None:
    repos = [_repo(tmp_path / f"app{k}", k) for k in (0, 1)]
    outcomes = [start_run(RunOptions(workflow="shared", repo=repo, task=f"note {k}", store=pg_url, approve="auto",
                                     model_overrides={"builder": _builder(k)})) for k, repo in enumerate(repos)]
    assert [o.exit_code for o in outcomes] == [0, 0]
    for repo in repos:  # nothing of the run log or the checkpoints went into the repos' own state folders
        assert not (repo / ".git" / "orchestrator" / "runs.sqlite").exists()
        assert not (repo / ".git" / "orchestrator" / "checkpoints.sqlite").exists()
    with psycopg.connect(pg_url) as conn:
        threads = {r[0] for r in conn.execute("SELECT DISTINCT thread_id FROM checkpoints")}
    assert threads == {o.run_id for o in outcomes}
    log = RunLog(pg_url)
    try:
        assert {r["id"]: r["repo"] for r in log.runs()} == {
            o.run_id: str(repo.resolve()) for o, repo in zip(outcomes, repos, strict=True)}
    finally:
        log.close()
    every = CliRunner().invoke(app, ["runs", "list", "--all", "--store", pg_url], catch_exceptions=False)
    assert every.exit_code == 0 and all(o.run_id in every.output for o in outcomes), every.output
    one = CliRunner().invoke(app, ["runs", "list", "--repo", str(repos[0]), "--store", pg_url])
    assert outcomes[0].run_id in one.output and outcomes[1].run_id not in one.output, one.output


def test_a_run_that_failed_midway_resumes_from_its_postgres_checkpoint(pg_url: str, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"app.py": "x = 1\n"})
    add_workflow(repo, "two", [{"id": "write", "persona": "builder", "next": "check"},
                               {"id": "check", "persona": "tester", "next": "end"}], autonomy="L4")
    builder = ScriptedModel({"builder": [call("write_file", path="note.txt", content="n\n"), finish("note")]},
                            name="pg-builder")
    models = {"builder": register_scripted(builder), "tester": register_scripted(ScriptedModel([], name="none"))}
    options = RunOptions(workflow="two", repo=repo, task="note", store=pg_url, approve="auto", model_overrides=models)
    with pytest.raises(ScriptExhaustedError):
        start_run(options)
    tester = register_scripted(ScriptedModel({"tester": [finish("checked")]}, name="pg-tester"))
    run_id = RunLog(pg_url).runs()[0]["id"]
    done = resume_run(ResumeOptions(repo=repo, run_id=run_id, store=pg_url, model_overrides={"tester": tester}))
    assert done.exit_code == 0, done.message
    assert len(builder.calls) == 2  # the builder's step was checkpointed in Postgres: not run again
    assert [p["step"] for p in done.phases] == ["write", "check"]


def test_a_bad_store_setting_is_a_clear_error(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "app", 0)
    result = CliRunner().invoke(app, ["runs", "list", "--repo", str(repo), "--store", "mysql://u:secret@h/db"])
    assert result.exit_code != 0
    assert "secret" not in str(result.exception) + result.output
    assert "postgresql://" in str(result.exception) + result.output
