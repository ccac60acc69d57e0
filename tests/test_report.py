"""`orchestrator report`: a scripted feature run's report, opened in headless Chromium, and its markdown twin."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser import ARTIFACTS, chromium, dump_dom, element_text, png_facts, screenshot  # noqa: F401 - fixture
from conftest import EXAMPLE, git, make_repo
from scripts import FULL_PATH_TASK, feature_critic, feature_team

from orchestrator.cli import main
from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.report import write_report
from orchestrator.run.price import usd
from orchestrator.runner import RunOptions, start_run
from orchestrator.store.log import RunLog

EXPECTED_PATH = ["__start__", "size", "survey", "spec", "spec_check", "write_tests", "red_check", "build", "quality",
                 "build", "quality", "review", "build", "quality", "review", "sign_off", "__end__"]
"""The scripted run: the quality gate fails once, the review once (its on_fail edge sends it back to the builder)."""

PRICES = """\
models:
  scripted/team: {input_cost_per_token: 0.000001, output_cost_per_token: 0.000004}
  scripted/critic: {input_cost_per_token: 0.000002, output_cost_per_token: 0.000008}
  openai/gpt-4o: {input_cost_per_token: 0.0000025, output_cost_per_token: 0.00001}
profiles:
  premium: [openai/gpt-4o]
ladder: [cheapest, high_throughput, high_reasoning, premium]
"""

MEASURE = """
const size = id => { const b = document.getElementById(id).getBoundingClientRect(); return [b.width, b.height]; };
const graph = document.getElementById('graph');
const offEdge = graph.querySelector('.edge:not(.on-path)');
const out = {
  graph: size('graph'), chart: size('chart'), timeline: size('timeline'),
  path: JSON.parse(graph.dataset.path),
  nodes: [...graph.querySelectorAll('.node.on-path')].map(n => [n.dataset.node, n.getBoundingClientRect().width]),
  edges: [...graph.querySelectorAll('.edge.on-path')].map(e => [e.dataset.from, e.dataset.to, +e.dataset.count,
          e.getTotalLength(), getComputedStyle(e).stroke]),
  offStroke: getComputedStyle(offEdge).stroke,
  bars: [...document.querySelectorAll('#chart rect.bar.tokens')].map(b => b.getBoundingClientRect().width),
};
const pre = document.createElement('pre'); pre.id = 'measured'; pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
"""


@dataclass
class Reported:
    repo: Path
    outcome: object
    html: Path
    markdown: Path


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Reported:
    """One scripted feature run on the example project (priced models), and its report."""
    root = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(root / "xdg"))
        repo = make_repo(root / "app", {".orchestrator/models.yaml": PRICES}, source=EXAMPLE)
        team, critic = ScriptedModel(feature_team(), name="team"), ScriptedModel(feature_critic(), name="critic")
        personas = ["surveyor", "spec_writer", "tester", "builder", "dispatcher"]
        overrides = {p: register_scripted(team) for p in personas} | {"critic": register_scripted(critic)}
        outcome = start_run(RunOptions(workflow="feature", repo=repo, task=FULL_PATH_TASK,
                                       model_overrides=overrides, approve="auto"))
        assert outcome.exit_code == 0, outcome.message
        html_path, md_path = write_report(repo, outcome.run_id, root / "out")
    return Reported(repo, outcome, html_path, md_path)


def phase_path(outcome) -> list[str]:
    """The steps the run's own phase records name, in order, each visit once."""
    steps = [p["step"] for p in outcome.phases]
    return [s for i, s in enumerate(steps) if i == 0 or steps[i - 1] != s]


def test_report_in_headless_chromium(reported: Reported, chromium: str, tmp_path: Path) -> None:  # noqa: F811
    page = reported.html.read_text(encoding="utf-8")
    assert not re.search(r"https?://", page, re.IGNORECASE)
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", f"<script>{MEASURE}</script></body>"), encoding="utf-8")
    measured = json.loads(element_text(dump_dom(chromium, probe), "measured"))

    for figure in ("graph", "chart", "timeline"):
        width, height = measured[figure]
        assert width > 100 and height > 50, (figure, width, height)
    assert all(width > 0 for width in measured["bars"]) and len(measured["bars"]) == 5  # a bar per persona
    # The highlighted path is the run's path: the same steps as the run's phase records, start to end.
    assert phase_path(reported.outcome) == EXPECTED_PATH[1:-1]
    assert measured["path"] == EXPECTED_PATH
    assert sorted(node for node, width in measured["nodes"] if width > 0) == sorted(set(EXPECTED_PATH))
    taken = {(a, b): count for a, b, count, length, _ in measured["edges"] if length > 0}
    expected = {}
    for pair in zip(EXPECTED_PATH, EXPECTED_PATH[1:], strict=False):
        expected[pair] = expected.get(pair, 0) + 1
    assert taken == expected
    assert {stroke for *_, stroke in measured["edges"]} == {"rgb(192, 57, 43)"} != {measured["offStroke"]}

    shot = screenshot(chromium, reported.html, ARTIFACTS / "report.png")
    shutil.copy(shot, tmp_path / "report.png")
    width, height, distinct = png_facts(shot)
    assert (width, height) == (1280, 4000) and distinct > 64  # a blank page decodes to a handful of values


def test_report_gives_the_price_of_routing(reported: Reported) -> None:
    log = RunLog(reported.repo / ".git" / "orchestrator" / "runs.sqlite")
    try:
        calls = log.calls(reported.outcome.run_id)
    finally:
        log.close()
    price_of = {"scripted/team": (0.000001, 0.000004), "scripted/critic": (0.000002, 0.000008)}
    assert sum(c["cost_usd"] for c in calls) == pytest.approx(
        sum(c["prompt_tokens"] * price_of[c["model"]][0] + c["completion_tokens"] * price_of[c["model"]][1]
            for c in calls))
    top = sum(c["prompt_tokens"] * 0.0000025 + c["completion_tokens"] * 0.00001 for c in calls)
    line = (f"This run: {usd(sum(c['cost_usd'] for c in calls))}. "
            f"All on the top rung (premium: openai/gpt-4o): {usd(top)}.")
    assert reported.outcome.price.lines()[0] == line
    assert reported.outcome.price.top_usd == pytest.approx(top) and top > reported.outcome.price.run_usd
    assert f"<p>{line}</p>" in reported.html.read_text(encoding="utf-8")
    assert f"**{line}**" in reported.markdown.read_text(encoding="utf-8")


def test_markdown_twin_has_every_section(reported: Reported) -> None:
    text = reported.markdown.read_text(encoding="utf-8")
    assert "Path: " + " → ".join(EXPECTED_PATH) in text
    assert "```mermaid\nflowchart TD" in text and "s_build ==>|3x| s_quality" in text
    assert "s_quality -.-> s_review" not in text and "s_quality ==>|2x| s_review" in text
    gates = re.findall(r"^### (\w+) #(\d): (\w+)$", text, re.MULTILINE)
    assert gates == [("spec_check", "1", "pass"), ("red_check", "1", "pass"), ("quality", "1", "fail"),
                     ("quality", "2", "pass"), ("review", "1", "fail"), ("quality", "3", "pass"),
                     ("review", "2", "pass"), ("sign_off", "1", "pass")]
    assert 'violation (major) of "Definition of done: subtract has a docstring": subtract has no docstring' in text
    assert "assert 8 == 2" in text  # the failed quality gate's parsed findings
    routing = text.split("## Routing decisions")[1].split("## Final diff")[0]
    assert len(re.findall(r"^\| (build|review|survey|spec|write_tests) \|", routing, re.MULTILINE)) == 8
    diff = text.split("## Final diff")[1]
    assert "```diff\n" in diff and '+    """Return a minus b."""' in diff
    assert "| builder | scripted/team | 6 |" in text  # tokens and cost per persona and model


def test_report_command_prints_the_paths(reported: Reported, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_id = reported.outcome.run_id
    assert main(["report", run_id, "--repo", str(reported.repo), "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert f"HTML report: {tmp_path / 'r' / 'report.html'}" in printed
    assert f"Markdown report: {tmp_path / 'r' / 'report.md'}" in printed
    assert (tmp_path / "r" / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert main(["report", run_id, "--repo", str(reported.repo)]) == 0
    default = reported.repo / ".git" / "orchestrator" / "runs" / run_id
    assert f"HTML report: {default / 'report.html'}" in capsys.readouterr().out
    assert (default / "report.md").is_file()
    assert main(["report", run_id[:-1], "--repo", str(reported.repo)]) == 1
    assert f"Did you mean '{run_id}'?" in capsys.readouterr().err


def test_report_without_the_branch_or_the_workflow_file_says_what_is_missing(tmp_path: Path) -> None:
    from flows import add_workflow, bind, run
    from scripts import finish

    repo = make_repo(tmp_path / "app", {"a.txt": "a\n"})
    name = add_workflow(repo, "one", [{"id": "note", "persona": "builder", "instructions": "x"}], autonomy="L4")
    outcome = run(repo, name, bind(builder=ScriptedModel({"builder": [finish("nothing to do")]})))
    git(repo, "worktree", "remove", "--force", str(outcome.worktree))
    git(repo, "branch", "-D", outcome.branch)
    (repo / ".orchestrator" / "workflows" / "one.yaml").unlink()
    html_path, md_path = write_report(repo, outcome.run_id, tmp_path / "out" / "run.html")
    assert (html_path.name, md_path.name) == ("run.html", "run.md")
    text = md_path.read_text(encoding="utf-8")
    assert f"no diff: the run's branch {outcome.branch} no longer exists" in text
    assert "no graph: the workflow file" in text and "Path: __start__ → note → __end__" in text
    assert 'id="timeline"' in html_path.read_text(encoding="utf-8")


def test_a_run_the_graph_stopped_ends_its_path_at_stop(tmp_path: Path) -> None:
    from flows import QUALITY, add_workflow, bind, calc_repo, run
    from scripts import finish

    from orchestrator.report.data import collect_report

    repo = calc_repo(tmp_path / "app")
    name = add_workflow(repo, "q", [{"id": "build", "persona": "builder", "instructions": "x", "next": "quality"},
                                    {"id": "quality", "type": "gate", "gate": "tests", "on_fail": "stop"}],
                        gates={"tests": QUALITY}, autonomy="L4")
    outcome = run(repo, name, bind(builder=ScriptedModel({"builder": [finish("changed nothing")]})))
    assert outcome.exit_code == 3
    data = collect_report(repo, outcome.run_id)
    assert data.path == ["__start__", "build", "quality", "__stop__", "__end__"]
    assert [(v.node, v.outcome[0]) for v in data.visits] == [("build", "done"), ("quality", "fail")]


def test_runs_rm_removes_the_reports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from flows import add_workflow, bind, run
    from scripts import finish

    repo = make_repo(tmp_path / "app", {"a.txt": "a\n"})
    name = add_workflow(repo, "one", [{"id": "note", "persona": "builder", "instructions": "x"}], autonomy="L4")
    outcome = run(repo, name, bind(builder=ScriptedModel({"builder": [finish("nothing to do")]})))
    html_path, _ = write_report(repo, outcome.run_id)
    assert html_path.parent == repo / ".git" / "orchestrator" / "runs" / outcome.run_id
    assert main(["runs", "rm", outcome.run_id, "--repo", str(repo)]) == 0
    assert f"removed run folder {html_path.parent}" in capsys.readouterr().out
    assert not html_path.parent.exists()


def event(kind: str, step: str, ts: float, persona: str = "", **data) -> dict:
    return {"kind": kind, "step": step, "ts": ts, "persona": persona, "data": data}


def test_visits_are_runs_of_events_naming_one_step() -> None:
    from orchestrator.report.path import path_visits, run_path

    events = [event("warning", "", 100.0, message="notice"), event("phase_start", "build.P1", 101.0, "builder"),
              event("phase_end", "build.P2", 104.0, "builder", verdict="done"),
              event("gate", "quality", 106.0, verdict="fail", reason="1 test failing"),
              event("resume", "", 500.0), event("phase_end", "build", 510.0, "builder", verdict="done"),
              event("gate", "quality", 512.0, verdict="pass", reason="passed")]
    calls = [{"step": "build", "ts": 102.0, "model": "m", "prompt_tokens": 10, "completion_tokens": 5,
              "cost_usd": 0.5}, {"step": "build", "ts": 505.0, "model": "m", "prompt_tokens": 1,
                                 "completion_tokens": 1, "cost_usd": 0.25}]
    visits = path_visits(events, calls, {"build", "quality"}, started=99.0)
    assert [(v.node, v.number, v.start, v.end) for v in visits] == [
        ("build", 1, 101.0, 104.0), ("quality", 1, 104.0, 106.0), ("build", 2, 500.0, 510.0),
        ("quality", 2, 510.0, 512.0)]
    assert [v.outcome for v in visits][1:] == [("fail", "1 test failing"), ("done", ""), ("pass", "passed")]
    assert [(v.tokens, v.cost_usd) for v in visits] == [(15, 0.5), (0, 0), (2, 0.25), (0, 0)]
    assert run_path(visits, "stopped") == ["__start__", "build", "quality", "build", "quality"]
    assert run_path(visits, "done")[-1] == "__end__"


def test_layout_places_every_node_apart_and_loops_round_the_side() -> None:
    from orchestrator.report.graph import NODE_H, NODE_W, layout, workflow_graph
    from orchestrator.workflow.validate import find_workflow, load_workflow

    graph = workflow_graph(load_workflow(find_workflow("feature", None)))
    placed = layout(graph)
    boxes = list(placed.boxes.values())
    assert len(boxes) == len(graph.nodes) == 18 and set(placed.paths) == set(graph.edges)
    for i, (x, y) in enumerate(boxes):
        assert 0 <= x and x + NODE_W <= placed.width and 0 <= y and y + NODE_H <= placed.height
        assert all(abs(x - x2) >= NODE_W or abs(y - y2) >= NODE_H for x2, y2 in boxes[i + 1:])
    assert {("quality", "build"), ("spec_check", "spec"), ("red_check", "write_tests")} <= placed.back_edges
    assert ("build", "quality") not in placed.back_edges
    assert placed.boxes["build"][1] < placed.boxes["quality"][1] < placed.boxes["review"][1]


def test_html_holds_no_url_and_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    import html

    from orchestrator.report.data import ReportData
    from orchestrator.report.render import render_html, render_markdown
    from orchestrator.run.price import RoutingPrice

    monkeypatch.setenv("MY_API_KEY", "s3cret<&>value")
    run = {"id": "r1", "workflow": "w", "workflow_path": "w.yaml", "task": "see HTTPS://example.com/a",
           "status": "done", "exit_code": 0, "message": "", "branch": "b", "base_commit": "abc",
           "started": 1.0, "finished": 2.0}
    data = ReportData(run=run, visits=[], path=["__start__", "__end__"], usage=[], decisions=[],
                      price=RoutingPrice(calls=0, run_usd=0.0), commits=[],
                      diff="+url = 'http://example.com/x?a=1'\n+key = 's3cret<&>value'\n")
    page = render_html(data)
    assert not re.search(r"https?://", page, re.IGNORECASE) and "s3cret" not in page
    assert "http://example.com/x?a=1" in html.unescape(page) and "[redacted MY_API_KEY]" in page
    markdown = render_markdown(data)
    assert "s3cret" not in markdown and "[redacted MY_API_KEY]" in markdown
