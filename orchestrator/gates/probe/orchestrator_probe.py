"""pytest plugin the gates load with `-p orchestrator_probe`: every collected test id and its outcome, as JSON.

It imports nothing of the orchestrator, so it works in whatever environment runs the target's tests.
The file it writes is named by ORCHESTRATOR_PROBE_OUT; no file means the run never finished.
"""

import json
import os

_collected = []
_collect_errors = {}
_phases = {}


def pytest_configure(config):
    # One module that fails to import would interrupt the session before any test runs, and every other test
    # would then look lost or skipped; the gates judge test by test, so the rest still runs.
    config.option.continue_on_collection_errors = True


def pytest_collectreport(report):
    if report.failed:
        _collect_errors[report.nodeid or "."] = str(report.longrepr)[-1500:]


def pytest_collection_finish(session):
    _collected[:] = [item.nodeid for item in session.items]


def pytest_runtest_logreport(report):
    if getattr(report, "wasxfail", None) is not None:
        outcome = "xpassed" if report.passed else "xfailed"
    elif report.failed:
        outcome = "failed" if report.when == "call" else "error"
    elif report.skipped:
        outcome = "skipped"
    else:
        outcome = "passed"
    _phases.setdefault(report.nodeid, []).append(outcome)


def _final(outcomes):
    """The worst phase wins: a passing call with a failing teardown is an error."""
    for worst in ("error", "failed", "xfailed", "skipped", "xpassed"):
        if worst in outcomes:
            return worst
    return "passed"


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("ORCHESTRATOR_PROBE_OUT")
    if not path:
        return
    data = {"collected": list(_collected), "collect_errors": dict(_collect_errors),
            "outcomes": {nodeid: _final(phases) for nodeid, phases in _phases.items()},
            "exitstatus": int(exitstatus)}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
