"""Plugins: the registries behind gate kinds, routing strategies, tools and providers, the reference generated from
them, and the example plugin installed offline and run in a workflow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Annotated

import pytest
import yaml
from conftest import git, make_repo
from pydantic import Field

from orchestrator.agents.tool_registry import tool_from_function
from orchestrator.cli.reference import BLOCKS, ROOT, generated_blocks, with_block
from orchestrator.errors import PluginError, ToolError, WorkflowValidationError
from orchestrator.workflow.validate import load_workflow

PLUGIN = ROOT / "examples" / "plugin"


def test_the_docs_reference_tables_are_the_ones_generated_from_the_registries() -> None:
    for name, body in generated_blocks().items():
        page = ROOT / BLOCKS[name]
        text = page.read_text(encoding="utf-8")
        assert with_block(text, name, body) == text, (
            f"{BLOCKS[name]}: the {name} table is stale; run `python -m orchestrator.cli.reference`")


def test_every_built_in_registers_through_its_hook() -> None:
    from orchestrator.gates.kind import gate_kinds
    from orchestrator.models.providers.registry import provider_names
    from orchestrator.plugins import registrations
    from orchestrator.routing.registry import strategy_names

    found = registrations()
    assert found["orchestrator.gates.plugin"]["register_gate_kinds"] == list(gate_kinds()) == [
        "quality", "red", "review", "acceptance", "spec"]
    assert found["orchestrator.routing.plugin"]["register_routing_strategies"] == strategy_names()
    assert found["orchestrator.models.providers.plugin"]["register_providers"] == provider_names() == [
        "local", "scripted", "function"]
    assert "edit" in found["orchestrator.agents.plugin"]["register_tools"]


def test_unknown_gate_kind_strategy_and_tool_are_located_errors(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(textwrap.dedent("""\
        name: w
        routing: cascad
        gates:
          tests: {kind: qualty, commands: [{name: t, run: [pytest]}]}
          nokind: {critics: [critic]}
        steps:
          - id: build
            persona: builder
            opening: [edti]
            next: check
          - {id: check, type: gate, gate: tests}
        """))
    with pytest.raises(WorkflowValidationError) as caught:
        load_workflow(path)
    problems = caught.value.problems
    assert f"{path}:2: routing.default.strategy: unknown routing strategy 'cascad'. Did you mean 'cascade'?" in (
        problems[0])
    assert problems[1].startswith(f"{path}:4: gates.tests: unknown gate kind 'qualty'. Did you mean 'quality'?")
    assert problems[2].startswith(f"{path}:5: gates.nokind: a gate needs `kind`, one of: quality, red,")
    assert problems[3].startswith(f"{path}:9: steps[0].opening[0]: unknown tool 'edti'. Did you mean 'edit'?")
    # The cut gate is not reported again as an unknown gate of the step that names it.
    assert len(problems) == 4


def test_a_gate_kind_takes_only_its_own_fields(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("name: w\ngates:\n  r:\n    kind: review\n    critics: [critic]\n    commands: []\n"
                    "    moderater: critic\nsteps:\n  - {id: check, type: gate, gate: r}\n")
    with pytest.raises(WorkflowValidationError) as caught:
        load_workflow(path)
    assert caught.value.problems == [f"{path}:6: gates.r.commands: unknown key 'commands'.",
                                     f"{path}:7: gates.r.moderater: unknown key 'moderater'. Did you mean 'moderator'?"]


def _count_words(box: object, path: Annotated[str, Field(description="A file.")],
                 limit: Annotated[int | None, Field(ge=1, description="Stop counting here.")] = None) -> str:
    """Count the words of a file.

    Only the first paragraph is the description."""
    return f"{path}:{limit}"


def test_a_tool_s_schema_and_validation_come_from_its_signature() -> None:
    tool = tool_from_function(_count_words, name="count_words")
    assert tool.spec.description == "Count the words of a file."
    assert tool.spec.parameters == {
        "type": "object", "additionalProperties": False, "required": ["path"],
        "properties": {"path": {"type": "string", "description": "A file."},
                       "limit": {"type": "integer", "minimum": 1, "description": "Stop counting here."}}}
    assert tool.validate({"path": "a.py"}) == {"path": "a.py"}
    with pytest.raises(ToolError, match="argument 'limit'"):
        tool.validate({"path": "a.py", "limit": "3"})  # strict: no coercion
    with pytest.raises(ToolError, match="unknown argument 'lines'"):
        tool.validate({"path": "a.py", "lines": 3})


def test_a_tool_without_a_docstring_an_annotation_or_a_free_name_is_refused() -> None:
    def nodoc(box: object, path: str) -> str:
        return path

    def untyped(box: object, path) -> str:  # noqa: ANN001 - the point of the test
        """Untyped."""
        return str(path)

    with pytest.raises(PluginError, match="docstring"):
        tool_from_function(nodoc)
    with pytest.raises(PluginError, match="needs a type annotation"):
        tool_from_function(untyped)
    with pytest.raises(PluginError, match="not one of"):
        tool_from_function(_count_words, name="finish")


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin installed from a copy of its folder into a throwaway target, without the network."""
    work = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(PLUGIN, work / "src")  # the build leaves build/ and *.egg-info next to its source
    target = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(source)], check=True, capture_output=True, text=True)
    assert (next(target.glob("*.dist-info")) / "entry_points.txt").read_text().split() == [
        "[orchestrator]", "example", "=", "orchestrator_example_plugin"]
    return target


RUN = """
import json, sys
from pathlib import Path
from orchestrator.runner import RunOptions, start_run
from orchestrator.store.log import RunLog

repo, script = Path(sys.argv[1]), sys.argv[2]
outcome = start_run(RunOptions(workflow="plug", repo=repo, task="Note how long calc.py is",
                               model_overrides={"counter": "scripted:" + script}, approve="auto"))
log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
print(json.dumps({"status": outcome.status, "events": log.events(outcome.run_id),
                  "decisions": log.decisions(outcome.run_id)}, default=str))
"""


def _plugin_repo(tmp_path: Path) -> tuple[Path, Path]:
    """A repo with a workflow using the plugin's gate, strategy and tool, and the counter's scripted replies."""
    repo = make_repo(tmp_path / "app", {"calc.py": "def add(a, b):\n    return a + b\n"})
    flow = {"name": "plug", "routing": {"personas": {"counter": "last_first"}},
            "gates": {"notes": {"kind": "files_exist", "paths": ["calc.py", "NOTES.md"]}},
            "steps": [{"id": "count", "persona": "counter", "next": "check"},
                      {"id": "check", "type": "gate", "gate": "notes", "on_fail": "stop"}]}
    persona = {"name": "counter", "goal": "Write down how long the code is.", "tools": ["count_lines", "write_file"]}
    for rel, data in ((".orchestrator/workflows/plug.yaml", flow), (".orchestrator/personas/counter.yaml", persona)):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(yaml.safe_dump(data, sort_keys=False))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "plugin workflow")
    script = tmp_path / "replies.yaml"
    script.write_text(yaml.safe_dump({"counter": [
        {"tool": "count_lines", "arguments": {"path": "calc.py"}},
        {"tool": "write_file", "arguments": {"path": "NOTES.md", "content": "calc.py: 2 lines\n"}},
        {"tool": "finish", "arguments": {"summary": "wrote NOTES.md"}}]}))
    return repo, script


def test_the_example_plugin_s_gate_strategy_and_tool_run_in_a_workflow(installed_plugin: Path, tmp_path: Path) -> None:
    repo, script = _plugin_repo(tmp_path)
    env = {**os.environ, "PYTHONPATH": f"{installed_plugin}:{ROOT}"}  # the isolated user config goes along
    validate = subprocess.run([sys.executable, "-c", "import sys; from orchestrator.cli import main; "
                               "sys.exit(main(sys.argv[1:]))", "validate", "plug", "--repo", str(repo)],
                              capture_output=True, text=True, env=env)
    assert validate.returncode == 0, validate.stderr
    done = subprocess.run([sys.executable, "-c", RUN, str(repo), str(script)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "done"
    calls = [e["data"] for e in result["events"] if e["kind"] == "tool_call" and e["data"]["tool"] == "count_lines"]
    assert calls and calls[0]["status"] == "ok" and calls[0]["output"] == "calc.py: 2 lines"
    gate = next(e["data"] for e in result["events"] if e["kind"] == "gate" and e["step"] == "check")
    assert (gate["gate_kind"], gate["verdict"], gate["reason"]) == ("files_exist", "pass", "all 2 file(s) exist")
    counted = [d for d in result["decisions"] if d["persona"] == "counter"]
    assert counted and {d["strategy"] for d in counted} == {"last_first"}
    assert "last_first: the last listed model first" in counted[0]["reason"]


def test_without_the_plugin_its_names_are_unknown(tmp_path: Path) -> None:
    repo, _ = _plugin_repo(tmp_path)
    with pytest.raises(WorkflowValidationError) as caught:
        load_workflow("plug", repo=repo)
    assert any("unknown gate kind 'files_exist'" in p for p in caught.value.problems)
    assert any("unknown routing strategy 'last_first'" in p for p in caught.value.problems)
