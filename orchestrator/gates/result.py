"""The one result type every gate returns: a verdict (pass, fail or unknown), its reasons and its evidence."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

GateVerdict = Literal["pass", "fail", "unknown"]


class CommandEvidence(BaseModel):
    """One command a gate ran, and how it ended."""

    name: str = Field(description="The command's name in the gate config (or what the gate calls it).")
    argv: list[str] = Field(default_factory=list, description="What was run, without a shell.")
    exit_code: int | None = Field(None, description="Exit code; None when the command never ran.")
    timed_out: bool = False
    seconds: float = 0.0


class GateResult(BaseModel):
    """What a gate decided and why. `unknown` means the gate could not judge; it counts as a failure."""

    gate: str = Field(description="The gate step's id.")
    kind: str = Field(description="The gate kind's name: quality, red, review, spec, acceptance or a plugin's.")
    verdict: GateVerdict
    reasons: list[str] = Field(default_factory=list, description="Why; the first is the main reason.")
    commands: list[CommandEvidence] = Field(default_factory=list)
    tests: dict[str, list[str]] = Field(default_factory=dict, description="Test ids by role: new, red, lost, ...")
    findings: str = Field("", description="Parsed {file, line, message} findings, compressed for a model.")
    document: dict[str, Any] | None = Field(None, description="The verdict or spec the gate judged.")
    report: str = Field("", description="What the agent sent back gets to read.")

    @property
    def passed(self) -> bool:
        """Only a pass passes: unknown fails closed."""
        return self.verdict == "pass"

    @property
    def main_reason(self) -> str:
        """The first reason, for summaries and logs."""
        return self.reasons[0] if self.reasons else ("passed" if self.passed else "no reason given")

    def render(self) -> str:
        """The report handed back to the agent that must fix the work."""
        head = f"Gate {self.gate} ({self.kind}): {self.verdict}"
        reasons = "\n".join(f"- {r}" for r in self.reasons)
        parts = [head, reasons, self.findings, self.report]
        return "\n".join(p for p in parts if p.strip())

    def state_update(self) -> dict[str, Any]:
        """The run-state fields every gate writes (the step node adds rounds, stop reasons and phases)."""
        return {"last_verdict": self.verdict, "gate_report": self.render(), "gate_results": {self.gate: self.summary()}}

    def summary(self) -> dict[str, Any]:
        """What the checkpoint keeps of a gate result: small, so state stays linear in the number of steps."""
        return {"kind": self.kind, "verdict": self.verdict, "reason": self.main_reason,
                "tests": {k: v[:50] for k, v in self.tests.items()}}


def unknown(gate: str, kind: str, reason: str, **evidence: Any) -> GateResult:
    """A gate that could not judge: fails closed with its reason."""
    return GateResult(gate=gate, kind=kind, verdict="unknown", reasons=[reason], **evidence)
