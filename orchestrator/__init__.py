"""Agentic SDLC orchestrator: YAML workflows of personas, each on its own model, run against a git repo."""

__version__ = "0.1.0"
