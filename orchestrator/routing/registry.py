"""The routing strategies registry: each strategy is a name and a builder, registered through the plugin hook
`register_routing_strategies(register)` by the built-ins and by plugins alike."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError, PluginError, did_you_mean

if TYPE_CHECKING:
    from orchestrator.routing.base import RoutingStrategy

StrategyBuilder = Callable[..., "RoutingStrategy"]
"""(the RoutingSpec, the model Registry, the state folder, the workflow's folder or None) -> a strategy.
(Spelled with `...`: the spec module checks names against this registry, so it can't be imported here.)"""

STRATEGY_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class StrategyEntry:
    """A registered routing strategy: its builder, one line on what it does, and whether it honours a step's
    `stakes: high` and `interactive: true` (a step-blind strategy picks regardless, so `validate` refuses the pair)."""

    name: str
    build: StrategyBuilder
    description: str = ""
    step_blind: bool = False


@functools.cache
def routing_strategies() -> dict[str, StrategyEntry]:
    """{name: entry} of every registered routing strategy, built-ins first."""
    from orchestrator.plugins import call_hook

    found: dict[str, StrategyEntry] = {}

    def register(name: str, build: StrategyBuilder, *, description: str = "", step_blind: bool = False) -> None:
        if not isinstance(name, str) or not STRATEGY_NAME.match(name):
            raise PluginError(f"routing strategy name must be lower-case letters, digits, _ and -, got {name!r}")
        if not callable(build):
            raise PluginError(f"routing strategy {name!r}: `build` must be callable, got {build!r}")
        found[name] = StrategyEntry(name, build, description or _first_line(build), step_blind)

    call_hook("register_routing_strategies", register)
    return found


def strategy_names() -> list[str]:
    """The names a workflow's `routing:` may use."""
    return list(routing_strategies())


def step_blind_strategies() -> tuple[str, ...]:
    """Strategies that can't honour a step's `stakes: high` or `interactive: true`."""
    return tuple(name for name, entry in routing_strategies().items() if entry.step_blind)


def strategy_entry(name: str) -> StrategyEntry:
    """The registered strategy `name`; an unknown one says which exist."""
    strategies = routing_strategies()
    if name not in strategies:
        raise ConfigError(f"unknown routing strategy {name!r}.{did_you_mean(name, strategies)} "
                          f"Known: {', '.join(strategies)}")
    return strategies[name]


def _first_line(obj: Any) -> str:
    return ((getattr(obj, "__doc__", None) or "").strip().splitlines() or [""])[0]
