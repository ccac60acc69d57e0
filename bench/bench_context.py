"""Context economy: tokens sent per phase with handoff packets, against passing the full message history.

Run: .venv/bin/python bench/bench_context.py
One scripted run of the shipped `feature` workflow on examples/calc (tests/scripts.py's feature team: the
quality gate fails once, the critic once), in-process, so the scripted models keep every request they got.
"Packets" is what the run sent: each phase starts from its system prompt and a packet of files and typed
handoffs. The baseline, "full history", is the same run if every phase instead started from the whole
conversation so far: each request carries every message of the earlier phases, then its own. Both sides are
counted with the same estimate (4 characters a token) over message text and tool calls; the last reply of
each phase is left out of the history, which favours the baseline. Target: packets <= 40% of full history.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the gates' pytest runs, as in the test suite
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

from scripts import feature_critic, feature_team  # noqa: E402

from orchestrator.models.providers.scripted import ScriptedModel, estimate_tokens, register_scripted  # noqa: E402
from orchestrator.runner import RunOptions, start_run  # noqa: E402
from orchestrator.store.log import RunLog  # noqa: E402

TARGET = 0.40
TEAM = ("surveyor", "spec_writer", "tester", "builder", "dispatcher")


def tokens(messages: list[dict[str, Any]]) -> int:
    """Estimated tokens of messages: their text and their tool calls."""
    text = "".join(str(m.get("content") or "") + json.dumps(m.get("tool_calls") or "") for m in messages)
    return estimate_tokens(text)


def feature_run(folder: Path) -> tuple[list[dict[str, Any]], dict[str, ScriptedModel]]:
    """Run feature.yaml once; return the run log's calls (in order) and the scripted models by id."""
    repo = folder / "app"
    shutil.copytree(ROOT / "examples" / "calc", repo)
    for args in (["init", "-q", "--initial-branch=main"], ["add", "-A"],
                 ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", "commit", "-qm", "calc"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    team, critic = ScriptedModel(feature_team(), name="team"), ScriptedModel(feature_critic(), name="critic")
    models = {register_scripted(team): team, register_scripted(critic): critic}
    overrides = {persona: team.model_id for persona in TEAM} | {"critic": critic.model_id}
    outcome = start_run(RunOptions(workflow="feature", repo=repo, task="Add subtract(a, b) to calc.py",
                                   model_overrides=overrides, approve="auto"))
    assert outcome.exit_code == 0, outcome.message
    log = RunLog(repo / ".git" / "orchestrator" / "runs.sqlite")
    try:
        return log.calls(outcome.run_id), models
    finally:
        log.close()


def phases(calls: list[dict[str, Any]], models: dict[str, ScriptedModel]) -> list[dict[str, Any]]:
    """Calls grouped into phases (a phase's requests grow; a new one starts from its system prompt and packet)."""
    recorded = {model_id: list(model.calls) for model_id, model in models.items()}
    grouped: list[dict[str, Any]] = []
    for call in calls:
        messages = recorded[call["model"]].pop(0).messages
        last = grouped[-1] if grouped else None
        if last is None or (last["step"], last["persona"]) != (call["step"], call["persona"]) or len(
                messages) <= len(last["requests"][-1]):
            last = {"step": call["step"], "persona": call["persona"], "requests": []}
            grouped.append(last)
        last["requests"].append(messages)
    return grouped


def economy(grouped: list[dict[str, Any]]) -> list[tuple[str, str, int, int, int]]:
    """Per phase: (step, persona, requests, packet tokens, full-history tokens)."""
    rows, history = [], []
    for phase in grouped:
        sent = sum(tokens(r) for r in phase["requests"])
        full = sum(tokens(history) + tokens(r) for r in phase["requests"])
        rows.append((phase["step"], phase["persona"], len(phase["requests"]), sent, full))
        history = history + phase["requests"][-1][1:]  # the earlier phases' messages, system prompts aside
    return rows


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        rows = economy(phases(*feature_run(Path(tmp))))
    print("context economy on one scripted feature run: tokens sent per phase (estimate: 4 characters a token)")
    print(f"{'step':12} {'persona':12} {'requests':>8} {'packets':>9} {'full history':>13} {'share':>7}")
    for step, persona, count, sent, full in rows:
        print(f"{step:12} {persona:12} {count:8} {sent:9} {full:13} {sent / full:7.0%}")
    sent, full = sum(r[3] for r in rows), sum(r[4] for r in rows)
    print(f"{'total':25} {sum(r[2] for r in rows):8} {sent:9} {full:13} {sent / full:7.0%}")
    verdict = "PASS" if sent / full <= TARGET else "MISSED"
    print(f"packets / full history: {sent / full:.0%} (target <= {TARGET:.0%}): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
