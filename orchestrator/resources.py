"""Where shipped data lives: workflows and personas from a source checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def shipped_dir(kind: str) -> Path:
    """Folder of shipped `workflows` or `personas`.

    A wheel carries them inside the package (`orchestrator/_shipped/<kind>`); a source checkout or an
    editable install reads the top-level folders of the repository.
    """
    packaged = _PACKAGE_DIR / "_shipped" / kind
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent / kind


def defaults_file(name: str) -> Path:
    """A file under `orchestrator/defaults/` (shipped models.yaml and friends)."""
    return _PACKAGE_DIR / "defaults" / name
