"""The built-in agent tools' plugin: they register through the same hook a third-party package uses."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.plugins import hookimpl


@hookimpl
def register_tools(register: Callable[..., None]) -> None:
    """read_file, list_files, search, write_file, append_file, edit, run_tests and git_diff."""
    from orchestrator.agents.builtin_tools import BUILTIN_TOOLS

    for function, options in BUILTIN_TOOLS:
        register(function, **options)
