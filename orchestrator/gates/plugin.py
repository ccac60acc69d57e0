"""The built-in gate kinds' plugin: they register through the same hook a third-party package uses."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.plugins import hookimpl


@hookimpl
def register_gate_kinds(register: Callable[..., None]) -> None:
    """quality, red, review, acceptance and spec."""
    from orchestrator.gates.builtin import AcceptanceGate, QualityGate, RedGate, ReviewGate, SpecGate

    for kind in (QualityGate, RedGate, ReviewGate, AcceptanceGate, SpecGate):
        register(kind)
