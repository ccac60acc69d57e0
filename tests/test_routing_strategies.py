"""Unit tests: capability filter, static, pinned, rules, learned latency, predictive wrapper, config and factory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from test_routing_support import candidates, make_registry, request

from orchestrator.errors import ConfigError, UnknownNameError
from orchestrator.routing.base import RouteDecision, prompt_hash, read_json_state, write_json_state
from orchestrator.routing.build import build_strategy
from orchestrator.routing.latency import LatencyStore, learn_latency
from orchestrator.routing.predictive.strategy import PredictiveStrategy
from orchestrator.routing.rules import RulesStrategy
from orchestrator.routing.spec import RoutingSpec, RuleSpec
from orchestrator.routing.static import PinnedStrategy, StaticStrategy


@pytest.fixture
def registry(tmp_path: Path):
    return make_registry(tmp_path)


def rules(registry, *specs: dict, **options) -> RulesStrategy:
    return RulesStrategy(registry, [RuleSpec.model_validate(s) for s in specs], **options)


# --- decision basics and the capability filter ---


def test_static_keeps_failover_order_and_records_hash_and_latency(registry) -> None:
    decision = StaticStrategy(registry).route(request(needs_tools=False), candidates(registry))
    assert isinstance(decision, RouteDecision)
    assert decision.candidates == ["test/mid", "test/notools"]
    assert decision.chosen == "test/mid"
    assert (
        decision.prompt_hash == prompt_hash("Add a subtract function to calc.py.") and len(decision.prompt_hash) == 16
    )
    # Recorded, in microseconds; how fast routing is, is bench/bench_routing.py's job (a wall bound here failed
    # at load 18).
    assert 0 < decision.latency_us < 10_000_000
    assert decision.as_log()["strategy"] == "static"


def test_filter_drops_models_without_tools(registry) -> None:
    decision = StaticStrategy(registry).route(request(needs_tools=True), candidates(registry))
    assert decision.candidates == ["test/mid"]
    assert "test/notools (no tool support" in decision.reason
    assert decision.features["dropped"] == {"test/notools": "no tool support and the step needs tools"}


def test_filter_drops_by_context_window(registry) -> None:
    decision = StaticStrategy(registry).route(request(est_tokens=20_000), ["test/cheap", "test/mid"])
    assert decision.candidates == ["test/mid"]
    assert "context window 16000 < 20000 tokens" in decision.reason


def test_filter_estimates_tokens_from_text_when_not_declared(registry) -> None:
    decision = StaticStrategy(registry).route(request("x" * 80_000), ["test/cheap", "test/mid"])
    assert decision.chosen == "test/mid"


def test_filter_requires_key_value_tags(registry) -> None:
    decision = StaticStrategy(registry).route(
        request(tags=frozenset({"residency:eu", "backend"})), ["test/cheap", "test/cheap-eu", "test/strong"]
    )
    assert decision.candidates == ["test/cheap-eu", "test/strong"]
    assert "lacks required tag residency:eu" in decision.reason


def test_filter_that_drops_everything_names_request_and_each_reason(registry) -> None:
    req = request(persona="builder", step="build", est_tokens=50_000, tags=frozenset({"residency:eu"}))
    with pytest.raises(ConfigError) as err:
        StaticStrategy(registry).route(req, ["test/cheap", "test/cheap-eu", "test/mid"])
    message = str(err.value)
    assert "'builder'" in message and "'build'" in message
    assert "test/cheap: context window 16000 < 50000 tokens" in message
    assert "test/mid: lacks required tag residency:eu" in message


def test_pinned_returns_only_the_pin(registry) -> None:
    decision = PinnedStrategy(registry, "test/strong").route(request(), candidates(registry))
    assert decision.candidates == ["test/strong"] and decision.chosen == "test/strong"
    assert "pinned" in decision.reason and decision.strategy == "pinned"


def test_pinned_refuses_profiles_and_unknown_names(registry) -> None:
    with pytest.raises(ConfigError, match="is a profile; pin one model id, e.g. 'test/strong'"):
        PinnedStrategy(registry, "high_reasoning")
    with pytest.raises(UnknownNameError):
        PinnedStrategy(registry, "gpt4")


def test_decisions_carry_request_features(registry) -> None:
    decision = StaticStrategy(registry).route(request("abcd" * 10, task_type="bugfix", stakes="low"), ["test/mid"])
    assert decision.features["tokens"] == 10 and decision.features["chars"] == 40
    assert (decision.features["task_type"], decision.features["stakes"]) == ("bugfix", "low")


def test_pinned_still_filters(registry) -> None:
    with pytest.raises(ConfigError, match="no tool support"):
        PinnedStrategy(registry, "test/notools").route(request(needs_tools=True), candidates(registry))


# --- rules ---


def test_high_stakes_climb_one_rung_by_default(registry) -> None:
    decision = rules(registry).route(request(stakes="high"), candidates(registry))
    assert decision.chosen == "test/strong"
    assert "climbed 1 rung(s) high_throughput -> high_reasoning" in decision.reason
    assert decision.candidates[1:] == ["test/mid"]  # the persona's own models stay as failovers


def test_high_stakes_at_top_of_ladder_stays(registry) -> None:
    decision = rules(registry).route(request(stakes="high", profile="high_reasoning"), ["test/strong"])
    assert decision.chosen == "test/strong" and "top of the ladder" in decision.reason


def test_high_stakes_climb_can_be_switched_off(registry) -> None:
    decision = rules(registry, high_stakes_climb=0).route(request(stakes="high"), candidates(registry))
    assert decision.chosen == "test/mid"


def test_climb_from_direct_model_binding_uses_its_ladder_rung(registry) -> None:
    decision = rules(registry).route(request(stakes="high", profile=None, persona="scribe"), ["test/mid"])
    assert decision.chosen == "test/strong"


def test_rule_on_keywords_any_routes_to_profile(registry) -> None:
    strategy = rules(registry, {"name": "sql", "when": {"keywords_any": ["SQL", "query"]}, "use_profile": "cheapest"})
    hit = strategy.route(request("Write the SQL for the report"), candidates(registry))
    assert hit.chosen == "test/cheap" and "sql matched" in hit.reason
    miss = strategy.route(request("Write the sequel to the report"), candidates(registry))
    assert miss.chosen == "test/mid" and miss.features["rule"] is None


def test_rule_keywords_all_and_task_type_and_model_action(registry) -> None:
    strategy = rules(
        registry,
        {"when": {"task_type": ["bugfix"], "keywords_all": ["parser", "crash"]}, "use_model": "test/strong"},
    )
    assert strategy.route(request("parser crash on empty", task_type="bugfix"), ["test/mid"]).chosen == "test/strong"
    assert strategy.route(request("parser crash on empty", task_type="feature"), ["test/mid"]).chosen == "test/mid"
    assert strategy.route(request("parser is slow", task_type="bugfix"), ["test/mid"]).chosen == "test/mid"


def test_rule_on_length_and_tags_climbs(registry) -> None:
    strategy = rules(registry, {"when": {"min_tokens": 1000, "tags_any": ["security"]}, "climb": 1})
    long = "word " * 1000
    assert strategy.route(request(long, tags=frozenset({"security"})), ["test/mid"]).chosen == "test/strong"
    assert strategy.route(request(long), ["test/mid"]).chosen == "test/mid"
    assert strategy.route(request("short", tags=frozenset({"security"})), ["test/mid"]).chosen == "test/mid"


def test_rule_on_stakes_and_max_chars(registry) -> None:
    strategy = rules(registry, {"when": {"stakes": ["low"], "max_chars": 100}, "use_profile": "cheapest"})
    assert strategy.route(request(stakes="low"), ["test/mid"]).chosen == "test/cheap"
    assert strategy.route(request("y" * 101, stakes="low"), ["test/mid"]).chosen == "test/mid"


def test_first_matching_rule_wins(registry) -> None:
    strategy = rules(
        registry,
        {"name": "first", "when": {"keywords_any": ["sql"]}, "use_profile": "cheapest"},
        {"name": "second", "when": {"keywords_any": ["sql"]}, "use_model": "test/strong"},
    )
    assert "first matched" in strategy.route(request("sql please"), ["test/mid"]).reason


def test_rule_with_unknown_profile_fails_at_build_time(registry) -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'cheapest'"):
        rules(registry, {"when": {}, "use_profile": "cheapst"})


def test_rule_needs_exactly_one_action() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        RuleSpec.model_validate({"when": {}, "use_profile": "a", "climb": 1})
    with pytest.raises(ValidationError, match="exactly one"):
        RuleSpec.model_validate({"when": {}})


def test_interactive_prefers_lowest_typical_latency(registry) -> None:
    decision = rules(registry).route(request(interactive=True, needs_tools=False), ["test/mid", "test/notools"])
    assert decision.candidates == ["test/notools", "test/mid"]
    assert "interactive" in decision.reason


def test_interactive_uses_learned_latency_when_present(registry, tmp_path: Path) -> None:
    store = LatencyStore.in_dir(tmp_path / "state")
    learn_latency(store, "test/notools", 30.0)
    strategy = rules(registry, latency=store)
    decision = strategy.route(request(interactive=True, needs_tools=False), ["test/mid", "test/notools"])
    assert decision.candidates == ["test/mid", "test/notools"]


def test_learned_latency_is_a_persisted_moving_average(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert learn_latency(state, "m", 10.0) == 10.0
    assert learn_latency(state, "m", 20.0) == pytest.approx(13.0)  # 0.3 * 20 + 0.7 * 10
    assert LatencyStore.in_dir(state).get("m") == pytest.approx(13.0)
    assert LatencyStore.in_dir(state).get("other") is None


def test_state_files_are_written_atomically_and_tolerate_corruption(tmp_path: Path) -> None:
    path = tmp_path / "s" / "x.json"
    write_json_state(path, {"a": 1})
    assert read_json_state(path) == {"a": 1} and list(path.parent.iterdir()) == [path]
    path.write_text("{not json")
    assert read_json_state(path) == {}


# --- predictive wrapper ---


class FakeScorer:
    threshold = 0.5

    def score(self, prompt: str, source: str = "") -> float:
        return 0.9 if "prove" in prompt else 0.1


def test_predictive_routes_by_score(registry) -> None:
    strategy = PredictiveStrategy(registry, FakeScorer())
    strong = strategy.route(request("prove the theorem"), candidates(registry))
    weak = strategy.route(request("rename a variable"), candidates(registry))
    assert strong.chosen == "test/strong" and strong.features["strong"] is True
    assert weak.chosen == "test/mid" and "0.100 < 0.500" in weak.reason


def test_predictive_threshold_override_and_unknown_profile(registry) -> None:
    assert PredictiveStrategy(registry, FakeScorer(), threshold=0.05).route(request("x"), []).chosen == "test/strong"
    with pytest.raises(UnknownNameError):
        PredictiveStrategy(registry, FakeScorer(), strong_profile="nope")


# --- config and factory ---


def test_routing_spec_accepts_bare_name_and_forbids_unknown_keys() -> None:
    assert RoutingSpec.model_validate("cascade").strategy == "cascade"
    with pytest.raises(ValidationError, match="Extra inputs"):
        RoutingSpec.model_validate({"strategy": "static", "stratgy": "x"})
    with pytest.raises(ValidationError):
        RoutingSpec.model_validate({"strategy": "magic"})


def test_routing_spec_requires_strategy_options() -> None:
    with pytest.raises(ValidationError, match="pin: MODEL"):
        RoutingSpec.model_validate("pinned")
    with pytest.raises(ValidationError, match="semantic"):
        RoutingSpec.model_validate("semantic")


def test_routing_spec_fields_document_themselves() -> None:
    schema = RoutingSpec.model_json_schema()
    assert all("description" in prop for prop in schema["properties"].values())


def test_config_imports_only_pydantic() -> None:
    code = (
        "import sys, orchestrator.routing.spec; "
        "print([m for m in ('torch', 'numpy', 'yaml', 'sentence_transformers', 'litellm') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("raw", "cls_name"),
    [
        ("static", "StaticStrategy"),
        ({"strategy": "pinned", "pin": "test/strong"}, "PinnedStrategy"),
        (
            {"strategy": "rules", "rules": [{"when": {"keywords_any": ["sql"]}, "use_profile": "cheapest"}]},
            "RulesStrategy",
        ),
        ("cascade", "Cascade"),
        ("bandit", "BanditStrategy"),
        ({"strategy": "parallel", "parallel": {"n": 3}}, "ParallelStrategy"),
        ("speculative", "SpeculativeStrategy"),
    ],
)
def test_build_strategy_for_each_name(registry, tmp_path: Path, raw, cls_name: str) -> None:
    strategy = build_strategy(RoutingSpec.model_validate(raw), registry, tmp_path / "state")
    assert type(strategy).__name__ == cls_name
    assert strategy.route(request(), candidates(registry)).chosen


def test_build_bandit_uses_named_state_file(registry, tmp_path: Path) -> None:
    spec = RoutingSpec.model_validate({"strategy": "bandit", "bandit": {"state": "builders", "seed": 1}})
    strategy = build_strategy(spec, registry, tmp_path / "state")
    strategy.update("feature", "test/mid", True, 0.01)
    assert json.loads((tmp_path / "state" / "builders.json").read_text())["arms"]["feature"]["test/mid"]["pulls"] == 1


def test_build_predictive_loads_router_file(registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    loaded = []
    fake_module = types.ModuleType("orchestrator.routing.predictive.router")

    class PredictiveRouter:
        @classmethod
        def load(cls, path):
            loaded.append(Path(path))
            return FakeScorer()

    fake_module.PredictiveRouter = PredictiveRouter
    monkeypatch.setitem(sys.modules, "orchestrator.routing.predictive.router", fake_module)
    spec = RoutingSpec.model_validate({"strategy": "predictive", "predictive": {"router": "r.json"}})
    strategy = build_strategy(spec, registry, tmp_path / "state", base_dir=tmp_path)
    assert loaded == [tmp_path / "r.json"]
    assert strategy.route(request("prove it"), []).chosen == "test/strong"
