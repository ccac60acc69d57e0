"""Everything a run decided, read back from its log: verdicts with their violations, unusable verdicts, tool
calls, dispatcher choices, human decisions and context packets (`runs show` prints it, `--json` gives it)."""

from __future__ import annotations

from typing import Any

from orchestrator.store.log import RunLog

UNUSABLE = ("verdict_invalid", "moderator_fallback", "moderator_overruled")
"""Events that say a verdict could not be used as given, each with its reason."""


def run_audit(log: RunLog, run_id: str) -> dict[str, Any]:
    """The run's record and its decisions, section by section, oldest first."""
    events = log.events(run_id)
    of = lambda *kinds: [e for e in events if e["kind"] in kinds]  # noqa: E731 - a local filter
    seen: dict[str, int] = {}
    for gate in of("gate"):  # the how-many-th verdict of its gate, 1 first
        seen[gate["step"]] = gate["attempt"] = seen.get(gate["step"], 0) + 1
    return {
        "run": log.run(run_id),
        "phases": [_phase(e) for e in of("phase_end")],
        "gates": [_gate(e) for e in of("gate")],
        "violations": [v for e in of("gate") for v in _violations(e)],
        "unusable_verdicts": [{"step": e["step"], "persona": e["persona"], "kind": e["kind"],
                               "reason": e["data"].get("reason", "")} for e in of(*UNUSABLE)],
        "tool_calls": [{"step": e["step"], "persona": e["persona"], **_pick(e, "tool", "arguments", "status",
                                                                          "output")} for e in of("tool_call")],
        "dispatches": [{"step": e["step"], "persona": e["persona"], **_pick(e, "model", "chosen", "reason",
                                                                           "fallback", "choices", "not_offered")}
                       for e in of("dispatch")],
        "human_decisions": [{"step": e["step"], "by": e["data"].get("by") or e["persona"],
                             **_pick(e, "decision", "comment", "models")} for e in of("acceptance")],
        "packets": [{"step": e["step"], "persona": e["persona"], "tokens": e["data"].get("packet_tokens"),
                     "kept": e["data"].get("packet_kept", []), "trimmed": e["data"].get("packet_trimmed", []),
                     "dropped": e["data"].get("packet_dropped", [])} for e in of("phase_start")],
        "notices": [{"kind": e["kind"], "step": e["step"], "persona": e["persona"], **e["data"]}
                    for e in of("warning", "flag", "escalation", "cascade_escalation", "failover", "monitor_halt",
                                "rebind", "resume", "ensemble")],
        "calls": log.calls(run_id),
        "decisions": log.decisions(run_id),
        "events": events,
    }


def _pick(event: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: event["data"].get(key) for key in keys}


def _phase(event: dict[str, Any]) -> dict[str, Any]:
    return {"step": event["step"], "persona": event["persona"],
            **_pick(event, "model", "tokens", "cost_usd", "seconds", "verdict", "reason", "tool_calls", "commit")}


def _gate(event: dict[str, Any]) -> dict[str, Any]:
    """One verdict with every reason (the first is the main one) and its evidence in brief."""
    data, result = event["data"], event["data"].get("result") or {}
    return {"gate": event["step"], "kind": data.get("gate_kind"), "attempt": event["attempt"],
            "verdict": data.get("verdict"), "by": event["persona"] if event["persona"] not in ("", "-") else None,
            "reasons": result.get("reasons") or [data.get("reason", "")],
            "commands": [f"{c.get('name')}: exit {c.get('exit_code')}" + (" (timed out)" if c.get("timed_out") else "")
                         for c in result.get("commands", [])],
            "tests": result.get("tests", {}), "findings": result.get("findings", "")}


def _violations(event: dict[str, Any]) -> list[dict[str, Any]]:
    """A review verdict's violations, each with the gate and round it came from."""
    document = (event["data"].get("result") or {}).get("document") or {}
    violations = document.get("violations") if isinstance(document, dict) else None
    return [{"gate": event["step"], "attempt": event["attempt"], **v}
            for v in violations or [] if isinstance(v, dict)]
