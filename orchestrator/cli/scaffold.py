"""`orchestrator init`: scaffold a repository for runs (AGENTS.md, a spec template, a commented models.yaml)."""

from __future__ import annotations

from pathlib import Path

AGENTS_MD = """\
# AGENTS.md

Facts every agent of a run reads first (keep it short; the packet budget is small).

- How to run the tests: `python -m pytest -q`
- Layout: where the code, the tests and the specs live.
- Conventions the builder must follow (style, error handling, what not to touch).
"""

SPEC_TEMPLATE = """\
# <Feature title>

## Blueprint
### Context
Who needs what, and why now.
### Architecture
Which modules change, and how (name the functions and files).
### Constraints
- No new dependencies (or: which, and why).

## Contract
### Definition of done
- The behaviour exists, is documented and is tested.
### Guardrails
- What must keep working.
### Scenarios
- Given <a concrete input, e.g. a=5 and b=3>, When <the call, e.g. subtract(a, b)>,
  Then <the expected outcome, e.g. it returns 2>.
"""

MODELS_YAML = """\
# Role bindings for this repository (layer 3 of 5; see `orchestrator models`).
# Out of the box every role runs on the embedded local models; uncomment to bind real ones.
#
# profiles:
#   high_throughput: [openai/gpt-4o-mini]                 # builder, tester: fast and cheap
#   high_reasoning: [anthropic/claude-sonnet-4-5]         # critic: another provider than the builder
# roles:
#   builder: high_throughput
#   critic: high_reasoning
#
# Where a model's calls go (api_base, api_key_env, litellm_model, params, tool_calls, timeout_s) is yours to
# say, not the repository's: a server entry like this one goes in ~/.config/orchestrator/models.yaml (or pass
# --trust-repo-config). One role on a local OpenAI-compatible server (llama.cpp, vLLM, Ollama):
# models:
#   openai/qwen2.5-coder-7b:
#     api_base: http://127.0.0.1:8080/v1      # `orchestrator models --check` asks it for its models
#     # api_key_env: LLAMA_API_KEY            # the variable holding its key, if it wants one
#     tool_calls: text                        # no native function calling: <tool_call> text (or json_schema)
#     input_cost_per_token: 0.0
#     output_cost_per_token: 0.0
# roles:
#   critic: openai/qwen2.5-coder-7b
"""

FILES = {"AGENTS.md": AGENTS_MD, "specs/TEMPLATE.md": SPEC_TEMPLATE, ".orchestrator/models.yaml": MODELS_YAML}


def scaffold(repo: Path) -> tuple[list[str], list[str]]:
    """Write the scaffold files that don't exist yet; returns (written, kept as they were)."""
    written, kept = [], []
    for rel, text in FILES.items():
        target = repo / rel
        if target.exists():
            kept.append(rel)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(rel)
    return written, kept
