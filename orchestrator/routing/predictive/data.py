"""Reading preference and prompt CSV files for the predictive router, with errors that name file and column."""

from __future__ import annotations

import csv
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError

PREFERENCE_COLUMNS = ("source", "prompt", "weak_correct", "strong_correct")
PROMPT_COLUMNS = ("source", "prompt")
_TRUE, _FALSE = {"1", "true", "yes"}, {"0", "false", "no"}


def _raise_field_limit() -> None:
    """Allow very long prompts: the csv module refuses fields over 128 KiB by default."""
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 10


def read_csv_rows(path: str | Path, required: Sequence[str]) -> list[dict[str, str]]:
    """All rows of a CSV file with a header holding at least `required`; quoted multiline fields work."""
    path = Path(path)
    _raise_field_limit()
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                found = ", ".join(reader.fieldnames or []) or "no header"
                raise ConfigError(f"{path}: missing column(s) {', '.join(missing)} (found: {found}).")
            return [dict(row) for row in reader]
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found.") from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read as UTF-8 CSV ({exc}).") from exc


def as_label(value: Any, where: str) -> int:
    """A 0/1 correctness label from 0, 1, True, False or their string forms."""
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return 0
    raise ConfigError(f"{where}: expected 0 or 1, got {value!r}.")


def preference_arrays(rows: Sequence[Mapping[str, Any]], where: str = "rows") -> tuple[list, list, list, list]:
    """Prompts, sources, weak labels and strong labels of preference rows, validated."""
    if not rows:
        raise ConfigError(f"{where}: no rows to calibrate on.")
    missing = [c for c in PREFERENCE_COLUMNS if c not in rows[0]]
    if missing:
        raise ConfigError(f"{where}: missing column(s) {', '.join(missing)}.")
    prompts = [str(r["prompt"] or "") for r in rows]
    sources = [str(r["source"] or "").strip() for r in rows]
    # Rows are numbered from 1 after the header; multiline prompts make CSV line numbers misleading.
    weak = [as_label(r["weak_correct"], f"{where}: row {i + 1}: weak_correct") for i, r in enumerate(rows)]
    strong = [as_label(r["strong_correct"], f"{where}: row {i + 1}: strong_correct") for i, r in enumerate(rows)]
    return prompts, sources, weak, strong
