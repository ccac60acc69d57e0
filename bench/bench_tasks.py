"""Does routing pay on real coding problems? HumanEval through every policy: hidden-test pass@1 against compute.

    python bench/bench_tasks.py                  # quick mode: a fixed subset of 30 problems (not `implement`)
    python bench/bench_tasks.py --full           # all 164 (resumable: run it again after a kill)
    python bench/bench_tasks.py --ladder ollama/qwen2.5-coder:7b,openai/gpt-4o   # your own ladder, weakest first
    python bench/bench_tasks.py --report         # figures from what ran so far, no new runs

Each problem is a tiny git repo (a stub module with the prompt's signature and docstring, a visible test file
made of the docstring's examples). Each policy runs the shipped `implement` workflow, or a variant of it, through
`run_workflow`: real gates (visible tests only), real routing, real run log. The problem's own `test` scores the
branch afterwards and reaches nothing else. A request several policies share (same model, messages, sampling and
seed) is answered once and replayed to the others, with its recorded tokens and latency (bench/tasks/replay.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.tasks import figures as fig  # noqa: E402
from bench.tasks.policies import Policy, policies, predictive_policy, rung  # noqa: E402
from bench.tasks.problems import QUICK, Problem, load_problems  # noqa: E402
from bench.tasks.replay import AttemptStore, ReplayingComplete, live_complete  # noqa: E402
from bench.tasks.runner import append, derived_samples, done_keys, read_records, run_policy  # noqa: E402

LADDER = ["local/qwen2.5-coder-0.5b", "local/qwen2.5-coder-1.5b"]
CORE = ("single-weak", "single-strong", "cascade")
SHIPPED_ROUTER = ROOT / "orchestrator" / "routing" / "predictive" / "router_default.json"


def main() -> int:
    """Run what is not done yet, then print the table and write the plot."""
    args = _parser().parse_args()
    out = args.out or ROOT / "bench" / "out" / ("full" if args.full else "quick")
    out.mkdir(parents=True, exist_ok=True)
    ladder = args.ladder.split(",") if args.ladder else LADDER
    _environment()
    chosen = _select(load_problems(args.problems), args)
    splits = {"a": chosen[0::2], "b": chosen[1::2]}
    if args.split:
        splits = {args.split: splits[args.split][:: -1 if args.reverse else 1]}
    suffix = f"-{args.split}" if args.split else ""
    results = out / f"results{suffix}{'-reverse' if args.reverse else ''}.jsonl"  # one writer per file
    if not args.report:
        started = time.monotonic()
        if args.jobs > 1 and not args.split:
            _splits_in_parallel()  # phase 1 of each split in its own process; the rest below finds it done
            if _wants_predictive(args):
                _routers(splits, out)  # both fitted on phase 1's run logs, before either split adds to its log
                _splits_in_parallel(["--phase2"])
        run_all(splits, out, ladder, args, results)
        if args.only is not None or args.child:
            return 0  # the parent prints the report once, over both splits
        _note(out, {"last_session_s": round(time.monotonic() - started), "problems": len(chosen), "ladder": ladder})
    return report(out, ladder, [p.task_id for p in chosen])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="all 164 problems instead of the quick subset of 30")
    parser.add_argument("--limit", type=int, help="only the first N problems of the chosen set")
    parser.add_argument("--ladder", help="comma-separated registry model ids, weakest first (default: both Qwens)")
    parser.add_argument("--policies", help="comma-separated policy names (default: all; the quick mode leaves out "
                        "`implement`)")
    parser.add_argument("--rounds", type=int, default=2, help="fix rounds of the feedback policy (default 2)")
    parser.add_argument("--feature", type=int, default=0, help="run the shipped feature workflow on this many problems")
    parser.add_argument("--out", type=Path, help="output folder (default bench/out/quick or bench/out/full)")
    parser.add_argument("--problems", type=Path, help="a HumanEval-shaped JSONL(.gz) instead of the package's")
    parser.add_argument("--report", action="store_true", help="only print the figures of what already ran")
    parser.add_argument("--no-replay", action="store_true", help="run every model call live (no shared attempts)")
    parser.add_argument("--reverse", action="store_true", help="take the problems last first (a second process on "
                        "the same split works from the other end)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes, one per split (default: 2, or 1 on one core); each holds the ladder's "
                        "models (about 5 GiB for the two Qwens)")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # one problem's phase 1, in a child process
    parser.add_argument("--phase2", action="store_true", help=argparse.SUPPRESS)  # a split's predictive phase
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # started by this script
    parser.add_argument("--split", choices=["a", "b"], help="only this split's problems (run the two in parallel, "
                        "then once more without --split for the predictive phase)")
    return parser


def _splits_in_parallel(extra: tuple[str, ...] | list[str] = ()) -> None:
    """Run phase 1 (with `--phase2`: the predictive phase) of splits a and b at once, each in a child process with
    the same options (one model call at a time per process: llama.cpp here runs one thread per model)."""
    children = [_child(["--split", split, *extra], wait=False) for split in ("a", "b")]
    for child in children:
        child.wait()


def _child(extra: list[str], wait: bool = True) -> subprocess.Popen:
    """This script again, with this run's options (but --jobs, --split, --only) and `extra`."""
    forwarded, skip = [], 0
    for arg in sys.argv[1:]:
        if skip:
            skip -= 1
        elif arg in ("--jobs", "--split", "--only"):
            skip = 1
        elif not arg.startswith(("--jobs=", "--split=", "--only=")):
            forwarded.append(arg)
    child = subprocess.Popen([sys.executable, __file__, *forwarded, *extra, "--jobs", "1", "--child"])
    if wait:
        child.wait()
    return child


def _environment() -> None:
    """The venv's python first on PATH (the gates run `python -m pytest`), no third-party pytest plugins."""
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ.setdefault("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    # The gates' probe registers the installed plugins itself (as pytest's autoload would) unless the command
    # blocks them. The visible tests are plain asserts and use none; loading langsmith's, hypothesis's, anyio's
    # and platformdirs' cost 1.5 s of each gate's 2.2 s pytest run (2026-12-07, load 3.7), 20-odd runs a problem.
    blocked = " ".join(f"-p no:{name}" for name in sorted({e.name for e in entry_points(group="pytest11")}))
    os.environ.setdefault("PYTEST_ADDOPTS", blocked)


def _select(problems: list[Problem], args: argparse.Namespace) -> list[Problem]:
    """The quick subset (or all), cut to --limit."""
    chosen = problems if args.full or args.problems else [p for p in problems if p.task_id in QUICK]
    return chosen[: args.limit] if args.limit else chosen


def selected_policies(args: argparse.Namespace) -> list[Policy]:
    """The phase-1 policies asked for (the quick mode leaves out the full-only ones unless named), plus the feature
    workflow when asked for."""
    every = [p for p in policies(args.rounds) if args.full or args.problems or not p.full_only or args.policies]
    if args.feature:
        every.append(Policy("feature", "the shipped feature workflow with the embedded team", lambda f, r: f, rung(0),
                            phase=3))
    wanted = set(args.policies.split(",")) if args.policies else None
    return [p for p in every if wanted is None or p.name in wanted or p.name.split("-")[0] in wanted]


def run_all(splits: dict[str, list[Problem]], out: Path, ladder: list[str], args: argparse.Namespace,
            results: Path) -> None:
    """Phase 1 problem by problem (every policy on a problem before the next), then the predictive routers."""
    store = None if args.no_replay else AttemptStore(out / "attempts.sqlite")
    complete = ReplayingComplete(store, live_complete, os.environ.get("ORCHESTRATOR_LOCAL_SEED", "0"))
    chosen = selected_policies(args)
    done = set().union(*(done_keys(path) for path in out.glob("results*.jsonl")))
    order = [(name, p) for pair in zip(*splits.values(), strict=False) for name, p in zip(splits, pair, strict=True)]
    order += [(name, p) for name, ps in splits.items() for p in ps[len(min(splits.values(), key=len)):]]
    for split, problem in order if not args.phase2 else []:
        phase1 = [p for p in chosen if p.phase == 1 and (p.name, problem.task_id) not in done]
        if phase1 and args.only is None:
            # Each problem in a child process: a crash in llama.cpp costs one problem, and memory the process
            # gathers is given back (2026-12-07: one process running every problem grew to 13 GB and was killed).
            _child(["--split", split, "--only", problem.task_id])
            done |= set().union(*(done_keys(path) for path in out.glob("results*.jsonl")))
        elif phase1 and problem.task_id == args.only:
            for policy in phase1:
                _run(policy, problem, out / f"split-{split}", out, ladder, complete, results, done)
    if args.only is not None:
        return
    if _wants_predictive(args) and (not args.split or args.phase2):
        routers = _routers(splits, out, calibrate=not args.phase2)
        for split, problems in splits.items():
            # Only where the single shots and the cascade ran: the figures compare policies on the same problems,
            # and the predictive policy's calls are then mostly theirs, replayed.
            ready = [p for p in problems if {(name, p.task_id) for name in CORE} <= done]
            for policy in routers[split] if ready else []:
                for problem in ready:
                    _run(policy, problem, out / f"split-{split}", out, ladder, complete, results, done)
    feature = next((p for p in chosen if p.name == "feature"), None)
    if feature and not args.split:  # once, in the parent: a split's child would run its own first N, into one repo
        from orchestrator.workflow.validate import find_workflow

        for _, problem in order[: args.feature]:
            _run(feature, problem, out / "split-feature", out, ladder, complete, results, done,
                 find_workflow("feature"))


def _run(policy: Policy, problem: Problem, root: Path, out: Path, ladder: list[str], complete: ReplayingComplete,
         results: Path, done: set[tuple[str, str]], workflow: Path | None = None) -> None:
    """One (policy, problem) unless it already ran; its record is appended at once."""
    if (policy.name, problem.task_id) in done:
        return
    base = _last_record(results, policy.samples_of[0], problem.task_id) if policy.samples_of else None
    record = derived_samples(policy, base) or run_policy(policy, problem, root, out, ladder, complete, workflow)
    record["load"] = [round(x, 2) for x in os.getloadavg()]
    record["split"] = root.name
    append(results, record)
    done.add((policy.name, problem.task_id))
    print(f"{policy.name:<20} {problem.task_id:<14} hidden {'pass' if record['hidden_pass'] else 'fail'}  "
          f"visible {','.join(v or '-' for v in record['visible']) or '-':<16} {record['wall_s']:>7.1f}s  "
          f"calls {len(record['calls'])} ({record['replayed_calls']} replayed)  load {record['load'][0]}"
          + (f"  (the samples of its {record['derived_from']} run)" if "derived_from" in record else ""), flush=True)


def _last_record(results: Path, policy: str, problem: str) -> dict | None:
    """The latest record of a policy on a problem in this process's results file."""
    found = [r for r in read_records(results) if r["policy"] == policy and r["problem"] == problem]
    return found[-1] if found else None


def _wants_predictive(args: argparse.Namespace) -> bool:
    return not args.policies or "predictive" in args.policies


def _routers(splits: dict[str, list[Problem]], out: Path, calibrate: bool = True) -> dict[str, list[Policy]]:
    """Each split's predictive policies, every router fitted before any predictive run (a split's router learns
    from the other split's phase-1 runs only, whichever split runs first). A phase-2 child (`calibrate` False)
    only uses the routers its parent fitted: the other split's log is growing beside it."""
    return {split: _predictive(out / f"split-{'b' if split == 'a' else 'a'}", out, split, calibrate)
            for split in splits}


def _predictive(train: Path, out: Path, split: str, calibrate: bool = True) -> list[Policy]:
    """A split's predictive policies: the router calibrated on the other split's run log, and the shipped one."""
    router = out / "routers" / f"from-{train.name}.json"
    router.parent.mkdir(parents=True, exist_ok=True)
    made = router.exists() or (calibrate and _calibrate(train, router))
    found = [predictive_policy(router, "predictive")] if made else []
    return [*found, predictive_policy(SHIPPED_ROUTER, "predictive-static")]


def _calibrate(train: Path, router: Path) -> bool:
    """`orchestrator router calibrate --from-runs --router` on the training split's repo, as a user runs it."""
    code = "import sys; from orchestrator.cli import main; sys.argv[0] = 'orchestrator'; sys.exit(main())"
    argv = [sys.executable, "-c", code, "router", "calibrate", "--from-runs", "--repo",
            str(train / "repo"), "--out", str(router.with_suffix(".calibration.json")), "--router", str(router)]
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    print(proc.stdout.strip()[-600:], proc.stderr.strip()[-600:], sep="\n", flush=True)
    return proc.returncode == 0 and router.exists()


def _note(out: Path, data: dict) -> None:
    """Merge facts about this session (time, problems, ladder) into meta.json."""
    path = out / "meta.json"
    meta = json.loads(path.read_text()) if path.exists() else {}
    meta.update(data, uptime=subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    path.write_text(json.dumps(meta, indent=2))


def report(out: Path, ladder: list[str], problems: list[str]) -> int:
    """Print the table (policies compared on the problems they all ran), the goals, and write the plot."""
    records = [row for path in sorted(out.glob("results*.jsonl")) for row in read_records(path)]
    if not records:
        print(f"no results yet in {out}")
        return 1
    table = fig.by_policy(records, set(problems))
    params = _parameters(ladder)
    core = [p for p in table if p not in ("feature",) and not p.startswith("predictive")]
    common = fig.common_problems(table, core)
    rows = fig.figures(table, common, ladder, params)
    strong = next((f for f in rows if f.policy == fig.STRONG), None)
    print(f"\n{len(common)} problems run by every policy ({len(records)} records in {out})")
    print(fig.table_text(rows, strong))
    for line in fig.goals(rows):
        print(" -", line)
    for name in ("predictive", "predictive-static", "feature"):
        if name in table:
            _subset(name, table, ladder, params)
    fig.plot(rows, out / "plot.png", f"HumanEval ({len(common)} problems), ladder {' -> '.join(ladder)}")
    print(f"wrote {out / 'plot.png'}")
    return 0


def _subset(name: str, table: dict, ladder: list[str], params: dict[str, float]) -> None:
    """A policy that ran on fewer problems, beside the single shots and the cascade on those same problems."""
    policies_here = [name, fig.WEAK, fig.STRONG, "cascade"]
    common = fig.common_problems(table, policies_here)
    sub = {p: table[p] for p in policies_here if p in table}
    rows = fig.figures(sub, common, ladder, params)
    print(f"\n{name} on the {len(common)} problems it ran:")
    print(fig.table_text(rows, next((f for f in rows if f.policy == fig.STRONG), None)))
    for line in fig.goals(rows):
        print(" -", line)
    scores = [table[name][p].get("score") for p in sorted(common)]
    if name.startswith("predictive") and common and all(s is not None for s in scores):
        from orchestrator.routing.predictive.metrics import apgr, cpt

        weak = [int(table[fig.WEAK][p]["hidden_pass"]) for p in sorted(common)]
        strong = [int(table[fig.STRONG][p]["hidden_pass"]) for p in sorted(common)]
        print(f"   {name}: APGR {apgr(scores, weak, strong):.3f}, CPT(50%) {cpt(scores, weak, strong, 0.5):.3f} "
              "(between the single shots; random 0.5)")


def _parameters(ladder: list[str]) -> dict[str, float]:
    """Each ladder model's parameter count, from the registry (models.yaml `parameters`)."""
    from orchestrator.models.registry import load_registry

    registry = load_registry()
    return {model: float(registry.model_info(model).parameters or 0) for model in ladder}


if __name__ == "__main__":
    sys.exit(main())
