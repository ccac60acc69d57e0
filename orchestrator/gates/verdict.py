"""Review gate data: the critic's structured verdict, its finishing tool and the merged report."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.models.schema import first_problem, tool_spec

Severity = Literal["blocker", "major", "minor"]


class Violation(BaseModel):
    """One way the diff breaks the spec, with what to do about it."""

    clause: str = Field(description="Spec clause or scenario violated.")
    severity: Severity = Field("major", description="How bad it is.")
    description: str = Field("", description="What is wrong.")
    impact: str = Field("", description="What goes wrong for users if it ships.")
    remediation: list[str] = Field(default_factory=list, description="Steps to fix it.")
    required_tests: list[str] = Field(default_factory=list, description="Tests that must exist afterwards.")


class ScenarioAnswer(BaseModel):
    """The critic's answer for one scenario of the spec: which test checks it, and is it met."""

    # The tool schema requires the test, so a constrained decoder names one before it says "met"; parsing
    # stays lenient, and the gate refuses a pass whose test pytest doesn't collect.
    model_config = ConfigDict(json_schema_extra={"required": ["scenario", "test", "met"]})

    scenario: int = Field(ge=1, description="Number of the scenario in the list (1 = first).")
    test: str = Field("", description="Id of the test that checks it, e.g. tests/test_calc.py::test_subtract.")
    met: bool = Field(description="True when the diff implements it and the test checks it.")


class ReviewVerdict(BaseModel):
    """A critic's verdict on spec + diff, answering every scenario."""

    # Field order is decoding order: answering each scenario before the verdict is what made the 1.5B critic
    # judge from the evidence (measured 2026-12-02: with the verdict first it failed correct work 4/4 seeds).
    scenarios: list[ScenarioAnswer] = Field(default_factory=list, description="One answer per scenario.")
    violations: list[Violation] = Field(default_factory=list, description="Empty on pass.")
    verdict: Literal["pass", "fail"] = Field(description="pass only when every scenario is implemented and tested.")

    def render(self) -> str:
        """Checklist text handed to the builder."""
        answers = [f"scenario {a.scenario}: {'met' if a.met else 'NOT met'} ({a.test or 'no test named'})"
                   for a in self.scenarios]
        if not self.violations:
            return "\n".join([f"Review verdict: {self.verdict}.", *answers])
        lines = [f"Review verdict: {self.verdict}. Fix these:"]
        for i, v in enumerate(self.violations, 1):
            lines.append(f"{i}. [{v.severity}] {v.clause}: {v.description}".rstrip(": "))
            lines += [f"   impact: {v.impact}"] if v.impact else []
            lines += [f"   fix: {step}" for step in v.remediation]
            lines += [f"   test: {t}" for t in v.required_tests]
        return "\n".join(lines + answers)


VERDICT_TOOL = tool_spec(
    "submit_verdict",
    "Submit your review verdict: answer every numbered scenario (the test that checks it, met or not), then "
    "pass, or fail with the violations the builder must fix.",
    ReviewVerdict,
    require_all=True,
)


def parse_verdict(arguments: dict | None, text: str = "", capped: bool = False) -> tuple[ReviewVerdict, str | None]:
    """Validate a verdict; unusable output fails closed, with the reason returned for the log."""
    try:
        if arguments is None and capped:
            raise ValueError("the critic used all its tool calls without calling submit_verdict")
        if arguments is None:
            raise ValueError(f"the critic answered in text instead of calling submit_verdict: {text[:200]!r}")
        verdict = ReviewVerdict.model_validate(arguments)
    except ValidationError as exc:  # name the field, not pydantic's "1 validation error for ReviewVerdict"
        reason = f"unusable verdict: submit_verdict: {first_problem(exc, ReviewVerdict)}"
    except ValueError as exc:
        reason = f"unusable verdict: {exc}".splitlines()[0]
    else:
        return verdict, None
    fallback = Violation(clause="review protocol", severity="major", description=reason)
    return ReviewVerdict(verdict="fail", violations=[fallback]), reason


def merge_verdicts(verdicts: list[ReviewVerdict]) -> ReviewVerdict:
    """Deterministic merge: fail if any critic fails; violations deduplicated by (clause, description)."""
    seen: dict[tuple[str, str], Violation] = {}
    rank = {"blocker": 0, "major": 1, "minor": 2}
    for verdict in verdicts:
        for v in verdict.violations:
            key = (v.clause.strip().lower(), v.description.strip().lower())
            if key not in seen or rank[v.severity] < rank[seen[key].severity]:
                seen[key] = v
    failed = any(v.verdict == "fail" for v in verdicts)
    return ReviewVerdict(verdict="fail" if failed else "pass", violations=list(seen.values()),
                         scenarios=merge_answers(verdicts))


def merge_answers(verdicts: list[ReviewVerdict]) -> list[ScenarioAnswer]:
    """One answer per scenario: met only if every critic that answered it says met."""
    merged: dict[int, ScenarioAnswer] = {}
    for verdict in verdicts:
        for answer in verdict.scenarios:
            old = merged.get(answer.scenario)
            merged[answer.scenario] = answer if old is None else ScenarioAnswer(
                scenario=answer.scenario, test=old.test or answer.test, met=old.met and answer.met)
    return [merged[n] for n in sorted(merged)]
