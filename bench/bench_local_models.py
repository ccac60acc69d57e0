"""Measure the embedded models on this machine: load time, generation and prompt tokens/s, a typical call, RSS,
and generation throughput through the orchestrator's model gateway against llama-cpp-python direct.

Run at rest: `python bench/bench_local_models.py [--wait SECONDS] [--models smollm2,...]`. With --wait it first
waits (up to that long) for a 5 s window in which other processes used under 5% of the CPU. It prints the share
of CPU that other processes used while each model was measured, so a figure taken on a busy machine shows as
such. The figures in orchestrator/defaults/models.yaml come from this script.

Throughput: the same chat request (temperature 0, 128 tokens at most, a fresh prompt each time so no saved
prompt state helps either side) sent through `gateway.complete("local/NAME")` and straight to the loaded
`Llama.create_chat_completion`, alternating which goes first; tokens/s over the wall time of each call, the
ratio taken pair by pair (target >= 0.95).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse  # noqa: E402

from orchestrator.models import gateway  # noqa: E402
from orchestrator.models.providers import local  # noqa: E402
from orchestrator.models.types import ToolSpec  # noqa: E402

THROUGHPUT_TARGET = 0.95

WRITE_FILE = ToolSpec(
    "write_file",
    "Write a whole file in the repository.",
    {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
)
FREE_PROMPT = "Write a Python function that checks whether a number is prime, with a docstring and tests."
# About 700 prompt tokens, like a short agent packet: a file to edit, then the directive.
SOURCE = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(45))
AGENT_PROMPT = f"calc.py:\n```python\n{SOURCE}```\nAdd subtract(a, b) returning a - b to calc.py. Write the file."


def rss_mib() -> float:
    """This process's resident set size now, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_ticks() -> tuple[int, int]:
    """(busy ticks of the whole machine, ticks of this process) so far."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]  # minus idle and iowait
    own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return busy, int(own[11]) + int(own[12])  # utime + stime of this process


def timed(fn: Any) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def others_share(busy0: int, own0: int) -> float:
    """Share of the machine's busy CPU since (busy0, own0) that other processes used."""
    busy1, own1 = cpu_ticks()
    return max(0, (busy1 - busy0) - (own1 - own0)) / max(1, busy1 - busy0)


def wait_for_rest(max_wait_s: float, window_s: float = 5.0) -> float:
    """Wait for a window where other processes use under 5% of the CPU; the last window's share."""
    deadline = time.monotonic() + max_wait_s
    while True:
        start = cpu_ticks()
        time.sleep(window_s)
        share = max(0.0, (cpu_ticks()[0] - start[0]) / (window_s * 100 * (os.cpu_count() or 1)))
        if share < 0.05 or time.monotonic() > deadline:
            return share


def measure(name: str) -> dict[str, Any]:
    """Load one model and time generation, prompt processing and a typical tool call."""
    busy0, own0 = cpu_ticks()
    load_s, llama = timed(lambda: local.load_llama(name))
    rates = []
    for seed in range(3):
        seconds, out = timed(
            lambda s=seed: llama.create_chat_completion(
                messages=[{"role": "user", "content": FREE_PROMPT}], max_tokens=128, temperature=0.0, seed=s
            )
        )
        rates.append(out["usage"]["completion_tokens"] / seconds)
        llama.reset()
    llama.set_cache(None)  # a cold prompt each time: no saved state to restore
    prompt_s, out = timed(lambda: llama.create_completion(AGENT_PROMPT, max_tokens=1, temperature=0.0))
    prompt_rate = out["usage"]["prompt_tokens"] / prompt_s
    llama.reset()
    call_s, result = timed(
        lambda: local.generate([{"role": "user", "content": AGENT_PROMPT}], [WRITE_FILE], model=name, temperature=0.0)
    )
    return {
        "model": f"local/{name}",
        "load_s": round(load_s, 2),
        "gen_tok_s": round(statistics.median(rates), 1),
        "prompt_tok_s": round(prompt_rate, 1),
        "typical_call_s": round(call_s, 1),
        "call_tokens": f"{result.prompt_tokens}+{result.completion_tokens}",
        "tool_call": bool(result.tool_calls),
        "rss_mib_after": round(rss_mib()),
        "others_cpu": f"{others_share(busy0, own0):.0%}",
    }


def throughput(name: str, pairs: int = 3, max_tokens: int = 128) -> dict[str, Any]:
    """Generation tokens/s through the gateway and direct, in alternating pairs, and their ratio pair by pair."""
    llama = local.load_llama(name)
    ratios, ours, direct = [], [], []
    for i in range(pairs):
        prompts = [[{"role": "user", "content": f"{FREE_PROMPT} Call it is_prime_{i}_{side}."}] for side in "ab"]

        def via_gateway(messages: list[dict[str, Any]]) -> float:
            seconds, reply = timed(lambda: gateway.complete(f"local/{name}", messages, persona="bench",
                                                            temperature=0.0, max_tokens=max_tokens))
            return reply.completion_tokens / seconds

        def straight(messages: list[dict[str, Any]]) -> float:
            seconds, out = timed(lambda: llama.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=0.0, seed=local.base_seed()))
            return out["usage"]["completion_tokens"] / seconds

        if i % 2:
            theirs, mine = straight(prompts[0]), via_gateway(prompts[1])
        else:
            mine, theirs = via_gateway(prompts[0]), straight(prompts[1])
        ours.append(mine)
        direct.append(theirs)
        ratios.append(mine / theirs)
    ratio = statistics.median(ratios)
    return {"model": f"local/{name}", "gateway_tok_s": round(statistics.median(ours), 1),
            "direct_tok_s": round(statistics.median(direct), 1), "ratio": round(ratio, 3),
            "min_ratio": round(min(ratios), 3), "verdict": "PASS" if ratio >= THROUGHPUT_TARGET else "MISSED"}


def prefix_reuse(name: str) -> dict[str, Any]:
    """An agent's second turn (its first turn's messages plus a call and its result), timed three ways: with the
    first turn's prompt still live in llama.cpp's KV cache, restored from the RAM prompt cache after another
    prompt ran in between, and cold (live state reset, RAM cache off). Same seed and temperature 0 each time."""
    llama = local.load_llama(name)
    system = {"role": "system", "content": "You are the builder. " + " ".join(["Keep the change small."] * 40)}
    first = [system, {"role": "user", "content": AGENT_PROMPT}]
    reply = local.generate(first, [WRITE_FILE], model=name, temperature=0.0)
    call = reply.tool_calls[0] if reply.tool_calls else None
    said = json.dumps({"name": call.name, "arguments": call.arguments}) if call else reply.text
    second = [*first, {"role": "assistant", "content": said}, {"role": "user", "content": "Result: wrote calc.py"}]

    def turn() -> float:
        return timed(lambda: local.generate(second, [WRITE_FILE], model=name, temperature=0.0, max_tokens=8))[0]

    local.generate(first, [WRITE_FILE], model=name, temperature=0.0, max_tokens=8)  # the first turn is live again
    live = turn()
    local.generate([{"role": "user", "content": FREE_PROMPT}], [], model=name, temperature=0.0, max_tokens=8)
    restored = turn()
    cache, llama.cache = llama.cache, None
    llama.reset()
    try:
        cold = turn()
    finally:
        llama.cache = cache
    return {"model": f"local/{name}", "second_turn_live_s": round(live, 2), "restored_s": round(restored, 2),
            "cold_s": round(cold, 2), "live_vs_cold": round(live / cold, 2),
            "restored_vs_cold": round(restored / cold, 2)}


def main(argv: list[str]) -> int:
    """Measure every embedded model (or those named) in one process, then report RSS with all of them loaded."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait", type=float, default=0.0, help="wait up to this long for an idle machine")
    parser.add_argument("--models", default=",".join(local.N_CTX), help="comma-separated local model names")
    args = parser.parse_args(argv)
    threads = os.environ.get("ORCHESTRATOR_LOCAL_THREADS") or max(1, (os.cpu_count() or 2) // 2)
    if args.wait:
        print(f"CPU use in the last 5 s before starting: {wait_for_rest(args.wait):.0%}")
    print(f"load average: {os.getloadavg()[0]:.2f}; cores: {os.cpu_count()}; threads per model: {threads}")
    busy0, own0 = cpu_ticks()
    gateway.block_real_requests(True)
    for name in args.models.split(","):
        print(measure(name), flush=True)
        print(f"throughput, gateway vs llama-cpp direct (target >= {THROUGHPUT_TARGET}): {throughput(name)}",
              flush=True)
        print(f"prompt prefix reuse, an agent's second turn (live KV / RAM cache / cold): {prefix_reuse(name)}",
              flush=True)
    print(f"RSS with {', '.join(local.loaded_models())} loaded: {rss_mib():.0f} MiB")
    print(f"other processes' share of busy CPU during the run: {others_share(busy0, own0):.0%} (0% is at rest)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
