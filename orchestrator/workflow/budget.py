"""Budget caps as written in YAML or on the command line: tokens, dollars and seconds."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.errors import ConfigError


class BudgetSpec(BaseModel):
    """Caps for a run or a phase; a missing cap means no limit."""

    model_config = ConfigDict(extra="forbid")

    tokens: int | None = Field(None, ge=0, description="Maximum prompt + completion tokens.")
    usd: float | None = Field(None, ge=0, description="Maximum spend in US dollars.")
    seconds: float | None = Field(None, ge=0, description="Maximum wall time in seconds.")

    def merged(self, other: BudgetSpec | None) -> BudgetSpec:
        """These caps with `other`'s set values winning."""
        if other is None:
            return self
        return self.model_copy(update={k: v for k, v in other.model_dump().items() if v is not None})


def parse_budget(items: list[str]) -> BudgetSpec:
    """`["usd=0.50", "tokens=20000", "seconds=600"]` from the command line -> BudgetSpec."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in BudgetSpec.model_fields:
            raise ConfigError(f"--budget {item!r}: use usd=AMOUNT, tokens=COUNT or seconds=SECONDS")
        try:
            values[key] = float(value) if key != "tokens" else int(value)
        except ValueError:
            raise ConfigError(f"--budget {item!r}: {value!r} is not a number") from None
    return BudgetSpec(**values)
