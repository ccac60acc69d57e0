"""Shared fixtures: real requests blocked, real temporary git repos, the example project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "calc"
DOCS = ROOT / "docs"


def docs_text() -> str:
    """The user documentation the guard tests keep true: the README and every page of the docs site."""
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    return "\n\n".join(page.read_text(encoding="utf-8") for page in pages)

# Tests never touch the network: any non-local, non-scripted model raises before I/O.
os.environ["ORCHESTRATOR_BLOCK_REAL_REQUESTS"] = "1"
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# Gate commands (`python -m pytest` in a worktree) resolve python through PATH: use this venv's, and
# skip third-party pytest plugins there (langsmith's costs seconds per nested run).
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"


def git(cwd: Path, *args: str) -> str:
    """Run git in cwd and return stdout (tests only)."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_repo(path: Path, files: dict[str, str] | None = None, source: Path | None = None) -> Path:
    """A real git repo with one commit, from a folder to copy or a dict of files."""
    path.mkdir(parents=True, exist_ok=True)
    if source is not None:
        shutil.copytree(source, path, dirs_exist_ok=True)
    for name, text in (files or {}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "init", "--quiet", "--initial-branch=main")
    git(path, "config", "user.name", "Test User")
    git(path, "config", "user.email", "test@example.invalid")
    git(path, "add", "-A")
    git(path, "commit", "--quiet", "-m", "initial")
    return path


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """The shipped example project as a fresh git repo."""
    return make_repo(tmp_path / "app", source=EXAMPLE)


@pytest.fixture(autouse=True)
def _isolated_user_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's ~/.config/orchestrator out of every test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))


@pytest.fixture(autouse=True)
def _fresh_fakes():
    """Every test starts and ends with no registered scripted models."""
    from orchestrator.models.providers.scripted import reset_fakes
    from orchestrator.models.scope import reset_breakers

    reset_fakes()
    reset_breakers()
    yield
    reset_fakes()
    reset_breakers()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A calc project with subtract specified and tested, but not implemented."""
    from flows import calc_repo

    return calc_repo(tmp_path / "app")


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server for the `postgres` tests: ORCHESTRATOR_TEST_POSTGRES, else a throwaway local cluster."""
    import postgres

    if os.environ.get(postgres.URL_ENV):
        yield os.environ[postgres.URL_ENV]
        return
    if postgres.binaries() is None:
        pytest.skip("PostgreSQL is not installed (no initdb/pg_ctl): `apt-get install postgresql`, or set "
                    f"{postgres.URL_ENV}=postgresql://... to use a running server")
    with postgres.cluster() as url:
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the test server."""
    import postgres

    return postgres.fresh_database(pg_server)
