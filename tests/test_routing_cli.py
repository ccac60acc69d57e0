"""Routing as audited from the CLI: runs show --routing, router explain, calibrate from runs, drift."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from flows import CALC_FIXED, QUALITY, add_workflow, bind, run
from scripts import CALC_BUGGY, call, finish
from typer.testing import CliRunner

from orchestrator.cli import app, main
from orchestrator.models.providers.scripted import ScriptedModel

STEPS = [{"id": "build", "persona": "builder", "next": "quality"},
         {"id": "quality", "type": "gate", "gate": "tests", "on_pass": "end", "on_fail": "build", "max_rounds": 3}]


def two_runs(repo: Path) -> list[str]:
    name = add_workflow(repo, "calib", STEPS, {"tests": QUALITY}, autonomy="L4")
    ids = []
    for n in range(2):
        builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_BUGGY), finish("v1"),
                                             call("write_file", path="calc.py", content=CALC_FIXED), finish("v2")]},
                                name=f"builder{n}")
        outcome = run(repo, name, bind(builder=builder))
        assert outcome.exit_code == 0, outcome.message
        ids.append(outcome.run_id)
    return ids


def test_runs_show_routing_lists_every_decision(repo: Path) -> None:
    run_id = two_runs(repo)[0]
    result = CliRunner().invoke(app, ["runs", "show", run_id, "--repo", str(repo), "--routing"])
    assert result.exit_code == 0, result.output
    assert result.output.count("scripted/builder0") >= 2
    assert "quality=fail" in result.output and "quality=pass" in result.output and "static" in result.output


def test_calibrate_from_runs_then_drift(repo: Path, tmp_path: Path, capsys) -> None:
    two_runs(repo)
    out = tmp_path / "calibration.json"
    assert main(["router", "calibrate", "--from-runs", "--repo", str(repo), "--out", str(out)]) == 0
    baseline = json.loads(out.read_text())["baseline"]
    assert baseline["scripted/builder0"] == {"pass_rate": 0.5, "mean_cost_usd": 0.0, "n": 2}
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert {(r["model"], r["passed"]) for r in rows} >= {("scripted/builder1", "True"), ("scripted/builder1", "False")}

    assert main(["router", "drift", "--baseline", str(out), "--repo", str(repo), "--min-samples", "2",
                 "--check"]) == 0
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps({"baseline": {m: {"pass_rate": 1.0, "mean_cost_usd": 0.0, "n": 500}
                                               for m in baseline}}))
    capsys.readouterr()
    assert main(["router", "drift", "--baseline", str(strict), "--repo", str(repo), "--min-samples", "2",
                 "--check"]) == 3
    shown = capsys.readouterr().out
    assert "Drift: scripted/builder0: pass rate 1.00 -> 0.50" in shown


def test_router_explain_names_strategy_and_choice() -> None:
    result = CliRunner().invoke(app, ["router", "explain", "Add a --json flag", "--persona", "surveyor"])
    assert result.exit_code == 0, result.output
    assert "strategy:   static" in result.output
    assert "chosen:     local/qwen2.5-coder-0.5b" in result.output  # the surveyor's massive_context default
    # The shipped feature workflow climbs the builder by cascade, starting on the 0.5B (docs/embedded-team.md).
    builder = CliRunner().invoke(app, ["router", "explain", "Add a --json flag", "--persona", "builder"])
    assert "strategy:   cascade" in builder.output and "chosen:     local/qwen2.5-coder-0.5b" in builder.output
    pinned = CliRunner().invoke(app, ["router", "explain", "x", "--persona", "critic", "--pin", "scripted/audit"])
    assert "chosen:     scripted/audit" in pinned.output and "pinned" in pinned.output
