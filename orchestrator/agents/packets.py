"""Input gates: build a phase's context packet from files and typed handoffs, trimmed to a token budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from orchestrator.agents.redact import redact
from orchestrator.models.tokens import CHARS_PER_TOKEN, estimate_tokens

__all__ = ["estimate_tokens"]  # re-exported: the packet's size is what steps and routing estimate with


class Handoff(BaseModel):
    """What one phase passes to the next: never raw chat, only these typed fields."""

    step: str = Field(description="Step that produced the handoff.")
    persona: str = Field(description="Persona that produced it.")
    summary: str = Field("", description="What was done.")
    decisions: list[str] = Field(default_factory=list, description="Decisions taken.")
    constraints: list[str] = Field(default_factory=list, description="Constraints found.")
    open_issues: list[str] = Field(default_factory=list, description="Questions left open.")

    def render(self) -> str:
        """Markdown shown to the next phase."""
        lines = [f"From {self.step} ({self.persona}): {self.summary}".strip()]
        for title, items in (("Decisions", self.decisions), ("Constraints", self.constraints),
                             ("Open issues", self.open_issues)):
            lines += [f"{title}:"] + [f"- {item}" for item in items] if items else []
        return "\n".join(lines)


@dataclass
class Packet:
    """A context packet: its text plus what was kept, trimmed or dropped, for the run log."""

    text: str
    tokens: int
    kept: list[str] = field(default_factory=list)
    trimmed: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


Section = tuple[str, str] | tuple[str, str, int]
"""(title, body) or (title, body, cap in tokens): a capped section is trimmed to its cap before the next comes."""

_TRIM_NOTE = "\n[... trimmed to fit the context budget]\n"


def build_packet(sections: Sequence[Section], budget_tokens: int) -> Packet:
    """Join sections in priority order; once the budget runs short, trim the next one and drop the rest."""
    parts: list[str] = []
    packet = Packet(text="", tokens=0)
    remaining = budget_tokens
    for title, body, *cap in sections:
        if not body.strip():
            continue
        block = f"## {title}\n{body.strip()}\n"
        if cap and estimate_tokens(block) > cap[0]:
            block = block[: cap[0] * CHARS_PER_TOKEN - len(_TRIM_NOTE)] + _TRIM_NOTE
            packet.trimmed.append(title)
        cost = estimate_tokens(block)
        if cost <= remaining:
            parts.append(block)
            packet.kept.append(title)
            remaining -= cost
        elif remaining > 50:
            cut = remaining * CHARS_PER_TOKEN - len(_TRIM_NOTE)
            parts.append(block[:cut] + _TRIM_NOTE)
            packet.trimmed.append(title)
            remaining = 0
        else:
            packet.dropped.append(title)
    # Files of the worktree went into these sections: no known secret value goes on to a model or a checkpoint,
    # and a non-UTF-8 file name (made by a test) shows as "?" instead of breaking the checkpoint's encoding.
    packet.text = redact("\n".join(parts)).encode("utf-8", "replace").decode("utf-8")
    packet.tokens = estimate_tokens(packet.text)
    return packet
