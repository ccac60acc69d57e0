"""Agentic SDLC orchestrator: YAML workflows of personas, each on its own model, run against a git repo.

The Python API (imported on first use, so `import orchestrator` stays cheap): run_workflow, resume_run,
load_workflow, compile_workflow, and the option and outcome types they take and return.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "run_workflow": "orchestrator.runner",
    "resume_run": "orchestrator.runner",
    "RunOptions": "orchestrator.runner",
    "ResumeOptions": "orchestrator.runner",
    "RunOutcome": "orchestrator.run.outcome",
    "RunEvent": "orchestrator.store.events",
    "load_workflow": "orchestrator.workflow.validate",
    "find_workflow": "orchestrator.workflow.validate",
    "compile_workflow": "orchestrator.workflow.compile",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    """Import an API name from its module on first use."""
    if name not in _API:
        raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value
