"""Is the dispatcher worth its call? Its choices on the feature workflow's triage point against the default edge.

The shipped `feature` workflow sends a failed review to `triage`, where the dispatcher picks `build`, `spec` or
`escalate` (default `build`). This replays labelled triage contexts (the packet and tools `run_dispatch_step`
builds: the task, the step's description, the gate verdicts and the review's report) to each embedded model and
scores its choice against the label; the default edge takes `build` every time. A malformed or disallowed call
takes the default, as in a run.

The labels are this file's judgement of what a careful engineer would do with that report: a fault in the code
goes back to the builder, a fault in the spec to the spec writer, the same violation after the builder's repeated
fixes to escalation. Run: `python bench/bench_dispatcher.py [--models smollm2,qwen2.5-coder-0.5b]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.agents.packets import build_packet  # noqa: E402
from orchestrator.agents.personas import load_persona  # noqa: E402
from orchestrator.run.records import format_verdicts  # noqa: E402
from orchestrator.steps.dispatch import choice_tools, validate_choice  # noqa: E402
from orchestrator.workflow.validate import find_workflow, load_workflow  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PASSED = {"spec_check": "pass", "red_check": "pass", "quality": "pass", "review": "fail"}


def _report(*reasons: str) -> str:
    return "Gate review (review): fail\n" + "\n".join(f"- {r}" for r in reasons)


# (task, verdicts, review report, the right choice, why)
TRIAGE: list[tuple[str, dict[str, str], str, str, str]] = [
    ("Add subtract(a, b) to calc.py returning a minus b.", PASSED,
     _report("critic: major: Definition of done: subtract has a docstring. subtract has no docstring."),
     "build", "a missing docstring is the code's fault"),
    ("Add subtract(a, b) to calc.py returning a minus b.", PASSED,
     _report("critic: blocker: parameters changed (calc.py subtract(a, b) -> subtract(b, a)): a Contract change "
             "nobody asked for."), "build", "the builder swapped the parameters"),
    ("Add rectangle_area(l, b) to geometry.py returning l times b.", {**PASSED, "quality": "fail"},
     _report("a review never passes while a quality gate fails: quality"), "build", "the tests fail: code"),
    ("Add kebabize(text) to inflection.py: 'HelloWorld' -> 'hello-world'.", PASSED,
     _report("critic: the diff changes no source file: a pass needs the work done"), "build", "nothing was built"),
    ("Add tetrahedral(n) to seq.py returning n(n+1)(n+2)/6.", PASSED,
     _report("critic: major: scenario 2 not met: tetrahedral(3) returned 6, the spec says 10."), "build",
     "the code computes the wrong value the spec states right"),
    ("Add max_product(nums) to arr.py returning the largest product of two numbers.", PASSED,
     _report("critic: blocker: the spec's scenario 1 says max_product([1, 5, 3]) returns 8, but 5 * 3 is 15; "
             "the Contract contradicts the task.", "critic: the test follows the wrong scenario."), "spec",
     "the spec's scenario is wrong, so the tests are too"),
    ("Make slugify(text) lowercase its output.", PASSED,
     _report("critic: major: the spec names the function slug_text but the task and the code say slugify; the "
             "spec's Blueprint must name the function the task asks for."), "spec", "the spec names another function"),
    ("Add is_leap(year) to dates.py.", PASSED,
     _report("critic: major: the spec has no scenario for century years (1900, 2000), which the task's "
             "definition of a leap year needs; the tests cannot show the rule."), "spec", "the spec misses a case"),
    ("Add subtract(a, b) to calc.py returning a minus b.", {**PASSED, "review": "fail"},
     _report("critic: blocker: parameters changed (calc.py subtract(a, b) -> subtract(b, a)) -- the same violation "
             "after the builder's third fix round on this model; the builder keeps making it."), "escalate",
     "the same violation after repeated fixes: a stronger model"),
    ("Add median(values) to stats.py.", PASSED,
     _report("critic: major: median of an even-length list returns the upper middle value; it must average the "
             "two middle values (scenario 3)."), "build", "wrong code"),
    ("Add clamp(x, lo, hi) to num.py.", PASSED,
     _report("critic: minor: clamp lacks a type hint; critic: major: clamp(5, 10, 0) should raise ValueError per "
             "the Guardrails but returns 0."), "build", "wrong code"),
    ("Add word_count(text) to text.py.", PASSED,
     _report("critic: blocker: the builder's fix failed this review four times with the same finding (split on "
             "spaces only, tabs ignored) and each fix was the same code; it cannot get past it."), "escalate",
     "stuck on one rung"),
]


def _dispatch_inputs(flow: Any, step: Any, task: str, verdicts: dict[str, str], report: str
                     ) -> tuple[list[dict[str, Any]], list[Any]]:
    """The messages and tools `run_dispatch_step` sends for this state (its packet, budget and sections)."""
    persona = load_persona(step.persona, ROOT)
    budget = 1500
    sections = [("Task", task, budget // 3), ("Decide", step.description or "Choose the next step."),
                ("Gate verdicts", format_verdicts(verdicts)), ("Last gate report", report)]
    packet = build_packet(sections, budget)
    messages = [{"role": "system", "content": persona.system_prompt()}, {"role": "user", "content": packet.text}]
    return messages, choice_tools(step, SimpleNamespace(spec=flow))


def score(model: str, flow: Any, step: Any) -> dict[str, Any]:
    """The model's choice on every triage point, and how many match the label."""
    from orchestrator.models.gateway import complete

    rows = []
    for task, verdicts, report, right, _why in TRIAGE:
        messages, tools = _dispatch_inputs(flow, step, task, verdicts, report)
        started = time.perf_counter()
        reply = complete(model, messages, tools=tools, require_tool=True, persona="dispatcher", temperature=0.0)
        chosen, reason, fallback = validate_choice(step, reply)
        rows.append({"right": right, "chosen": chosen, "fallback": fallback, "reason": reason[:100],
                     "seconds": round(time.perf_counter() - started, 2)})
    return {"model": model, "right": sum(r["chosen"] == r["right"] for r in rows), "of": len(rows), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", default="smollm2")
    args = parser.parse_args()
    flow = load_workflow(find_workflow("feature", ROOT), ROOT)
    step = flow.step("triage")
    default = sum(right == step.default for *_, right, _ in TRIAGE)
    print(json.dumps({"load_average": os.getloadavg(), "triage_points": len(TRIAGE),
                      "default_edge": {"choice": step.default, "right": default}}))
    for name in args.models.split(","):
        result = score(f"local/{name}", flow, step)
        print(json.dumps({k: v for k, v in result.items() if k != "rows"}))
        for row in result["rows"]:
            print("   ", json.dumps(row))


if __name__ == "__main__":
    main()
