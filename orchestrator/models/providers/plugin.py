"""The built-in in-process providers' plugin: they register through the same hook a third-party package uses."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.plugins import hookimpl


@hookimpl
def register_providers(register: Callable[..., None]) -> None:
    """local (the embedded llama.cpp models), scripted and function (the fakes)."""
    from orchestrator.models.providers.offline import serve_fake, serve_local

    register("local", serve_local)
    register("scripted", serve_fake)
    register("function", serve_fake)
