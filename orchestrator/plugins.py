"""Plugins: the pluggy hooks through which built-ins and installed packages register gate kinds, routing
strategies, agent tools and in-process model providers.

Every extension comes in the same way. The built-in ones are plugin modules of this package (DEFAULT_PLUGINS,
imported by name, as simonw/llm and pytest do), and a third-party package declares an entry point in the
`orchestrator` group whose object carries `@hookimpl` functions. Each hook is called with one `register`
callback; the layer that owns the kind of extension (gates, routing, agents, models) passes its own and
checks what it is given. Plugins load once per process, on the first registry lookup, so `--help` never pays.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pluggy
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from orchestrator.errors import PluginError, did_you_mean

PROJECT = "orchestrator"
"""pluggy's project name and the entry-point group a third-party plugin declares."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

DEFAULT_PLUGINS = (
    "orchestrator.gates.plugin",
    "orchestrator.routing.plugin",
    "orchestrator.agents.plugin",
    "orchestrator.models.providers.plugin",
)
"""The built-in plugin modules; each registers its layer's built-ins through the same hooks a package uses."""

HOOKS = ("register_gate_kinds", "register_routing_strategies", "register_tools", "register_providers")


class Hooks:
    """The hook specifications: each is called once per registry with the `register` callback of that registry."""

    @hookspec
    def register_gate_kinds(self, register: Callable[..., None]) -> None:
        """Call `register(GateKindClass)` for each gate kind (a `orchestrator.gates.kind.GateKind` subclass)."""

    @hookspec
    def register_routing_strategies(self, register: Callable[..., None]) -> None:
        """Call `register(name, build, description=..., step_blind=False)` for each routing strategy."""

    @hookspec
    def register_tools(self, register: Callable[..., None]) -> None:
        """Call `register(function, effect="read")` for each agent tool; its signature is its argument schema."""

    @hookspec
    def register_providers(self, register: Callable[..., None]) -> None:
        """Call `register(name, serve)` for each in-process model provider (model ids `name/...`)."""


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager: the built-in plugins, then every installed `orchestrator` entry point."""
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(Hooks)
    for name in DEFAULT_PLUGINS:
        manager.register(importlib.import_module(name), name)
    try:
        manager.load_setuptools_entrypoints(PROJECT)
        manager.check_pending()  # a hook implementation no spec knows is a misspelled hook name
    except Exception as exc:  # a broken third-party package: name it instead of a traceback
        raise PluginError(f"an installed plugin (entry-point group {PROJECT!r}) failed to load: {exc}") from exc
    return manager


def call_hook(hook: str, register: Callable[..., None]) -> None:
    """Run one registration hook of every plugin with `register`; a plugin's own error names the plugin."""
    manager = plugin_manager()
    # Registration order (built-ins, then entry points), so a later plugin's name replaces an earlier one's.
    for impl in getattr(manager.hook, hook).get_hookimpls():
        try:
            impl.function(register=register)
        except PluginError as exc:
            raise PluginError(f"plugin {impl.plugin_name!r}: {exc}") from exc
        except Exception as exc:
            raise PluginError(f"plugin {impl.plugin_name!r} failed in {hook}: {type(exc).__name__}: {exc}") from exc


def registrations() -> dict[str, dict[str, list[str]]]:
    """{plugin: {hook: [names it registers]}}, for `orchestrator plugins`: each hook is run once more with a
    recorder, so what a plugin offers is listed even when a later plugin replaces it."""
    manager = plugin_manager()
    found: dict[str, dict[str, list[str]]] = {}
    for hook in HOOKS:
        for impl in getattr(manager.hook, hook).get_hookimpls():
            names: list[str] = []

            def record(*args: Any, names: list[str] = names, **kwargs: Any) -> None:
                names.append(_registered_name(args, kwargs))

            impl.function(register=record)
            found.setdefault(impl.plugin_name, {})[hook] = names
    return found


def _registered_name(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The name one `register(...)` call gives: `name=`, a leading string, or the object's `name` or `__name__`."""
    if isinstance(kwargs.get("name"), str):
        return str(kwargs["name"])
    first = args[0] if args else None
    if isinstance(first, str):
        return first
    return str(getattr(first, "name", None) or getattr(first, "__name__", repr(first)))


def plugin_names() -> list[str]:
    """Names of the loaded plugins, built-ins first (for `orchestrator plugins`)."""
    manager = plugin_manager()
    return [name for name, _ in manager.list_name_plugin() if name is not None]


def describe_plugins() -> dict[str, Any]:
    """{plugin name: its distribution 'name version', or 'built-in'}."""
    manager = plugin_manager()
    dists = {name: f"{dist.metadata['name']} {dist.version}" for plugin, dist in manager.list_plugin_distinfo()
             for name in [manager.get_name(plugin)] if name}
    return {name: dists.get(name, "built-in") for name in plugin_names()}


@dataclass(frozen=True)
class RegisteredName:
    """Pydantic marker on a `str` field that must name a registered extension (a routing strategy, a tool).

    The names are read when a value is checked and when the JSON Schema is built (as its `enum`), so a plugin's
    names are valid wherever a built-in's are; an unknown one is an `unknown_name` error with "Did you mean"."""

    what: str
    names: Callable[[], Iterable[str]]
    extra: tuple[str, ...] = ()
    """Names accepted beside the registered ones (e.g. the finishing calls a step adds itself)."""

    def known(self) -> list[str]:
        return [*self.names(), *self.extra]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), "enum": self.known()}

    def _check(self, value: str) -> str:
        known = self.known()
        if value not in known:
            raise PydanticCustomError("unknown_name", "unknown {what} {name}.{hint} Known: {known}",
                                      {"what": self.what, "name": repr(value), "hint": did_you_mean(value, known),
                                       "known": ", ".join(known)})
        return value
