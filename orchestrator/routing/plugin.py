"""The built-in routing strategies' plugin: they register through the same hook a third-party package uses."""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.plugins import hookimpl


@hookimpl
def register_routing_strategies(register: Callable[..., None]) -> None:
    """static, rules, cascade, predictive, semantic, bandit, parallel, speculative and pinned."""
    from orchestrator.routing import build

    register("static", build.build_static, description="persona -> profile -> first healthy model, in failover "
             "order: the predictable default")
    register("rules", build.build_rules, description="first matching rule on task type, tags, keywords, length or "
             "stakes picks a profile, a model or a climb; interactive steps prefer low latency")
    register("cascade", build.build_cascade, description="cheap rung first; a failed gate or low confidence climbs "
             "the escalation ladder")
    register("predictive", build.build_predictive, description="a calibrated classifier scores how much a request "
             "needs the strong model (see `orchestrator router`)")
    register("semantic", build.build_semantic, description="nearest labelled intent by sentence-embedding "
             "similarity (all-MiniLM-L6-v2, offline)")
    register("bandit", build.build_bandit, step_blind=True, description="Thompson sampling per task type, "
             "rewarded by gate outcomes and penalised by cost")
    register("parallel", build.build_parallel, step_blind=True, description="best-of-n: n models answer, a judge "
             "or the gate after the step picks")
    register("speculative", build.build_speculative, step_blind=True, description="the cheap model drafts, the "
             "strong one verifies and refines only when its check fails")
    register("pinned", build.build_pinned, step_blind=True, description="one audited model for every role, "
             "routing off (`pin: MODEL` or `--pin MODEL`)")
