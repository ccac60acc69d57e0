"""How much of an agent's second turn llama.cpp serves from its KV cache: the tool hint last versus in the system turn.

An agent's first turn offers only its opening tools and later turns offer all of them, so a tool hint in the system
turn changes between turns and the whole prompt is processed again. With the hint at the end of the last user turn
the system prompt, the packet and the history stay a prefix. This replays one builder step's first two turns
(the builder's real system prompt and tools, a ~700-token packet) on one embedded model in both layouts, each from
a cold model (unloaded first), and prints prompt tokens, cached tokens and seconds per turn.

Run: `python bench/bench_prefix_cache.py [--model qwen2.5-coder-0.5b] [--max-tokens 48]`. Prints JSON lines and
the machine's load average, since figures taken on a busy machine are slower than at rest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.agents.loop import FINISH_TOOL  # noqa: E402
from orchestrator.agents.personas import load_persona  # noqa: E402
from orchestrator.agents.tool_registry import tool_specs  # noqa: E402
from orchestrator.models.providers import local  # noqa: E402

SOURCE = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(40))
PACKET = (f"## Task\nAdd subtract(a, b) returning a - b to calc.py.\n\n## The file to change (current content)\n"
          f"calc.py:\n```python\n{SOURCE}```\n")


def _old_layout(messages: list[dict[str, Any]], tools: list[Any]) -> list[dict[str, str]]:
    """The layout before issue 21: this turn's tool hint appended to the system turn."""
    out = _NEW(messages, [])
    hint = local._tool_hint(tools)
    return [{"role": "system", "content": f"{out[0]['content']}\n\n{hint}"}, *out[1:]]


_NEW = local.prompt_messages


def _turns(model: str, max_tokens: int) -> list[dict[str, Any]]:
    """The builder's first two turns on a cold model: opening tools, then every tool after one tool result."""
    persona = load_persona("builder", Path.cwd())
    specs = tool_specs()
    every = [*(specs[t] for t in persona.tools if t in specs), FINISH_TOOL]
    opening = [t for t in every if t.name in persona.opening]
    system = {"role": "system", "content": persona.system_prompt()}
    messages: list[dict[str, Any]] = [system, {"role": "user", "content": PACKET}]
    rows = []
    local.unload(model)
    for turn, tools in ((1, opening), (2, every)):
        started = time.perf_counter()
        result = local.generate(messages, tools, max_tokens=max_tokens, temperature=0.0, model=model)
        rows.append({"turn": turn, "prompt_tokens": result.prompt_tokens, "cached_tokens": result.cached_tokens,
                     "seconds": round(time.perf_counter() - started, 2)})
        call = {"id": "c1", "type": "function", "function": {"name": "append_file", "arguments": "{}"}}
        messages += [{"role": "assistant", "content": None, "tool_calls": [call]},
                     {"role": "tool", "tool_call_id": "c1", "content": "appended 3 lines to calc.py"}]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()
    print(json.dumps({"model": args.model, "load_average": os.getloadavg(), "cpus": os.cpu_count()}))
    for layout, render in (("hint in the system turn (before)", _old_layout), ("hint last (now)", _NEW)):
        local.prompt_messages = render
        try:
            for row in _turns(args.model, args.max_tokens):
                print(json.dumps({"layout": layout, **row}))
        finally:
            local.prompt_messages = _NEW
    local.unload()


if __name__ == "__main__":
    main()
