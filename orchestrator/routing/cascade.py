"""Cascade routing: the cheap rung answers first; weak replies escalate the same work up the ladder."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError, UnknownNameError
from orchestrator.routing.base import RouteDecision, RouteRequest
from orchestrator.routing.capability import FilteredStrategy, no_fit_message

if TYPE_CHECKING:
    from orchestrator.models.registry import Registry
    from orchestrator.models.types import ModelReply

Judge = Callable[[str], Any]
"""An LLM judge (or any check): text -> bool, 'pass'/'fail', or (ok, reason)."""

# Refusals lead a reply; looking only at its first sentence avoids escalating a good answer that mentions a limit.
_REFUSAL_WINDOW = 300
_SENTENCE_END = re.compile(r"(?<=[.!?])\s|\n")
_REFUSAL = re.compile(
    r"\b(?:I\s+(?:can['’]?t|cannot|can\s+not|am\s+unable\s+to|won['’]t\s+be\s+able)|I['’]m\s+unable\s+to|as\s+an\s+AI)\b",
    re.IGNORECASE,
)
_STRONG_HEDGE = re.compile(
    r"\b(?:I['’]m\s+not\s+(?:sure|certain)|I\s+am\s+not\s+(?:sure|certain)|I\s+don['’]t\s+know|hard\s+to\s+say)\b",
    re.IGNORECASE,
)
_WEAK_HEDGE = re.compile(r"\b(?:might|maybe|perhaps|possibly|could\s+be|unclear)\b", re.IGNORECASE)
_WEAK_HEDGE_LIMIT = 3
_QUESTION_LIMIT = 3
_FENCE = re.compile(r"^\s*```", re.MULTILINE)
_FENCED_BLOCK = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_CONFIDENCE = re.compile(
    r"""["']?\bconfidence\b["']?\s*[:=]\s*["']?(?:(\d*\.?\d+)\s*(%)?|(low|medium|high)\b)""", re.IGNORECASE
)
_CONFIDENCE_WORDS = {"low": 0.25, "medium": 0.5, "high": 0.9}
_PAIRS = {")": "(", "]": "[", "}": "{"}


def should_escalate(
    reply_text: str,
    *,
    finish_reason: str | None = None,
    schema_ok: bool | None = None,
    gate_passed: bool | None = None,
    judge: Judge | None = None,
    confidence_threshold: float = 0.5,
) -> tuple[bool, str]:
    """Whether a reply is weak enough to send the same work one rung up, and why.

    Hard signals (gate, schema) come first, cheap text heuristics next, and the judge (possibly an
    LLM call) last so it is only paid for when nothing cheaper has decided.
    """
    if gate_passed is False:
        return True, "gate failed"
    if schema_ok is False:
        return True, "schema validation failed"
    text = reply_text or ""
    for check in (_empty, lambda t: _truncated(t, finish_reason), _refusal):
        why = check(text)
        if why:
            return True, why
    confidence = self_reported_confidence(text)
    if confidence is not None and confidence < confidence_threshold:
        return True, f"low confidence {confidence:g} < {confidence_threshold:g}"
    why = _hedging(text)
    if why:
        return True, why
    if judge is not None:
        ok, why = _ask_judge(judge, text)
        if not ok:
            return True, f"judge: {why}"
    return False, "ok"


def _empty(text: str) -> str | None:
    """An empty or whitespace-only reply."""
    return None if text.strip() else "empty output"


def _truncated(text: str, finish_reason: str | None) -> str | None:
    """Signs the reply was cut off: the length limit, an unclosed code fence, or unclosed brackets."""
    if finish_reason == "length":
        return "truncated: finish_reason=length"
    if len(_FENCE.findall(text)) % 2:
        return "truncated: unclosed code fence"
    stripped = text.strip()
    # Prose is full of "1)" and ":)", so brackets are only checked where they must balance: JSON and code.
    code = [stripped] if stripped[:1] in "{[" else [b.strip("`") for b in _FENCED_BLOCK.findall(text)]
    if any(_unclosed(block) for block in code):
        return "truncated: unclosed brackets"
    return None


def _unclosed(code: str) -> int:
    """How many brackets are left open, skipping one-line string literals and `#` comments."""
    stack: list[str] = []
    skip_until = ""  # a quote char inside a string, "\n" inside a comment
    prev = "\n"
    for i, ch in enumerate(code):
        if skip_until:
            if ch == "\n" or (ch == skip_until and code[i - 1] != "\\"):
                skip_until = ""
        elif ch in "\"'`":
            skip_until = ch
        elif ch == "#" and prev in " \t\n":
            skip_until = "\n"
        elif ch in "([{":
            stack.append(ch)
        elif ch in _PAIRS and stack and stack[-1] == _PAIRS[ch]:
            stack.pop()
        prev = ch
    return len(stack)


def _refusal(text: str) -> str | None:
    """A refusal in the reply's first sentence."""
    opening = _SENTENCE_END.split(text.strip()[:_REFUSAL_WINDOW], maxsplit=1)[0]
    match = _REFUSAL.search(opening)
    return f"refusal: {match.group(0)!r}" if match else None


def _hedging(text: str) -> str | None:
    """An explicit 'not sure', many weak hedges, or many questions (outside code)."""
    prose = _FENCED_BLOCK.sub(" ", text)
    strong = _STRONG_HEDGE.search(prose)
    if strong:
        return f"hedging: {strong.group(0)!r}"
    weak = _WEAK_HEDGE.findall(prose)
    if len(weak) >= _WEAK_HEDGE_LIMIT:
        return f"hedging: {len(weak)} hedge words ({', '.join(sorted({w.lower() for w in weak}))})"
    questions = prose.count("?")
    if questions >= _QUESTION_LIMIT:
        return f"hedging: {questions} question marks"
    return None


def self_reported_confidence(text: str) -> float | None:
    """The last `confidence: 0.3` (or 30%, or low/medium/high, or a JSON field) in the text, as 0..1."""
    matches = list(_CONFIDENCE.finditer(text))
    if not matches:
        return None
    number, percent, word = matches[-1].groups()
    if word:
        return _CONFIDENCE_WORDS[word.lower()]
    value = float(number)
    return value / 100 if percent or value > 1 else value


def _ask_judge(judge: Judge, text: str) -> tuple[bool, str]:
    """Normalise a judge's answer: bool, 'pass'/'fail'-like text, or (ok, reason)."""
    verdict = judge(text)
    if isinstance(verdict, tuple):
        return bool(verdict[0]), str(verdict[1]) if len(verdict) > 1 else "rejected"
    if isinstance(verdict, str):
        ok = verdict.strip().lower() in {"pass", "ok", "yes", "accept", "true"}
        return ok, verdict
    return bool(verdict), "rejected"


@dataclass
class CascadeResult:
    """What a cascade run produced: the accepted (or last) reply and every decision on the way."""

    reply: ModelReply
    decisions: list[RouteDecision] = field(default_factory=list)
    escalations: list[str] = field(default_factory=list)
    accepted: bool = True


class Cascade(FilteredStrategy):
    """Start at a cheap ladder rung; `escalate` moves the same work to the next rung that fits."""

    name = "cascade"

    def __init__(self, registry: Registry, ladder_start: str | None = None, *, confidence_threshold: float = 0.5):
        super().__init__(registry)
        if not registry.ladder:
            raise ConfigError("cascade routing needs an escalation `ladder:` in models.yaml")
        start = ladder_start or registry.ladder[0]
        if start not in registry.ladder:
            raise UnknownNameError("ladder rung", start, registry.ladder, where="routing.cascade.start")
        self.start = start
        self.confidence_threshold = confidence_threshold

    def route(self, request: RouteRequest, candidates: list[str]) -> RouteDecision:
        """The start rung's models (one rung higher for high stakes), or the first rung above that fits."""
        started = time.perf_counter()
        if request.bound_model:
            return self._from_bound_model(request, started)
        start, reason = self.start, f"cascade: start at {self.start}"
        if request.stakes == "high" and self.registry.next_rung(start):
            start = self.registry.next_rung(start) or start
            reason = f"cascade: stakes high, start one rung up at {start}"
        decision = self._rung(request, start, reason, started)
        if decision is None:
            raise ConfigError(no_fit_message(request, self._all_drops(request, start)))
        return decision

    def _from_bound_model(self, request: RouteRequest, started: float) -> RouteDecision:
        """A persona the user bound to a model id starts on that model; it climbs from the rung holding it."""
        model = request.bound_model or ""
        rung = next((p for p in self.registry.ladder if model in self.registry.models_for_profile(p)), None)
        above = self.registry.next_rung(rung) if rung else None
        if request.stakes == "high" and above:
            decision = self._rung(request, above, f"cascade: stakes high, one rung above bound {model} at {above}",
                                  started)
            if decision is not None:
                return decision
        reason = f"cascade: start at {model}, the model {request.persona} is bound to" + (
            f" (rung {rung})" if rung else " (on no ladder rung, so it never climbs)")
        return self.finish(request, [model], reason, started, {"rung": rung, "ladder": list(self.registry.ladder)})

    def escalate(
        self, decision: RouteDecision, request: RouteRequest | None = None, why: str = ""
    ) -> RouteDecision | None:
        """The next rung's models for the same work, or None at the top of the ladder."""
        started = time.perf_counter()
        rung = decision.features.get("rung")
        if rung not in self.registry.ladder:
            return None
        nxt = self.registry.next_rung(rung)
        if nxt is None:
            return None
        reason = f"cascade: escalated {rung} -> {nxt}" + (f": {why}" if why else "")
        escalated = self._rung(request, nxt, reason, started)
        if escalated is not None:
            escalated.prompt_hash = escalated.prompt_hash or decision.prompt_hash
            escalated.features["escalations"] = decision.features.get("escalations", 0) + 1
        return escalated

    def should_escalate(self, reply_text: str, **signals: Any) -> tuple[bool, str]:
        """`should_escalate` with this cascade's confidence threshold."""
        signals.setdefault("confidence_threshold", self.confidence_threshold)
        return should_escalate(reply_text, **signals)

    def run(
        self,
        request: RouteRequest,
        call: Callable[[str, list[dict[str, Any]]], ModelReply],
        messages: list[dict[str, Any]],
        check: Callable[[ModelReply], tuple[bool, str]] | None = None,
    ) -> CascadeResult:
        """Call the cheap rung, then climb while `check` (default: the text heuristics) says escalate."""
        check = check or (lambda reply: self.should_escalate(reply.text))
        decision: RouteDecision | None = self.route(request, [])
        result: CascadeResult | None = None
        while decision is not None:
            reply = call(decision.chosen, messages)
            result = result or CascadeResult(reply)
            result.reply = reply
            result.decisions.append(decision)
            escalate, why = check(reply)
            if not escalate:
                result.accepted = True
                return result
            result.escalations.append(f"{decision.chosen}: {why}")
            result.accepted = False
            decision = self.escalate(decision, request, why)
        assert result is not None  # route() always yields a first decision or raises
        return result

    def _rung(self, request: RouteRequest | None, rung: str, reason: str, started: float) -> RouteDecision | None:
        """A decision for the first rung from `rung` upwards with a model that fits, or None."""
        current: str | None = rung
        skipped: list[str] = []
        while current is not None:
            models = self.registry.models_for_profile(current)
            kept = self.filter.split(request, models)[0] if request is not None else models
            if kept:
                note = f" (skipped {', '.join(skipped)}: nothing fits)" if skipped else ""
                features = {"rung": current, "ladder": list(self.registry.ladder)}
                if request is None:
                    latency = (time.perf_counter() - started) * 1e6
                    return RouteDecision(self.name, kept, kept[0], reason + note, latency, features)
                return self.finish(request, kept, reason + note, started, features)
            skipped.append(current)
            current = self.registry.next_rung(current)
        return None

    def _all_drops(self, request: RouteRequest, rung: str) -> dict[str, str]:
        """Every model dropped from `rung` upwards, for the no-fit error."""
        drops: dict[str, str] = {}
        current: str | None = rung
        while current is not None:
            drops.update(self.filter.split(request, self.registry.models_for_profile(current))[1])
            current = self.registry.next_rung(current)
        return drops
