"""pytest plugin the gates load under a random module name: collected ids and every test report, as they happen.

It imports nothing of the orchestrator, so it works in whatever environment runs the target's tests.
Records go to an inherited file descriptor (no path inside the sandbox names the file), each one chained
to the one before with an HMAC whose key arrived on a pipe that is read and closed before any test code
is imported. The gate computes the verdict from these records; a missing, reordered or forged record
makes the run unjudgeable, never a pass.
"""

import hashlib
import hmac
import json
import os
import sys


def _take_key():
    fd = int(os.environ.pop("ORCHESTRATOR_PROBE_IN_FD"))
    try:
        return os.read(fd, 256).strip()
    finally:
        os.close(fd)


def _writer():
    """A closure holding the key and the chain: nothing at module level names them."""
    key, out = _take_key(), int(os.environ.pop("ORCHESTRATOR_PROBE_FD"))
    state = {"seq": 0, "mac": ""}

    def emit(kind, data):
        line = json.dumps({"seq": state["seq"], "kind": kind, "data": data}, sort_keys=True)
        mac = hmac.new(key, (state["mac"] + line).encode(), hashlib.sha256).hexdigest()
        os.write(out, (line + "\t" + mac + "\n").encode())
        state["seq"] += 1
        state["mac"] = mac

    return emit


_emit = _writer()
# Type comments, not annotations: the target's Python may predate the annotation syntax used elsewhere.
_manager = []  # type: list[object]
_UNTRUSTED = [p for p in os.environ.pop("ORCHESTRATOR_PROBE_UNTRUSTED", "").split(os.pathsep) if p]
_SANDBOXED = os.environ.pop("ORCHESTRATOR_PROBE_SANDBOXED", "") == "1"


def _plugin_names(pluginmanager):
    """Registered plugins, named the same way in every checkout: module name, conftest path, or class."""
    names = []
    for _name, plugin in pluginmanager.list_name_plugin():
        if plugin is None or plugin is sys.modules.get(__name__):
            continue
        path = getattr(plugin, "__file__", None)
        if path and os.path.basename(path) == "conftest.py":
            names.append("conftest:" + os.path.relpath(path, os.getcwd()))
        elif hasattr(plugin, "__name__") and type(plugin).__name__ == "module":
            names.append(plugin.__name__)
        else:
            names.append(type(plugin).__module__ + "." + type(plugin).__qualname__)
    return sorted(set(names))


def _trusted(dist):
    """An installed distribution outside the worktree and temporary folders and, in the sandbox, read-only."""
    location = os.path.realpath(str(dist.locate_file("")))
    if any(location == p or location.startswith(p.rstrip("/") + "/") for p in _UNTRUSTED):
        return False
    return not _SANDBOXED or not os.access(location, os.W_OK)  # a read-only mount: no test wrote it


def pytest_addhooks(pluginmanager):
    # The gate sets PYTEST_DISABLE_PLUGIN_AUTOLOAD: a *.dist-info in the worktree must not load. Plugins
    # installed where tests can't write (the environment's site-packages) still load, as they would anyway.
    from importlib import metadata

    for dist in metadata.distributions():
        for entry in dist.entry_points:
            if entry.group != "pytest11" or not _trusted(dist) or pluginmanager.get_plugin(entry.name):
                continue
            if pluginmanager.is_blocked(entry.name):
                continue
            pluginmanager.register(entry.load(), name=entry.name)


# Hooks take what they use as default arguments (pluggy passes none of those): rebinding a module global
# from code under test changes nothing they do.


def pytest_configure(config, _emit=_emit, _plugins=_plugin_names, _manager=_manager):
    # One module that fails to import would interrupt the session before any test runs, and every other test
    # would then look lost or skipped; the gates judge test by test, so the rest still runs.
    config.option.continue_on_collection_errors = True
    _manager.append(config.pluginmanager)
    _emit("start", {"plugins": _plugins(config.pluginmanager)})


def pytest_collectreport(report, _emit=_emit):
    if report.failed:
        _emit("collect_error", {"nodeid": report.nodeid or ".", "text": str(report.longrepr)[-1500:]})


def pytest_collection_finish(session, _emit=_emit, _plugins=_plugin_names):
    _emit("collected", {"ids": [item.nodeid for item in session.items],
                        "plugins": _plugins(session.config.pluginmanager)})


def pytest_runtest_logreport(report, _emit=_emit):
    if getattr(report, "wasxfail", None) is not None:
        outcome = "xpassed" if report.passed else "xfailed"
    elif report.failed:
        outcome = "failed" if report.when == "call" else "error"
    elif report.skipped:
        outcome = "skipped"
    else:
        outcome = "passed"
    _emit("report", {"nodeid": report.nodeid, "when": report.when, "outcome": outcome})


_last_plugins = []  # type: list[str]


def _plugins_now(_emit=_emit, _plugins=_plugin_names, _manager=_manager, _seen=_last_plugins):
    # A plugin registered by a test and gone again by the end would not show in the last list.
    plugins = _plugins(_manager[0]) if _manager else []
    if plugins != _seen:
        _seen[:] = plugins
        _emit("plugins", {"plugins": plugins})


def pytest_runtest_logstart(nodeid, _check=_plugins_now):
    _check()


def pytest_runtest_logfinish(nodeid, _check=_plugins_now):
    _check()


def pytest_sessionfinish(session, exitstatus, _emit=_emit, _plugins=_plugin_names):
    _emit("finish", {"exitstatus": int(exitstatus), "plugins": _plugins(session.config.pluginmanager)})
