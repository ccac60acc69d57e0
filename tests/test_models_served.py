"""A real local server: SmolLM2-135M behind llama-cpp-python's OpenAI-compatible server on 127.0.0.1 serves the
critic by `api_base`, while the builder stays in-process, in one workflow run."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from flows import CALC_FIXED, add_workflow, run
from llama_server import llama_server
from scripts import call, finish

from orchestrator.models import catalog, gateway
from orchestrator.models.providers.scripted import ScriptedModel, register_scripted
from orchestrator.models.registry import user_config_path
from orchestrator.models.weights import weights_path

SERVED = "openai/smollm2-served"
CRITIC_TOOLS = {"read_file", "list_files", "search", "git_diff", "submit_verdict"}

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(importlib.util.find_spec("uvicorn") is None or importlib.util.find_spec("fastapi") is None,
                       reason="needs llama-cpp-python's server extra: pip install 'llama-cpp-python[server]'"),
]


def test_the_critic_on_a_served_model_and_the_builder_in_process_run_one_workflow(repo: Path) -> None:
    replies: list[Any] = []

    def heard(model: str, persona: str, reply: Any, metadata: dict[str, Any]) -> None:
        replies.append((model, persona, reply))

    with llama_server(weights_path("smollm2"), alias="smollm2-served") as api_base:
        user_config_path().parent.mkdir(parents=True, exist_ok=True)  # the user's file: a repo may not set servers
        user_config_path().write_text(yaml.safe_dump({"models": {SERVED: {
            "api_base": api_base, "tool_calls": "json_object", "timeout_s": 300, "context_window": 8192,
            "input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "params": {"temperature": 0.0}}}}))
        steps = [{"id": "build", "persona": "builder", "next": "review"},
                 {"id": "review", "type": "gate", "gate": "review", "on_pass": "end", "on_fail": "build",
                  "max_rounds": 1}]
        name = add_workflow(repo, "served", steps, {"review": {"kind": "review", "critics": ["critic"]}},
                            autonomy="L4", max_tool_calls=3)
        builder = ScriptedModel({"builder": [call("write_file", path="calc.py", content=CALC_FIXED),
                                             finish("subtract added"), finish("kept as it is")]}, name="builder")
        gateway.add_call_listener(heard)
        try:
            outcome = run(repo, name, {"builder": register_scripted(builder), "critic": SERVED})
        finally:
            gateway.remove_call_listener(heard)
            catalog.publish_entries({})
    assert outcome.exit_code in (0, 3), outcome.message  # SmolLM2's verdict may be either; the run ends cleanly
    db = sqlite3.connect(repo / ".git" / "orchestrator" / "runs.sqlite")
    calls = db.execute("SELECT persona, model, prompt_tokens, completion_tokens FROM calls").fetchall()
    db.close()
    assert {(persona, model) for persona, model, _, _ in calls} == {("builder", "scripted/builder"),
                                                                    ("critic", SERVED)}
    served = [row for row in calls if row[1] == SERVED]
    assert all(prompt > 100 and completion > 0 for _, _, prompt, completion in served)  # the server's own usage
    critic_replies = [reply for model, persona, reply in replies if model == SERVED]
    assert critic_replies and all(r.sampling.get("tool_calls") == "json_object" for r in critic_replies)
    # Schema-constrained decoding makes every reply one call of an offered tool, though the server's chat
    # format knows nothing of tools; a reply cut off by the token budget would stay text.
    called = [r.tool_calls[0].name for r in critic_replies if r.tool_calls]
    assert called and set(called) <= CRITIC_TOOLS
