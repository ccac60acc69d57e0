"""Benchmark the predictive router against a TF-IDF + LR baseline: nested-CV quality and decision latency.

Run: .venv/bin/python bench/bench_router.py [--quick] [--data PATH] [--routes-only]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT / "bench" / "data" / "routing" / "train.csv"  # shipped, so a clean clone runs it


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    """Median and 95th percentile in microseconds."""
    ordered = sorted(samples_ns)
    return statistics.median(ordered) / 1000, ordered[int(0.95 * (len(ordered) - 1))] / 1000


def _time_each(fn, items: list) -> list[int]:
    """Nanoseconds of one call of fn per item (after a short warm-up)."""
    for item in items[:20]:
        fn(item)
    samples = []
    for item in items:
        started = time.perf_counter_ns()
        fn(item)
        samples.append(time.perf_counter_ns() - started)
    return samples


def measure_latency(rows: list[dict], sample: int) -> dict[str, tuple[float, float]]:
    """Single-prompt decision latency of the router (load from JSON, then score) and the baseline's predict."""
    from orchestrator.routing.predictive.baseline import baseline_text, fit_baseline
    from orchestrator.routing.predictive.router import PredictiveRouter, calibrate

    started = time.perf_counter()
    router = calibrate(rows)
    fit_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "router.json"
        router.save(path)
        size_mb = path.stat().st_size / 1e6
        started = time.perf_counter()
        router = PredictiveRouter.load(path)
        load_ms = (time.perf_counter() - started) * 1000
    texts = [baseline_text(r["prompt"], r["source"]) for r in rows]
    needed = [int(r["weak_correct"] == "0" and r["strong_correct"] == "1") for r in rows]
    baseline = fit_baseline(texts, needed, 1.0)
    picked = random.Random(0).sample(rows, min(sample, len(rows)))
    print(f"full-data calibrate {fit_seconds:.1f}s; router.json {size_mb:.1f} MB, load {load_ms:.0f} ms")
    return {
        "router.needs_strong (extract + score)": _percentiles(
            _time_each(lambda r: router.needs_strong(r["prompt"], r["source"]), picked)
        ),
        "baseline sklearn predict_proba": _percentiles(
            _time_each(lambda r: baseline.predict_proba([baseline_text(r["prompt"], r["source"])]), picked)
        ),
    }


def _references(rows: list[dict]) -> dict[str, float]:
    """APGR and CPTs of the random router (PGR grows linearly with the strong share) and of the oracle."""
    from orchestrator.routing.predictive.metrics import cpt, oracle_apgr

    weak = [int(r["weak_correct"]) for r in rows]
    strong = [int(r["strong_correct"]) for r in rows]
    oracle_scores = [s - w for w, s in zip(weak, strong, strict=True)]
    return {"random APGR": 0.5, "random CPT50": 0.5, "random CPT80": 0.8,
            "oracle APGR": oracle_apgr(weak, strong), "oracle CPT50": cpt(oracle_scores, weak, strong, 0.5),
            "oracle CPT80": cpt(oracle_scores, weak, strong, 0.8)}


def _quality_table(router, baseline, rows: list[dict]) -> list[str]:
    """Side-by-side nested-CV figures: the router against TF-IDF + LR, random and the oracle."""
    refs = _references(rows)
    lines = [f"{'figure (overall unless named)':30} {'router':>7} {'tf-idf':>7} {'random':>7} {'oracle':>7} "
             f"{'vs tf-idf':>10}"]
    for name, a, b, key in (("APGR", router.overall.apgr, baseline.overall.apgr, "APGR"),
                            ("CPT(50%), lower is better", router.overall.cpt50, baseline.overall.cpt50, "CPT50"),
                            ("CPT(80%), lower is better", router.overall.cpt80, baseline.overall.cpt80, "CPT80")):
        lines.append(f"{name:30} {a:7.3f} {b:7.3f} {refs['random ' + key]:7.3f} {refs['oracle ' + key]:7.3f} "
                     f"{a - b:+10.3f}")
    for group in sorted(router.groups):
        a, b = router.groups[group].apgr, baseline.groups[group].apgr
        lines.append(f"{'APGR ' + group:30} {a:7.3f} {b:7.3f} {0.5:7.3f} {router.groups[group].oracle_apgr:7.3f} "
                     f"{a - b:+10.3f}")
    for name, a, b in (("routing accuracy", router.overall.routing_accuracy, baseline.overall.routing_accuracy),
                       ("strong share at threshold", router.overall.strong_share, baseline.overall.strong_share)):
        lines.append(f"{name:30} {a:7.3f} {b:7.3f} {'':>7} {'':>7} {a - b:+10.3f}")
    return lines


def route_latency(rounds: int = 20) -> dict[str, dict[str, float]]:
    """p50/p99 wall and p50 CPU (ms) of whole decisions through `decide()` (filters, strategy, stages):
    the no-op route, semantic on texts never seen (cold) and seen before (cached), and predictive."""
    import os
    import tempfile

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from bench_routing import INTENTS, NoOp, make_registry, requests

    from orchestrator.routing.build import build_strategy
    from orchestrator.routing.order import decide
    from orchestrator.routing.spec import RoutingSpec

    with tempfile.TemporaryDirectory() as tmp:
        registry = make_registry(Path(tmp))
        cands = list(registry.resolve("builder").models)
        spec = RoutingSpec.model_validate({"strategy": "semantic", "semantic": {"intents": INTENTS}})
        semantic = build_strategy(spec, registry, Path(tmp))
        predictive = build_strategy(RoutingSpec.model_validate("predictive"), registry, Path(tmp))
        base = [replace(r, stakes="normal") for r in requests()]  # the no-op route has no ladder to climb
        # A new text per decision defeats the embedding cache: the first routing of a step costs this much.
        fresh = [replace(r, text=f"{r.text} (request {i})") for i in range(rounds) for r in base]
        repeated = base * rounds
        cases = {"noop (baseline)": (NoOp(), repeated), "semantic, cold": (semantic, fresh),
                 "semantic, cached": (semantic, repeated), "predictive": (predictive, repeated)}
        return {name: _ms(lambda req, s=strategy: decide(s, req, cands), reqs)
                for name, (strategy, reqs) in cases.items()}


def _ms(fn, reqs: list) -> dict[str, float]:
    """p50/p99 wall and p50 CPU milliseconds of fn over reqs, after a warm-up call on a request of its own."""
    fn(replace(reqs[0], text=reqs[0].text + " (warm-up)"))
    wall, cpu = [], []
    for req in reqs:
        w0, c0 = time.perf_counter(), time.thread_time()
        fn(req)
        cpu.append((time.thread_time() - c0) * 1e3)
        wall.append((time.perf_counter() - w0) * 1e3)
    wall.sort()
    return {"p50": statistics.median(wall), "p99": wall[int(0.99 * (len(wall) - 1))], "cpu": statistics.median(cpu),
            "n": len(wall)}


def print_route_latency(rounds: int) -> None:
    """The route latency table, each row also as a ratio to the no-op route measured in the same run."""
    import os

    results = route_latency(rounds)
    noop = results["noop (baseline)"]["p50"]
    print(f"{'decision via decide()':24} {'p50 ms':>9} {'p99 ms':>9} {'cpu p50 ms':>11} {'x noop p50':>11} {'n':>5}")
    for name, r in results.items():
        print(f"{name:24} {r['p50']:9.3f} {r['p99']:9.3f} {r['cpu']:11.3f} {r['p50'] / noop:11.0f} {r['n']:5}")
    cold = results["semantic, cold"]["p50"]
    print(f"semantic cold p50 under 20 ms: {'PASS' if cold < 20 else 'FAIL'} ({cold:.1f} ms; load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores)")


def main() -> int:
    """Parse arguments, run both nested evaluations and the latency measurement, print everything."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="preference CSV (default: the shipped one)")
    parser.add_argument("--quick", action="store_true", help="3 outer folds and fewer latency samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--routes-only", action="store_true",
                        help="only the decide() p50/p99 table (no-op, semantic, predictive)")
    args = parser.parse_args()
    if args.routes_only:
        print_route_latency(rounds=10 if args.quick else 20)
        return 0
    folds, sample = (3, 200) if args.quick else (5, 1000)

    from orchestrator.routing.predictive.baseline import evaluate_baseline
    from orchestrator.routing.predictive.data import PREFERENCE_COLUMNS, read_csv_rows
    from orchestrator.routing.predictive.eval import evaluate

    started = time.perf_counter()
    rows = read_csv_rows(args.data, PREFERENCE_COLUMNS)
    print(f"data: {args.data} ({len(rows)} rows); nested {folds}-fold CV, seed {args.seed}, threshold rule share<=0.3")
    router = evaluate(rows, folds=folds, seed=args.seed, where=str(args.data))
    print(router.format())
    baseline = evaluate_baseline(rows, folds=folds, seed=args.seed)
    print(baseline.format())
    print("\n".join(_quality_table(router, baseline, rows)))
    delta = router.overall.apgr - baseline.overall.apgr
    print(f"MUST (router beats baseline by >= 0.03 APGR overall): {'PASS' if delta >= 0.03 else 'FAIL'} ({delta:+.3f})")
    latency = measure_latency(rows, sample)
    for name, (median, p95) in latency.items():
        print(f"latency {name:40} median {median:8.1f} us   p95 {p95:8.1f} us")
    (r_med, r_p95), (b_med, b_p95) = latency.values()
    print(f"latency ratio baseline/router: median {b_med / r_med:.2f}x, p95 {b_p95 / r_p95:.2f}x")
    print(f"decision median under 1 ms: {'PASS' if r_med < 1000 else 'FAIL'} ({r_med:.0f} us)")
    print_route_latency(rounds=10 if args.quick else 20)
    print(f"total bench time {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
