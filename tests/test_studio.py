"""langgraph.json names graphs that exist: each entry imports and is the compiled shipped workflow."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from conftest import ROOT

from orchestrator.workflow.validate import find_workflow, load_workflow


def test_every_graph_in_langgraph_json_is_the_compiled_shipped_workflow() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["dependencies"] == ["."] and set(config["graphs"]) == {"feature", "bugfix", "implement"}
    for name, ref in config["graphs"].items():
        path, _, attribute = ref.partition(":")
        spec = importlib.util.spec_from_file_location("studio_entry", ROOT / Path(path))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        graph = getattr(module, attribute)
        steps = {step.id for step in load_workflow(find_workflow(name)).steps}
        assert steps <= set(graph.get_graph().nodes), name
