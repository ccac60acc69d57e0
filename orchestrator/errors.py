"""One exception hierarchy for the whole tool; only the CLI turns these into messages and exit codes."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class OrchestratorError(Exception):
    """Base of every error the tool raises on purpose. Exit code 1 unless a subclass says otherwise."""

    exit_code = 1


class ConfigError(OrchestratorError):
    """Bad configuration: a workflow, persona, models.yaml or command-line binding."""


class WorkflowValidationError(ConfigError):
    """A workflow failed validation; carries every problem found, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class UnknownNameError(ConfigError):
    """A name (persona, profile, model, workflow, tool) that no registry knows."""

    def __init__(self, kind: str, name: str, known: Iterable[str], where: str = ""):
        self.kind, self.name = kind, name
        hint = did_you_mean(name, known)
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}unknown {kind} {name!r}.{hint}")


class PluginError(ConfigError):
    """A plugin failed to load or registered something unusable (a duplicate, a wrong type, a bad signature)."""


class ModelError(OrchestratorError):
    """A model call failed in a way the user must act on (missing key, outage, bad id)."""


class WeightsError(ModelError):
    """An embedded model's weights are missing or corrupt; the message names the command that fixes it."""


class ScriptExhaustedError(ModelError):
    """A scripted model ran out of queued replies: the test or script is wrong, so fail loudly."""


class RealRequestBlockedError(ModelError):
    """A real network model was called while real requests are switched off (tests, dry runs)."""


class ToolError(OrchestratorError):
    """An agent tool call was refused or failed; the message goes back to the agent, not the user."""


class SandboxViolation(ToolError):
    """A tool call tried to leave the worktree or run a command outside the allowlist."""


class WorkspaceError(OrchestratorError):
    """The target repository can't be used (not a git repo, no commits, worktree trouble)."""


class StoreError(OrchestratorError):
    """A state database (run log, checkpoints) can't be read or written: corrupt, or the disk is full."""


class RunBusy(OrchestratorError):
    """Another live process holds the run (running or resuming it); one process at a time."""


class SandboxUnavailable(ConfigError):
    """No sandbox mechanism works here and the user did not opt out with --unsafe-no-sandbox."""


class RunStopped(OrchestratorError):
    """A gate, cap, budget or human stopped the run; state is saved and the run is resumable."""

    exit_code = 3


class RunInterrupted(OrchestratorError):
    """The user stopped a run with Ctrl-C; its finished steps are saved and it resumes from there."""

    exit_code = 130


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest known name, or '' when nothing is close."""
    matches = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return f" Did you mean {matches[0]!r}?" if matches else ""
