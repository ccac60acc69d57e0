"""Figures per policy from the bench's records: hidden pass@1, compute, wall time, rung shares, oracle bounds.

Compute is (prompt + completion tokens) x the model's parameter count, summed over every call of the run
(the router's own calls included: there are none in these workflows; its own time is in `routing_s`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STRONG, WEAK = "single-strong", "single-weak"


@dataclass
class Figures:
    """One policy's figures over the problems it ran."""

    policy: str
    problems: int
    passed: int
    compute: float
    wall_s: float
    routing_s: float
    rungs: dict[int, int] = field(default_factory=dict)
    bound: tuple[float, float] | None = None
    """(pass@1, compute) with an oracle gate (the hidden tests), beside cascade and best-of figures."""

    @property
    def pass_at_1(self) -> float:
        return self.passed / self.problems if self.problems else math.nan

    def rung_shares(self) -> str:
        total = sum(self.rungs.values()) or 1
        return " / ".join(f"{100 * self.rungs.get(i, 0) / total:.0f}%" for i in range(max(self.rungs, default=0) + 1))


def record_compute(record: dict[str, Any], params: dict[str, float]) -> float:
    """Token-parameters of one run: every call's tokens times its model's parameters."""
    return sum((c["prompt_tokens"] + c["completion_tokens"]) * params.get(c["model"], 0.0) for c in record["calls"])


def by_policy(records: list[dict[str, Any]], problems: set[str] | None = None) -> dict[str, dict[str, dict]]:
    """policy -> problem -> record (the last one, when a problem ran twice), limited to `problems` when given."""
    table: dict[str, dict[str, dict]] = defaultdict(dict)
    for record in records:
        if problems is None or record["problem"] in problems:
            table[record["policy"]][record["problem"]] = record
    return table


def common_problems(table: dict[str, dict[str, dict]], policies: list[str]) -> set[str]:
    """Problems every listed policy ran: figures compare policies on the same problems only."""
    sets = [set(table[p]) for p in policies if p in table]
    return set.intersection(*sets) if sets else set()


def figures(table: dict[str, dict[str, dict]], problems: set[str], ladder: list[str],
            params: dict[str, float]) -> list[Figures]:
    """Figures of every policy on the given problems, with oracle bounds for cascade and best-of."""
    rows = []
    for policy, runs in table.items():
        if policy.endswith("-samples"):
            continue
        chosen = [runs[p] for p in sorted(problems) if p in runs]
        if len(chosen) < len(problems):
            continue
        rungs: dict[int, int] = defaultdict(int)
        for record in chosen:
            for call in record["calls"]:
                rungs[ladder.index(call["model"]) if call["model"] in ladder else len(ladder)] += 1
        row = Figures(policy, len(chosen), sum(r["hidden_pass"] for r in chosen),
                      sum(record_compute(r, params) for r in chosen) / len(chosen),
                      sum(r["wall_s"] for r in chosen) / len(chosen), sum(r["routing_s"] for r in chosen), dict(rungs))
        row.bound = _bound(policy, table, problems, params)
        rows.append(row)
    return sorted(rows, key=lambda f: f.compute)


def _bound(policy: str, table: dict[str, dict[str, dict]], problems: set[str],
           params: dict[str, float]) -> tuple[float, float] | None:
    """The oracle-gate bound: climb (or draw the next sample) exactly when the hidden test fails."""
    if policy == "cascade":
        weak, strong = table.get(WEAK, {}), table.get(STRONG, {})
        if not all(p in weak and p in strong for p in problems):
            return None
        passed = sum(weak[p]["hidden_pass"] or strong[p]["hidden_pass"] for p in problems)
        compute = sum(record_compute(weak[p], params) + (0 if weak[p]["hidden_pass"] else
                      record_compute(strong[p], params)) for p in problems)
        return passed / len(problems), compute / len(problems)
    if policy.startswith("best-of"):
        samples = table.get(f"{policy}-samples", {})
        if not all(p in samples for p in problems):
            return None
        passed = compute = 0.0
        for p in problems:
            for sample in samples[p]["samples"]:
                compute += (sample["tokens"] or 0) * params.get(sample["model"], 0.0)
                if sample["hidden_pass"]:
                    passed += 1
                    break
        return passed / len(problems), compute / len(problems)
    return None


def goals(rows: list[Figures]) -> list[str]:
    """The issue's goals, each met or not, with the figures that decide it."""
    by = {f.policy: f for f in rows}
    weak, strong = by.get(WEAK), by.get(STRONG)
    if weak is None or strong is None:
        return ["goals need both single shots"]
    lines = []

    def share(f: Figures) -> str:
        return (f"pass@1 {f.pass_at_1:.3f} = {f.pass_at_1 / strong.pass_at_1:.0%} of the strong single shot's, "
                f"compute {f.compute / strong.compute:.0%} of its") if strong.pass_at_1 else "strong passed none"

    if (c := by.get("cascade")) and strong.pass_at_1:
        met = c.pass_at_1 >= 0.98 * strong.pass_at_1 and c.compute <= 0.75 * strong.compute
        beat = c.pass_at_1 > strong.pass_at_1 and c.compute <= 0.75 * strong.compute
        lines.append(f"cascade >= 98% of strong at <= 75% compute: {'met' if met else 'not met'}"
                     f"{' (beats the anchors)' if beat else ''}; {share(c)}")
    if b := by.get("best-of-3"):
        met = b.pass_at_1 >= strong.pass_at_1 and b.compute <= strong.compute
        lines.append(f"best-of-3 on weak >= strong at <= its compute: {'met' if met else 'not met'}; {share(b)}")
    for name, f in by.items():
        if name.startswith("predictive") and (c := by.get("cascade")):
            met = f.pass_at_1 >= c.pass_at_1 and f.compute < c.compute
            lines.append(f"{name} in front of the cascade: cascade's pass rate at lower compute: "
                         f"{'met' if met else 'not met'}; pass@1 {f.pass_at_1:.3f} vs {c.pass_at_1:.3f}, "
                         f"compute {f.compute / c.compute:.0%} of the cascade's")
    if fb := next((f for n, f in by.items() if n.startswith("feedback")), None):
        lines.append(f"{fb.policy} beats the weak single shot: {'met' if fb.pass_at_1 > weak.pass_at_1 else 'not met'}"
                     f"; {fb.pass_at_1:.3f} vs {weak.pass_at_1:.3f}")
    worse = [f.policy for f in rows if f.policy not in (WEAK, STRONG, "feature") and f.pass_at_1 < weak.pass_at_1]
    verdict = "met" if not worse else "not met: " + ", ".join(worse)
    lines.append(f"no workflow policy below the weak single shot: {verdict}")
    return lines


def table_text(rows: list[Figures], strong: Figures | None) -> str:
    """The printed table: one line per policy, cheapest first."""
    head = (f"{'policy':<22}{'n':>4}{'pass@1':>8}{'oracle':>8}{'compute':>10}{'rel':>7}{'orc.rel':>8}"
            f"{'wall s':>8}{'router s':>10}  calls per rung")
    lines = [head, "-" * len(head)]
    base = strong.compute if strong and strong.compute else None  # no strong single shot: no ratios

    def rel(value: float) -> str:
        return f"{value / base:.2f}" if base else "-"

    for f in rows:
        oracle = f"{f.bound[0]:.3f}" if f.bound else "-"
        orel = rel(f.bound[1]) if f.bound else "-"
        lines.append(f"{f.policy:<22}{f.problems:>4}{f.pass_at_1:>8.3f}{oracle:>8}{f.compute / 1e12:>9.2f}T"
                     f"{rel(f.compute):>7}{orel:>8}{f.wall_s:>8.0f}{f.routing_s:>10.4f}  {f.rung_shares()}")
    lines.append("compute: mean token-parameters per problem (T = 1e12); rel: over the strong single shot's; "
                 "oracle: the same policy with a gate equal to the hidden tests")
    return "\n".join(lines)


def pareto(rows: list[Figures]) -> list[Figures]:
    """Policies no other policy beats on both pass@1 and compute, cheapest first."""
    front, best = [], -1.0
    for f in sorted(rows, key=lambda f: (f.compute, -f.pass_at_1)):
        if f.pass_at_1 > best:
            front.append(f)
            best = f.pass_at_1
    return front


def plot(rows: list[Figures], path: Path, title: str) -> None:
    """A cost/quality PNG: each policy, its oracle bound (hollow), and the Pareto frontier."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for f in rows:
        ax.scatter(f.compute / 1e12, f.pass_at_1, s=40, zorder=3)
        ax.annotate(f.policy, (f.compute / 1e12, f.pass_at_1), textcoords="offset points", xytext=(5, 4), fontsize=8)
        if f.bound:
            ax.scatter(f.bound[1] / 1e12, f.bound[0], s=40, facecolors="none", edgecolors="grey", zorder=2)
            ax.annotate(f"{f.policy} (oracle gate)", (f.bound[1] / 1e12, f.bound[0]), textcoords="offset points",
                        xytext=(5, -10), fontsize=7, color="grey")
    front = pareto(rows)
    ax.plot([f.compute / 1e12 for f in front], [f.pass_at_1 for f in front], "--", color="black", lw=1,
            label="Pareto frontier", zorder=1)
    ax.set_xlabel("compute per problem: tokens x parameters (1e12)")
    ax.set_ylabel("hidden-test pass@1")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
