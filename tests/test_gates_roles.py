"""Roles checked for every critic and moderator; keys checked before the first phase; packets keep the report."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import git
from flows import add_file, add_workflow

from orchestrator.agents.packets import build_packet
from orchestrator.errors import ConfigError
from orchestrator.models.registry import load_registry
from orchestrator.runner import RunOptions, start_run
from orchestrator.workflow.lint import workflow_roles
from orchestrator.workflow.validate import load_workflow

REVIEW_FLOW = [{"id": "build", "persona": "builder", "next": "review"},
               {"id": "review", "type": "gate", "gate": "review", "on_pass": "end", "on_fail": "build",
                "max_rounds": 1}]
TWO_CRITICS = {"review": {"kind": "review", "critics": ["critic", "security_critic"], "moderator": "moderator"}}


def _with_security_critic(repo: Path) -> Path:
    persona = "goal: Review for unsafe input.\ntools: [read_file]\n"
    add_file(repo, ".orchestrator/personas/security_critic.yaml", persona)
    add_workflow(repo, "two", REVIEW_FLOW, TWO_CRITICS)
    return repo / ".orchestrator" / "workflows" / "two.yaml"


def test_every_critic_and_the_moderator_must_differ_from_the_builder(repo: Path) -> None:
    spec = load_workflow(_with_security_critic(repo), repo)
    add_file(repo, ".orchestrator/models.yaml", yaml.safe_dump({
        "roles": {"builder": "scripted/cheap", "critic": "scripted/strong", "security_critic": "scripted/cheap",
                  "moderator": "scripted/cheap"}}))
    critics, builders, used = workflow_roles(spec)
    warnings = load_registry(repo).check_roles(critics=critics, builders=builders, used=used)
    assert [w.split(" both")[0] for w in warnings] == ["security_critic and builder", "moderator and builder"]
    with pytest.raises(ConfigError, match="role policy violated: security_critic and builder"):
        load_registry(repo).check_roles(strict=True, critics=critics, builders=builders, used=used)


def test_model_may_bind_any_persona_the_workflow_uses_without_a_warning(repo: Path) -> None:
    spec = load_workflow(_with_security_critic(repo), repo)
    critics, builders, used = workflow_roles(spec)
    registry = load_registry(repo, overrides={"security_critic": "scripted/strong", "sql_expert": "scripted/x"})
    warnings = registry.check_roles(critics=critics, builders=builders, used=used)
    assert not [w for w in warnings if "'security_critic'" in w]
    assert [w for w in warnings if w.startswith("--model binds 'sql_expert'")]


def test_a_missing_key_ends_the_run_before_any_phase(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    name = add_workflow(repo, "remote", [{"id": "build", "persona": "builder", "next": "end"}], autonomy="L4")
    branches = git(repo, "branch", "--list")
    with pytest.raises(ConfigError) as info:
        start_run(RunOptions(workflow=name, repo=repo, task="t", model_overrides={"builder": "openai/gpt-4o-mini"}))
    message = str(info.value)
    assert "openai/gpt-4o-mini (used by persona builder)" in message and "export OPENAI_API_KEY=" in message
    assert git(repo, "branch", "--list") == branches  # no worktree, no branch, no phase


def test_a_long_task_is_trimmed_before_the_gate_report_and_appears_once() -> None:
    task = "Fix the parser. " * 600  # about 9,600 characters: an issue text longer than SWE-bench's 90th percentile
    report = "Gate quality (quality): fail\n- 1 test(s) failing: tests/test_p.py::test_parse"
    sections = [("Task", task, int(1500 * 0.35)), ("Your step", "Implement (the task above)."),
                ("Last gate report", report), ("Spec", "x " * 5000)]
    packet = build_packet(sections, 1500)
    assert report in packet.text
    assert packet.trimmed[0] == "Task" and packet.text.count("Fix the parser.") < 200
    assert "Last gate report" in packet.kept


def test_persona_write_scopes_are_enforced_by_the_tools(repo: Path) -> None:
    from orchestrator.agents.personas import load_persona
    from orchestrator.agents.write_policy import WritePolicy
    from orchestrator.errors import ToolError

    tester = load_persona("tester")
    policy = WritePolicy(repo, role_scope=tester.writes, role="tester")
    policy.check_write("tests/test_new.py", "def test_x():\n    assert True\n")
    with pytest.raises(ToolError, match="calc.py: the tester writes only "):
        policy.check_write("calc.py", "def subtract(a, b):\n    return a - b\n")
    spec_writer = load_persona("spec_writer")
    with pytest.raises(ToolError, match="the spec_writer writes only specs/"):
        WritePolicy(repo, role_scope=spec_writer.writes, role="spec_writer").check_write("calc.py", "x = 1\n")


def test_the_builder_writes_no_tests_and_its_refusal_names_the_source_it_may_change(repo: Path) -> None:
    from orchestrator.agents.personas import load_persona
    from orchestrator.agents.write_policy import WritePolicy
    from orchestrator.errors import ToolError

    builder = load_persona("builder")
    policy = WritePolicy(repo, role_scope=builder.writes, role="builder")
    policy.check_write("calc.py", "def add(a, b):\n    return a + b\n")
    policy.check_write("pkg/util.py", "x = 1\n")
    for path in ("tests/test_calc_new.py", "test_top.py", "pkg/thing_test.py", "conftest.py", "specs/calc/spec.md"):
        with pytest.raises(ToolError, match="Files you may change include: calc.py") as refused:
            policy.check_write(path, "def test_x():\n    assert True\n")
        assert str(refused.value).startswith(f"{path}: the builder writes only ")


def test_an_opening_tool_the_persona_lacks_is_a_located_error(repo: Path) -> None:
    from orchestrator.agents.personas import load_persona

    add_file(repo, ".orchestrator/personas/reviewer.yaml",
             "goal: Review.\ntools: [read_file]\nopening: [submit_verdict]\n")
    assert load_persona("reviewer", repo).opening == ["submit_verdict"]  # a finishing call is always on offer
    add_file(repo, ".orchestrator/personas/typo.yaml", "goal: Review.\ntools: [read_file]\nopening: [read_fille]\n")
    with pytest.raises(ConfigError, match=r"typo.yaml:3: opening: .*opening names 'read_fille', which is neither"):
        load_persona("typo", repo)
