"""The docs hold together: the site builds with strict link checks, the README stays a five-minute read whose
links all land, and no page speaks of the project's own work history."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DOCS, ROOT


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None,
                    reason="mkdocs-material is not installed (the dev extra brings it)")
def test_the_site_builds_with_strict_checks(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "authoring" / "index.html").is_file()


def test_the_readme_is_short_and_its_links_land() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 100
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        assert (ROOT / target).exists(), target
    for must in ("make run", "make test", "docs/img/report.png", ".orchestrator/models.yaml", "--dry-run", "none of 8"):
        assert must in readme, must


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert [p for p in pages if f": {p}" not in nav] == []


def test_no_page_speaks_of_work_sessions() -> None:
    for page in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"\bsession \d|\ban earlier session\b|\bthis session\b", text, re.I), page


def test_the_readme_models_yaml_takes_every_role_off_the_embedded_team(tmp_path: Path, monkeypatch) -> None:
    """A core install (no [local] extra) runs the shipped workflows with the README's models.yaml."""
    from orchestrator.agents.personas import known_personas
    from orchestrator.models.check import missing_local_install
    from orchestrator.models.registry import load_registry

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "profiles:" in b)
    (tmp_path / ".orchestrator").mkdir()
    (tmp_path / ".orchestrator" / "models.yaml").write_text(block)
    registry = load_registry(tmp_path)
    personas = known_personas()
    assert [p for p in personas if any(m.startswith("local/") for m in registry.resolve(p).models)] == []
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)  # no llama_cpp, no weight wheels
    assert missing_local_install(registry, personas) == []
