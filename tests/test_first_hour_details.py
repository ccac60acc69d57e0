"""The smaller dead ends of a first hour: a str repo in the API, refusals in `runs show`, a readable approval
prompt that knows its roles, a down server named before the run, a prune that keeps unmerged work unless told,
labelled graph edges and no $0-vs-$0 price lines."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from conftest import git
from flows import CALC_FIXED, add_workflow, bind, run
from scripts import call, finish
from typer.testing import CliRunner

from orchestrator.cli import app, main
from orchestrator.errors import ConfigError
from orchestrator.models.providers.scripted import ScriptedModel


def test_load_workflow_takes_the_repo_as_a_string(repo: Path) -> None:
    import orchestrator

    add_workflow(repo, "mine", [{"id": "build", "persona": "builder", "next": "end"}])
    assert orchestrator.load_workflow("mine", repo=str(repo)).name == "mine"
    assert orchestrator.find_workflow("mine", str(repo)).name == "mine.yaml"


def test_runs_show_says_why_a_tool_call_was_refused(repo: Path) -> None:
    name = add_workflow(repo, "build_only", [{"id": "build", "persona": "builder", "next": "end"}], autonomy="L4")
    builder = ScriptedModel({"builder": [call("read_file", path="../outside.txt"),
                                         call("write_file", path="calc.py", content=CALC_FIXED), finish("done")]},
                            name="b")
    outcome = run(repo, name, bind(builder=builder))
    result = CliRunner().invoke(app, ["runs", "show", outcome.run_id, "--repo", str(repo)], terminal_width=400)
    row = next(line for line in result.output.splitlines() if "read_file" in line)
    assert "refused" in row and "outside" in row.split("refused", 1)[1], row


def _prompt(monkeypatch: pytest.MonkeyPatch, answers: list[str]) -> None:
    queue = iter(answers)
    monkeypatch.setattr(typer, "prompt", lambda *a, **k: next(queue))


def test_the_approval_prompt_prints_text_and_refuses_an_unknown_role(monkeypatch, tmp_path, capsys) -> None:
    from orchestrator.cli.run import ask_human

    _prompt(monkeypatch, ["rebind critc=high_reasoning", "approve"])
    pending = {"step": "sign_off", "run_id": "r1", "branch": "orchestrator/r1", "diff_stat": " calc.py | 3 +++",
               "verdicts": {"quality": "pass", "review": "pass"}}
    answer = ask_human(pending, tmp_path)
    out = capsys.readouterr().out
    assert "Gate verdicts: quality pass, review pass" in out and "{" not in out
    assert "Not rebound" in out and "Did you mean 'critic'?" in out
    assert answer == {"decision": "approve", "comment": "", "models": {}}


def test_a_persona_whose_only_server_is_down_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    from orchestrator.models.registry import load_registry
    from orchestrator.run.preflight import check_keys

    # A server entry lives in the user's own config (a repository's may not choose endpoints: docs/security.md).
    folder = Path(os.environ["XDG_CONFIG_HOME"]) / "orchestrator"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "models.yaml").write_text(
        "models:\n  openai/mine:\n    api_base: http://127.0.0.1:9/v1\n    input_cost_per_token: 0.0\n"
        "    output_cost_per_token: 0.0\nroles:\n  builder: openai/mine\n")
    registry = load_registry(tmp_path)
    with pytest.raises(ConfigError, match=r"openai/mine \(used by persona builder\): http://127\.0\.0\.1:9/v1 "
                                          r"unreachable within 3s"):
        check_keys(registry, ["builder"])


def _finished_run(repo: Path):
    name = add_workflow(repo, "build_only", [{"id": "build", "persona": "builder", "next": "end"}], autonomy="L4") \
        if not (repo / ".orchestrator" / "workflows" / "build_only.yaml").exists() else "build_only"
    builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED), finish("done")]},
                            name="b")
    return run(repo, name, bind(builder=builder))


def test_prune_keeps_unmerged_branches_and_its_dry_run_removes_nothing(repo: Path, capsys) -> None:
    first, second = _finished_run(repo), _finished_run(repo)
    git(repo, "merge", "--quiet", "--ff-only", second.branch)  # the user merged the second run's work
    capsys.readouterr()
    assert main(["runs", "prune", "--repo", str(repo), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would remove run" in out and "nothing was" in out
    assert git(repo, "branch", "--list", first.branch).strip() and git(repo, "branch", "--list", second.branch).strip()
    assert main(["runs", "prune", "--repo", str(repo)]) == 0
    assert "--delete-unmerged deletes it" in capsys.readouterr().out
    assert git(repo, "branch", "--list", first.branch).strip()  # unmerged: kept
    assert not git(repo, "branch", "--list", second.branch).strip()  # merged: its work is in HEAD


def test_graph_labels_each_conditional_edge(capsys) -> None:
    assert main(["graph", "feature"]) == 0
    out = capsys.readouterr().out
    assert "quality -. pass / fail past max_rounds .-> review;" in out and "quality -. fail .-> build;" in out
    assert "review -. fail .-> build;" in out and "review -. pass .-> sign_off;" in out
    assert "escalate -. one rung up .-> build;" in out
    assert " -.-> " not in out  # every conditional edge says when it is taken


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs the [local] extra")
def test_counting_tokens_with_a_local_tokenizer_prints_nothing() -> None:
    # llama.cpp warns `n_ctx_seq (512) > n_ctx_train (0)` on fd 2 when a vocab-only context opens; in a run that
    # line landed between the progress lines.
    code = ("from orchestrator.models.tokens import count_prompt_tokens\n"
            "print(count_prompt_tokens('local/smollm2', 'hello ' * 40)[1])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() in ("tokenizer", "estimate"), proc.stderr
    assert proc.stderr == ""


def test_a_call_to_a_server_that_is_down_says_so_instead_of_an_internal_error() -> None:
    from orchestrator.models import catalog, gateway

    class InternalServerError(Exception):
        pass

    catalog.publish_entries({"openai/mine": {"api_base": "http://127.0.0.1:9/v1"}})
    error = gateway._translate(InternalServerError("Connection error."), "openai/mine", "openai/mine")
    assert "The model's server does not answer: http://127.0.0.1:9/v1 unreachable within 3s" in str(error)
    assert "internal error" not in str(error)
