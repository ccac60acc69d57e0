"""A worker's repo cache: only plain git transports, clone then fetch, and a run's branch pushed back."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import git, make_repo

from orchestrator.errors import ConfigError
from orchestrator.workers.repos import check_repo_url, fetch_run_branch, push_run_branch, sync_repo


@pytest.mark.parametrize("url", ["ext::sh -c touch% /tmp/pwned", "fd::3", "--upload-pack=touch /tmp/x",
                                 "../relative/repo", "/abs/path/without/scheme", "file://"])
def test_a_queued_run_cannot_name_a_transport_that_runs_commands(url: str) -> None:
    with pytest.raises(ConfigError, match="use a git URL"):
        check_repo_url(url)


def test_plain_transports_are_accepted() -> None:
    for url in ("file:///srv/git/app.git", "https://git.example.com/team/app.git", "ssh://git@host/app.git",
                "git@github.com:team/app.git"):
        assert check_repo_url(url) == url


def test_the_cache_clones_once_fetches_after_and_pushes_a_run_branch_back(tmp_path: Path) -> None:
    origin = make_repo(tmp_path / "origin", {"app.py": "x = 1\n"})
    cache = tmp_path / "cache"
    clone = sync_repo(origin.as_uri(), cache)
    (origin / "app.py").write_text("x = 2\n")
    git(origin, "commit", "-qam", "two")
    assert sync_repo(origin.as_uri(), cache) == clone  # the same clone, brought up to date
    assert (clone / "app.py").read_text() == "x = 2\n"
    assert not fetch_run_branch(clone, "r1")  # nothing pushed yet
    git(clone, "branch", "orchestrator/r1")
    push_run_branch(clone, "r1")
    assert git(origin, "rev-parse", "orchestrator/r1") == git(clone, "rev-parse", "orchestrator/r1")
    other = sync_repo(origin.as_uri(), tmp_path / "cache2")  # another worker takes the run over
    assert fetch_run_branch(other, "r1")
    assert git(other, "rev-parse", "orchestrator/r1") == git(origin, "rev-parse", "orchestrator/r1")


def test_help_and_validate_import_no_postgres_library() -> None:
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys\nfrom orchestrator.cli import main\nfor argv in (['--help'], ['worker', '--help'], "
            "['validate', 'workflows/feature.yaml']):\n    try:\n        main(argv)\n    except SystemExit:\n"
            "        pass\nprint('HEAVY', sorted(m for m in ('psycopg', 'procrastinate',"
            " 'langgraph.checkpoint.postgres', 'litellm', 'langgraph') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr
