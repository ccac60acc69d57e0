"""Shared test support for the routing tests: a registry with distinct models per rung, and a request builder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.models.registry import Registry, load_registry
from orchestrator.routing.base import RouteRequest

MODELS_YAML = """
models:
  test/cheap:
    context_window: 16000
    input_cost_per_token: 0.0000001
    output_cost_per_token: 0.0000004
    typical_latency_s: 2.0
    supports_tools: true
    tags: [fast]
  test/cheap-eu:
    context_window: 16000
    input_cost_per_token: 0.0000002
    output_cost_per_token: 0.0000008
    typical_latency_s: 3.0
    supports_tools: true
    tags: [residency:eu]
  test/mid:
    context_window: 128000
    input_cost_per_token: 0.000001
    output_cost_per_token: 0.000004
    typical_latency_s: 6.0
    supports_tools: true
  test/notools:
    context_window: 32000
    input_cost_per_token: 0.0000005
    output_cost_per_token: 0.000002
    typical_latency_s: 1.0
    supports_tools: false
  test/strong:
    context_window: 200000
    input_cost_per_token: 0.000003
    output_cost_per_token: 0.000015
    typical_latency_s: 12.0
    supports_tools: true
    tags: [residency:eu]
profiles:
  cheapest: [test/cheap, test/cheap-eu]
  high_throughput: [test/mid, test/notools]
  high_reasoning: [test/strong]
  massive_context: [test/strong]
  specialist_sql: [test/notools]
ladder: [cheapest, high_throughput, high_reasoning]
roles:
  builder: high_throughput
  critic: high_reasoning
  dispatcher: cheapest
  scribe: test/mid
"""


def make_registry(tmp_path: Path) -> Registry:
    """A registry whose repo layer defines the test models, profiles and ladder above (no user layer)."""
    repo = tmp_path / "repo"
    (repo / ".orchestrator").mkdir(parents=True, exist_ok=True)
    (repo / ".orchestrator" / "models.yaml").write_text(MODELS_YAML)
    # Module-scoped callers run before conftest's per-test isolation, so keep ~/.config out here too.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
        return load_registry(repo)


def request(text: str = "Add a subtract function to calc.py.", **fields: Any) -> RouteRequest:
    """A builder request on high_throughput unless fields say otherwise."""
    fields.setdefault("persona", "builder")
    fields.setdefault("step", "build")
    fields.setdefault("profile", "high_throughput")
    return RouteRequest(text=text, **fields)


def candidates(registry: Registry, persona: str = "builder") -> list[str]:
    """The persona's resolved models in failover order."""
    return list(registry.resolve(persona).models)
