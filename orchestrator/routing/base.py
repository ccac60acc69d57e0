"""The routing interface: one request in, an ordered candidate list out, plus shared helpers."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from orchestrator.models.tokens import estimate_tokens

Stakes = Literal["low", "normal", "high"]
INTENT_CHARS = 4000
"""How much of a request's intent text (task and step instructions) a logged decision keeps."""


@dataclass(frozen=True)
class RouteRequest:
    """One call of one persona: what routing may look at (the packet text, the step's declarations, the budget).

    `est_tokens` is the whole prompt (system, packet, tool schemas); `completion_tokens` the reply budget.
    """

    persona: str
    step: str
    text: str
    task_type: str = ""
    tags: frozenset[str] = frozenset()
    stakes: Stakes = "normal"
    interactive: bool = False
    needs_tools: bool = True
    est_tokens: int = 0
    profile: str | None = None
    completion_tokens: int = 0
    usd_left: float | None = None
    """Dollars left under the tightest usd cap; None when no usd cap applies (so prices need not be known)."""
    prompt_text: str = ""
    """The whole first request as text (system prompt, packet, tool schemas), so the context check can count
    it with each model's own tokenizer; empty: `tokens` is the count."""
    intent_text: str = ""
    """What the work is (the run's task and the step's instructions), for strategies that classify intent:
    unlike the packet, it stays the same across a step's fix rounds. Empty: they read `text`."""
    bound_model: str | None = None
    """The model id a user layer (models.yaml, the workflow, `--model`) binds the persona to, if any: a
    cascade starts there instead of at its start rung."""

    @property
    def required_tags(self) -> frozenset[str]:
        """Tags of the form `key:value` (e.g. `residency:eu`) that every candidate model must carry."""
        return frozenset(tag for tag in self.tags if ":" in tag)

    @property
    def tokens(self) -> int:
        """Declared token estimate, else the shared typical estimate (about four characters a token)."""
        return self.est_tokens or max(1, estimate_tokens(self.text))


@dataclass
class RouteDecision:
    """What a strategy decided: ordered candidates (first = chosen, the rest failovers) and why."""

    strategy: str
    candidates: list[str]
    chosen: str
    reason: str
    latency_us: float = 0.0
    features: dict[str, Any] = field(default_factory=dict)
    prompt_hash: str = ""

    def as_log(self) -> dict[str, Any]:
        """The decision as a flat dict for the run log."""
        return {
            "strategy": self.strategy,
            "candidates": list(self.candidates),
            "chosen": self.chosen,
            "reason": self.reason,
            "latency_us": round(self.latency_us, 1),
            "features": dict(self.features),
            "prompt_hash": self.prompt_hash,
        }


class RoutingStrategy(Protocol):
    """Anything that turns a request and the persona's ordered models into a decision."""

    name: str

    def route(self, request: RouteRequest, candidates: list[str]) -> RouteDecision:
        """Order the candidates for this request; the first is the model to call."""
        ...


def prompt_hash(text: str) -> str:
    """Short sha256 of the request text, so the log can group identical prompts without storing them."""
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]


def dedupe(models: list[str]) -> list[str]:
    """Keep the first occurrence of each model, preserving order."""
    return list(dict.fromkeys(models))


def make_decision(
    strategy: str,
    request: RouteRequest,
    ordered: list[str],
    reason: str,
    started: float,
    features: dict[str, Any] | None = None,
) -> RouteDecision:
    """Build a decision, timing it from `started` (a `time.perf_counter()` value)."""
    ordered = dedupe(ordered)
    # Request features go in every decision so the log doubles as a preference dataset.
    features = {
        "tokens": request.tokens,
        "chars": len(request.text),
        "task_type": request.task_type,
        "stakes": request.stakes,
        "interactive": request.interactive,
        # What the work is, so `router calibrate --from-runs` can fit the predictive router on what it scores.
        **({"intent": request.intent_text[:INTENT_CHARS]} if request.intent_text else {}),
        **(features or {}),
    }
    return RouteDecision(
        strategy=strategy,
        candidates=ordered,
        chosen=ordered[0],
        reason=reason,
        latency_us=(time.perf_counter() - started) * 1e6,
        features=features,
        prompt_hash=prompt_hash(request.text),
    )


def read_json_state(path: Path) -> dict[str, Any]:
    """A state file's JSON object, or {} when it is missing or unreadable (state is a cache, not config)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json_state(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically: a crash mid-write leaves the old file, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
