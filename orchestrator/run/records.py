"""The phase record: one row per step of a run, in the run state, the summary and the run log."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class PhaseRecord(BaseModel):
    """What one step did: who, on which model, at what cost, and how it ended."""

    step: str
    persona: str = "-"
    model: str | None = "-"
    tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    verdict: str = Field("", description="done, pass, fail, unknown, a dispatch choice or an escalation.")
    reason: str = Field("", description="The main reason of a gate verdict or a failed step.")
    commit: str | None = None
    tool_calls: int = 0
    model_calls: int = 0
    packet_trimmed: list[str] = Field(default_factory=list, description="Packet sections trimmed to fit.")
    packet_dropped: list[str] = Field(default_factory=list, description="Packet sections dropped to fit.")

    def row(self) -> dict[str, Any]:
        """The record as the plain dict the checkpointed run state holds."""
        return self.model_dump()
