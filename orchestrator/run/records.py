"""Records of a run: one row per step (state, summary, run log) and the verdict and rejection trailers of commits."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class PhaseRecord(BaseModel):
    """What one step did: who, on which model, at what cost, and how it ended."""

    step: str
    persona: str = "-"
    model: str | None = "-"
    tokens: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = Field(0, description="Prompt tokens the model served from its KV cache (local models).")
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


def format_verdicts(verdicts: dict[str, str]) -> str:
    """Latest verdict per gate as `gate=verdict, ...` (commit trailers, packets)."""
    return ", ".join(f"{gate}={verdict}" for gate, verdict in verdicts.items())


def rejection_trailers(acceptance_events: list[dict[str, Any]]) -> dict[str, list[str]]:
    """One `Human-Rejection` trailer per rejection of the run so far, its comment on one line."""
    comments = [" ".join(str(e["data"].get("comment") or "(no comment)").split())[:300]
                for e in acceptance_events if e["data"].get("decision") == "reject"]
    return {"Human-Rejection": comments} if comments else {}
