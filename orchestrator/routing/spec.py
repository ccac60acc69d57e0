"""Routing as written in YAML: which strategy routes a persona or step, and its options (pydantic only)."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

StrategyName = Literal[
    "static", "rules", "cascade", "predictive", "semantic", "bandit", "parallel", "speculative", "pinned"
]


STRATEGIES: tuple[str, ...] = get_args(StrategyName)

STEP_BLIND: tuple[str, ...] = ("bandit", "pinned", "parallel", "speculative")
"""Strategies that can't honour a step's `stakes: high` or `interactive: true`: `validate` refuses the pair."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleWhenSpec(_Spec):
    """Conditions of one rule; every condition that is set must hold (an empty `when` always holds)."""

    task_type: list[str] = Field(default_factory=list, description="Match when the task type is one of these.")
    persona: list[str] = Field(default_factory=list, description="Match when the persona is one of these.")
    stakes: list[Literal["low", "normal", "high"]] = Field(
        default_factory=list, description="Match when the step's declared stakes are one of these."
    )
    tags_any: list[str] = Field(default_factory=list, description="Match when the request has at least one tag.")
    tags_all: list[str] = Field(default_factory=list, description="Match when the request has every tag.")
    keywords_any: list[str] = Field(
        default_factory=list, description="Match when the text contains any of these words (case-insensitive)."
    )
    keywords_all: list[str] = Field(
        default_factory=list, description="Match when the text contains all of these words (case-insensitive)."
    )
    min_chars: int | None = Field(None, ge=0, description="Match when the text has at least this many characters.")
    max_chars: int | None = Field(None, ge=0, description="Match when the text has at most this many characters.")
    min_tokens: int | None = Field(None, ge=0, description="Match when the request's token estimate is at least this.")
    max_tokens: int | None = Field(None, ge=0, description="Match when the request's token estimate is at most this.")
    interactive: bool | None = Field(None, description="Match only interactive (true) or batch (false) steps.")


class RuleSpec(_Spec):
    """One rule: conditions and exactly one action (a profile, a model or a climb up the ladder)."""

    name: str = Field("", description="Label shown in the decision's reason; defaults to `rule[i]`.")
    when: RuleWhenSpec = Field(default_factory=RuleWhenSpec, description="Conditions; all set ones must hold.")
    use_profile: str | None = Field(None, description="Route to this profile's models (failover: the persona's own).")
    use_model: str | None = Field(None, description="Route to this model id first (failover: the persona's own).")
    climb: int | None = Field(None, ge=0, le=10, description="Climb the escalation ladder this many rungs.")

    @model_validator(mode="after")
    def _one_action(self) -> RuleSpec:
        """A rule must say what to do, and only one thing."""
        actions = [a for a in ("use_profile", "use_model", "climb") if getattr(self, a) is not None]
        if len(actions) != 1:
            raise ValueError(f"a rule needs exactly one of use_profile, use_model, climb; got {actions or 'none'}")
        return self


class CascadeSpec(_Spec):
    """Cascade options: where on the ladder to start and when a reply is weak enough to escalate."""

    start: str | None = Field(None, description="Ladder rung (profile) tried first; default: the ladder's bottom.")
    confidence_threshold: float = Field(
        0.5, ge=0, le=1, description="Self-reported confidence below this escalates the same work."
    )
    after_failures: int = Field(
        1, ge=1, le=20, description="Failed gate verdicts on the persona's work, on one rung, before it climbs to the "
        "next (1: the first failure climbs; 2: one fix round on the same rung first)."
    )


class IntentSpec(_Spec):
    """A labelled intent: example utterances and the profile or model they route to."""

    target: str = Field(description="Profile name or model id that requests of this intent go to.")
    examples: list[str] = Field(min_length=1, description="Example utterances of the intent.")
    threshold: float | None = Field(
        None, ge=-1, le=1, description="This intent's own minimum similarity (`router fit-intents` fits it from "
        "labelled examples); default: the strategy's threshold.")


class SemanticSpec(_Spec):
    """Semantic routing: nearest labelled intent by sentence-embedding cosine similarity."""

    intents_file: str | None = Field(None, description="YAML file of intents (intent -> target, examples).")
    intents: dict[str, IntentSpec] = Field(default_factory=dict, description="Intents given inline.")
    threshold: float = Field(0.5, ge=-1, le=1, description="Minimum cosine similarity for an intent to win.")
    fallback: str | None = Field(
        None, description="Profile or model when no intent is close enough; default: the persona's own models."
    )

    @model_validator(mode="after")
    def _has_intents(self) -> SemanticSpec:
        """Semantic routing without intents can only ever fall back, which is surely a mistake."""
        if not self.intents_file and not self.intents:
            raise ValueError("semantic routing needs `intents_file` or inline `intents`")
        return self


class BanditSpec(_Spec):
    """Thompson-sampling bandit over the persona's models, per task type, learning from gate outcomes."""

    state: str = Field("bandit", pattern=r"^[A-Za-z0-9_.-]+$", description="State file name in the state directory.")
    cost_weight: float = Field(
        0.2, ge=0, description="λ: pass probability given up per unit of relative cost (1 = the dearest arm)."
    )
    seed: int | None = Field(None, description="Random seed, for reproducible runs.")


class ParallelSpec(_Spec):
    """Best-of-n: ask n models and let a judge or a gate pick the answer."""

    n: int = Field(2, ge=2, le=8, description="How many models answer the same request.")


class SpeculativeSpec(_Spec):
    """The drafter writes, the verifier checks and refines only when its check fails."""

    drafter: str | None = Field(None, description="Profile or model that drafts; default: the ladder's bottom.")
    verifier: str | None = Field(None, description="Profile or model that verifies; default: the ladder's top.")


class PredictiveSpec(_Spec):
    """A calibrated classifier scores how much a request needs the strong model."""

    router: str | None = Field(None, description="Router JSON file; default: the shipped router_default.json.")
    strong_profile: str = Field("high_reasoning", description="Profile used when the score passes the threshold.")
    weak_profile: str = Field("high_throughput", description="Profile used otherwise.")
    threshold: float | None = Field(None, description="Override the router's calibrated threshold.")


class RoutingSpec(_Spec):
    """How a workflow (or one step) picks the model for each call; `routing: NAME` is short for `{strategy: NAME}`."""

    strategy: StrategyName = Field("static", description="Which routing strategy to use.")
    rules: list[RuleSpec] = Field(default_factory=list, description="Rules strategy: first matching rule wins.")
    high_stakes_climb: int = Field(
        1, ge=0, le=10, description="Rules strategy: rungs to climb for high-stakes steps that no rule matched."
    )
    interactive_latency: bool = Field(
        True, description="Rules strategy: interactive steps prefer the lowest-latency model."
    )
    cascade: CascadeSpec = Field(default_factory=CascadeSpec, description="Cascade options.")
    semantic: SemanticSpec | None = Field(None, description="Semantic options (required for `semantic`).")
    bandit: BanditSpec = Field(default_factory=BanditSpec, description="Bandit options.")
    parallel: ParallelSpec = Field(default_factory=ParallelSpec, description="Parallel (best-of-n) options.")
    speculative: SpeculativeSpec = Field(default_factory=SpeculativeSpec, description="Speculative options.")
    predictive: PredictiveSpec = Field(default_factory=PredictiveSpec, description="Predictive options.")
    pin: str | None = Field(None, description="Pinned strategy: the one model every role uses.")

    @model_validator(mode="before")
    @classmethod
    def _accept_bare_name(cls, data: Any) -> Any:
        """Allow `routing: cascade` as shorthand for `routing: {strategy: cascade}`."""
        return {"strategy": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _options_fit(self) -> RoutingSpec:
        """Strategies that cannot work without their options say so here, at validation time."""
        if self.strategy == "pinned" and not self.pin:
            raise ValueError("routing `pinned` needs `pin: MODEL` (or --pin MODEL on the command line)")
        if self.strategy == "semantic" and self.semantic is None:
            raise ValueError("routing `semantic` needs a `semantic:` section with `intents_file` or `intents`")
        return self
