"""CLI: documented commands, fast imports, exit codes, and a deterministic scripted run from the command line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import DOCS, docs_text, git
from scripts import feature_critic, feature_team
from typer.testing import CliRunner

from orchestrator.cli import app, main

ORCHESTRATOR = [sys.executable, "-c", "import sys; from orchestrator.cli import main; sys.exit(main())"]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*ORCHESTRATOR, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def command_paths() -> list[str]:
    """Every command and sub-command of the CLI, e.g. 'run', 'runs list', 'router eval'."""
    import typer.main

    root = typer.main.get_command(app)
    paths = []
    for name, command in root.commands.items():
        subs = getattr(command, "commands", None)
        paths += [f"{name} {sub}" for sub in subs] if subs else [name]
    return paths


@pytest.mark.parametrize("path", command_paths())
def test_every_command_has_help_and_is_in_the_docs(path: str) -> None:
    result = CliRunner().invoke(app, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    commands = (DOCS / "commands.md").read_text() + (DOCS / "routing.md").read_text()
    assert re.search(rf"orchestrator {re.escape(path)}\b", commands) or (
        path.split()[0] != path and f"orchestrator {path.split()[0]} " in commands and path.split()[1] in commands
    ), f"`orchestrator {path}` is not documented in docs/commands.md"


def test_help_imports_neither_litellm_nor_langgraph() -> None:
    code = ("import sys\nfrom orchestrator.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', sorted(m for m in ('litellm', 'langgraph', 'llama_cpp', 'torch', 'sklearn')"
            " if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_usage_errors_exit_2_and_config_errors_exit_1(tmp_path: Path) -> None:
    assert main(["run"]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["run", "feature", "--task", "x", "--repo", str(tmp_path), "--model", "builder"]) == 2
    proc = cli("run", "feature", "--task", "x", "--repo", str(tmp_path))
    assert proc.returncode == 1
    assert "not a git repository" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("run", "featur", "--task", "x", "--repo", str(tmp_path))
    assert proc.returncode == 1 and "Did you mean 'feature'?" in proc.stderr


def test_graph_prints_mermaid() -> None:
    proc = cli("graph", "feature")
    assert proc.returncode == 0
    assert "graph TD;" in proc.stdout and "quality -. pass / fail past max_rounds .-> review" in proc.stdout


def test_personas_and_models_tables() -> None:
    proc = cli("personas")
    assert proc.returncode == 0 and all(p in proc.stdout for p in ("surveyor", "critic", "dispatcher", "moderator"))
    proc = cli("models", "--model", "critic=scripted/critic")
    assert proc.returncode == 0 and "local/smollm2" in proc.stdout and "scripted/critic" in proc.stdout


def test_scripted_feature_run_from_the_cli(example_repo: Path, tmp_path: Path) -> None:
    script = tmp_path / "replies.yaml"
    script.write_text(yaml.safe_dump({**feature_team(), **feature_critic()}, sort_keys=False))
    model = f"scripted:{script}"
    roles = ["surveyor", "spec_writer", "tester", "builder", "dispatcher", "critic"]
    args = [arg for role in roles for arg in ("--model", f"{role}={model}")]
    proc = cli("run", "feature", "--repo", str(example_repo), "--task", "Add subtract(a, b)", *args,
               "--approve", "auto")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Run done" in proc.stdout and "critic and builder both resolve to" in proc.stdout
    branch = re.search(r"Branch: (\S+)", proc.stdout).group(1)
    assert "a - b" in git(example_repo, "show", f"{branch}:calc.py")
    run_id = branch.split("/", 1)[1]
    shown = cli("runs", "show", run_id, "--repo", str(example_repo))
    assert shown.returncode == 0 and "review" in shown.stdout and f"scripted:{script}" in shown.stdout
    listed = cli("runs", "list", "--repo", str(example_repo))
    assert run_id in listed.stdout


def test_exhausted_script_fails_loudly_naming_persona_and_call(example_repo: Path, tmp_path: Path) -> None:
    script = tmp_path / "short.yaml"
    script.write_text(yaml.safe_dump({"surveyor": [{"tool": "list_files", "arguments": {}}]}))
    proc = cli("run", "feature", "--repo", str(example_repo), "--task", "x", "--model",
               f"surveyor=scripted:{script}", "--approve", "auto")
    assert proc.returncode == 1
    assert "no reply left for persona 'surveyor' (call #2)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_docs_yaml_examples_are_valid(tmp_path: Path) -> None:
    from orchestrator.models.spec import RegistrySpec
    from orchestrator.workflow.validate import load_workflow

    blocks = re.findall(r"```yaml\n(.*?)```", docs_text(), re.S)
    workflow = next(b for b in blocks if b.startswith("name: feature"))
    path = tmp_path / "flow.yaml"
    path.write_text(workflow.replace("    on_pass: review                 # or end", "    on_pass: end"))
    load_workflow(path)
    routing = next(b for b in blocks if b.startswith("routing:"))
    path.write_text(workflow.replace("    on_pass: review                 # or end", "    on_pass: end") + routing)
    assert load_workflow(path).routing.personas["critic"].strategy == "rules"
    models = next(b for b in blocks if "profiles:" in b and "roles:" in b)
    RegistrySpec.model_validate(yaml.safe_load(models))
