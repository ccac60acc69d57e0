"""Spend caps that hold across processes and machines: reserved in the store before a call, settled after.

Each capped scope is one row of the store's `budgets` table ("run:<id>", or a named scope such as
"team:web"). A reservation is one conditional `UPDATE ... RETURNING` per scope, in one transaction: the
row changes only while spent + reserved + this estimate stays within the cap, so concurrent callers in any
number of workers can never pass it together. Settling swaps the estimate for the call's real cost.
A worker killed mid-call leaves its reservation held: the cap errs on the safe side (`budget show` lists it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError, RunStopped
from orchestrator.store.db import connect
from orchestrator.store.schema import migrate


class SpendCapReached(RunStopped):
    """A shared spend cap would be crossed; the call is not made, the run stops resumable (exit code 3)."""


@dataclass(frozen=True)
class Reservation:
    """What one call holds against its scopes until it is settled."""

    scopes: tuple[str, ...]
    usd: float


class SpendLedger:
    """The store's spend caps: set a cap, reserve before a call, settle or release after it."""

    def __init__(self, store: Path | str):
        self.db = connect(store)
        migrate(self.db)

    def close(self) -> None:
        """Close the ledger's own connection."""
        self.db.close()

    def set_cap(self, scope: str, cap_usd: float) -> None:
        """Create a scope with this cap, or change its cap (what it spent is kept)."""
        if not scope.strip() or cap_usd < 0:
            raise ConfigError(f"budget scope {scope!r}: give a name and a cap of 0 or more dollars")
        with self.db:
            self.db.execute("INSERT INTO budgets (scope, cap_usd, updated) VALUES (?, ?, ?) ON CONFLICT (scope) "
                            "DO UPDATE SET cap_usd = excluded.cap_usd, updated = excluded.updated",
                            (scope, float(cap_usd), time.time()))

    def reserve(self, scopes: list[str], usd: float) -> Reservation:
        """Hold `usd` against every scope at once, or raise SpendCapReached naming the scope that refused."""
        usd = max(0.0, float(usd))
        with self.db:
            for scope in scopes:
                row = self.db.execute(
                    "UPDATE budgets SET reserved_usd = reserved_usd + ?, updated = ? WHERE scope = ? "
                    "AND spent_usd + reserved_usd + ? <= cap_usd RETURNING scope", (usd, time.time(), scope, usd),
                ).fetchone()
                if row is None:
                    raise self._refusal(scope, usd)  # leaving the block rolls back the scopes already held
        return Reservation(tuple(scopes), usd)

    def settle(self, reservation: Reservation, usd: float) -> None:
        """Replace a call's reservation by what it really cost (0 when it failed before any spend)."""
        if not reservation.scopes:
            return
        marks = ", ".join("?" * len(reservation.scopes))
        sql = (f"UPDATE budgets SET reserved_usd = {self._max}(reserved_usd - ?, 0), spent_usd = spent_usd + ?, "
               f"updated = ? WHERE scope IN ({marks})")
        with self.db:
            self.db.execute(sql, (reservation.usd, max(0.0, float(usd)), time.time(), *reservation.scopes))

    def scopes(self) -> list[dict[str, Any]]:
        """Every scope with its cap, spend and what is reserved now."""
        rows = self.db.execute("SELECT scope, cap_usd, spent_usd, reserved_usd FROM budgets ORDER BY scope")
        return [dict(row) for row in rows.fetchall()]

    def scope(self, scope: str) -> dict[str, Any] | None:
        """One scope's row, or None."""
        row = self.db.execute("SELECT scope, cap_usd, spent_usd, reserved_usd FROM budgets WHERE scope = ?",
                              (scope,)).fetchone()
        return dict(row) if row else None

    @property
    def _max(self) -> str:
        """The two-argument maximum: MAX in SQLite, GREATEST in Postgres."""
        return "GREATEST" if self.db.dialect == "postgres" else "MAX"

    def _refusal(self, scope: str, usd: float) -> SpendCapReached:
        """The error for a refused reservation, with the scope's figures (or the fix for an unknown scope)."""
        row = self.scope(scope)
        if row is None:
            return SpendCapReached(f"budget scope {scope!r} is not in the store; set its cap with "
                                   f"`orchestrator budget set {scope} USD`")
        return SpendCapReached(
            f"{scope} spend cap of ${row['cap_usd']:.4f} would be exceeded: ${row['spent_usd']:.4f} spent + "
            f"${row['reserved_usd']:.4f} held by calls in flight + ${usd:.4f} estimated for this call; the call "
            f"was not made. Raise it with `orchestrator budget set {scope} USD`.")


@dataclass
class SharedCaps:
    """A run's shared caps: its own scope ("run:<id>") when it has a usd cap, and the named scopes it joined."""

    ledger: SpendLedger
    scopes: list[str]

    def reserve(self, usd: float) -> Reservation:
        """Hold a call's estimate against every scope of the run."""
        return self.ledger.reserve(self.scopes, usd)

    def settle(self, reservation: Reservation, usd: float) -> None:
        """Swap a call's estimate for its real cost."""
        self.ledger.settle(reservation, usd)

    def close(self) -> None:
        """Close the ledger's connection."""
        self.ledger.close()


def shared_caps(target: Path | str, run_id: str, run_usd: float | None, named: list[str]) -> SharedCaps | None:
    """The run's shared caps in the store (None when it has no usd cap and joined no scope).

    A named scope must already exist (`orchestrator budget set`): a typo must not run uncapped."""
    if run_usd is None and not named:
        return None
    ledger = SpendLedger(target)
    try:
        missing = [scope for scope in named if ledger.scope(scope) is None]
        if missing:
            raise ConfigError(f"--budget-scope {missing[0]!r}: no such scope in the store; create it with "
                              f"`orchestrator budget set {missing[0]} USD`")
        scopes = list(named)
        if run_usd is not None:
            ledger.set_cap(f"run:{run_id}", run_usd)  # kept spend, and the cap a resume may have raised
            scopes.insert(0, f"run:{run_id}")
    except BaseException:
        ledger.close()
        raise
    return SharedCaps(ledger, scopes)
