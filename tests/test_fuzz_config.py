"""Fuzzing the models.yaml loader (a repo layer merged over the shipped one) and the persona loader.

Every file either loads into something usable (a registry that resolves every role, a persona with a
system prompt) or is refused with a ConfigError whose every line is `file:line: ...`; nothing raises
anything else or hangs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from fuzzing import assert_located, damaged, fuzz_settings, hostile_files, render, time_limit
from hypothesis import example, given
from hypothesis import strategies as st

from orchestrator.agents.personas import read_persona_file
from orchestrator.agents.tool_registry import tool_names
from orchestrator.errors import ConfigError
from orchestrator.models.registry import load_registry

PERSONAS = ["builder", "critic", "dispatcher", "moderator", "spec_writer", "surveyor", "tester", "reviewer"]
PROFILES = ["cheapest", "high_throughput", "high_reasoning", "massive_context", "fast", "strong"]
GOOD_IDS = ["local/smollm2", "local/qwen2.5-coder-0.5b", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5",
            "gemini/gemini-2.5-flash", "ollama/qwen2.5-coder:7b", "my/own-model"]
# Ids the registry must refuse (a near miss, an unknown local model, a missing script, a bare word) or that
# are odd paths: a home directory that doesn't exist, a NUL character.
BAD_IDS = ["openai/gpt-4o-mnii", "local/nope", "scripted:replies.yaml", "mymodel", "scripted:~nobody-here/r.yaml",
           "scripted:a\x00b", " ", "has space/x"]


def _rarely(draw: st.DrawFn) -> bool:
    """True one time in twenty (not on 0: Hypothesis draws the simplest value far more often)."""
    return draw(st.integers(0, 19)) == 13


def _model_id(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(BAD_IDS) if _rarely(draw) else st.sampled_from(GOOD_IDS))


def _entry(draw: st.DrawFn) -> dict[str, Any]:
    return draw(st.fixed_dictionaries({}, optional={
        "description": st.text(max_size=20), "context_window": st.integers(1, 2_000_000),
        "input_cost_per_token": st.floats(0, 1e-3), "output_cost_per_token": st.floats(0, 1e-3),
        "typical_latency_s": st.floats(0, 60), "tokens_per_s": st.floats(0.1, 500), "supports_tools": st.booleans(),
        "rpm": st.integers(1, 10_000), "tags": st.lists(st.sampled_from(["local", "cloud", "eu"]), max_size=2)}))


@st.composite
def registries(draw: st.DrawFn) -> dict[str, Any]:
    """A models.yaml layer built from RegistrySpec: models, profiles, ladder, roles, default and policy."""
    profiles = draw(st.lists(st.sampled_from(PROFILES), unique=True, max_size=4))
    doc: dict[str, Any] = {}
    if draw(st.booleans()):
        doc["models"] = {draw(st.sampled_from(["my/own-model", "ollama/qwen2.5-coder:7b", "openai/gpt-4o-mini"])):
                         _entry(draw) for _ in range(draw(st.integers(1, 2)))}
    if profiles:
        doc["profiles"] = {}
        for name in profiles:
            models = [_model_id(draw) for _ in range(draw(st.integers(1, 3)))]
            doc["profiles"][name] = models if draw(st.booleans()) else {"description": "a profile", "models": models}
    known = [*profiles, "cheapest", "high_throughput", "high_reasoning"]
    if draw(st.booleans()):
        doc["ladder"] = draw(st.lists(st.sampled_from(known), unique=True, min_size=1, max_size=3))
    if draw(st.booleans()):
        doc["roles"] = {persona: (_model_id(draw) if draw(st.booleans()) else draw(st.sampled_from(known)))
                        for persona in draw(st.lists(st.sampled_from(PERSONAS), unique=True, max_size=4))}
    if draw(st.booleans()):
        doc["default_profile"] = "nope" if _rarely(draw) else draw(st.sampled_from(known))
    if draw(st.booleans()):
        doc["policy"] = draw(st.fixed_dictionaries({}, optional={"critic_differs_from_builder": st.booleans(),
                                                                 "strict_roles": st.booleans()}))
    return doc


@st.composite
def personas(draw: st.DrawFn) -> dict[str, Any]:
    """A persona built from PersonaSpec: goal, guidelines, boundaries, tools, handoffs, writes, example."""
    doc: dict[str, Any] = {"goal": draw(st.text(min_size=1, max_size=40))}
    doc |= draw(st.fixed_dictionaries({}, optional={
        "guidelines": st.lists(st.text(max_size=30), max_size=3),
        "boundaries": st.lists(st.text(max_size=30), max_size=3),
        "tools": st.lists(st.sampled_from(tool_names()), unique=True, max_size=4),
        "handoffs": st.lists(st.text(max_size=20), max_size=2),
        "writes": st.lists(st.sampled_from(["tests/**", "src/*.py", "**/*.md"]), max_size=2),
        "example": st.text(max_size=60)}))
    if _rarely(draw):
        doc["tools"] = [*doc.get("tools", []), "rm_rf"]
    if _rarely(draw):
        doc["name"] = draw(st.sampled_from(["Bad-Name", "other", ""]))
    return doc


def _persona_file(doc: dict[str, Any], suffix: str, body: str) -> tuple[str, str]:
    """(suffix, text): YAML, or markdown with the YAML as frontmatter and a free-text body."""
    return suffix, (f"---\n{render(doc)}---\n{body}" if suffix == ".md" else render(doc))


persona_files = st.builds(_persona_file, st.one_of(personas(), personas(), personas().flatmap(damaged)),
                          st.sampled_from([".yaml", ".md"]), st.text(max_size=80))


def _load_registry(tmp_path: Path, raw: bytes, stats: Counter[str]) -> None:
    """The property: a registry that resolves every role it binds, or a located refusal."""
    path = tmp_path / ".orchestrator" / "models.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(raw)
    stats["documents"] += 1
    with time_limit():
        try:
            registry = load_registry(tmp_path)
        except ConfigError as exc:
            assert_located(exc, str(path), raw)
            return
        assert len(registry.table()) == len(registry.personas)
    stats["loaded"] += 1


def _load_persona(tmp_path: Path, suffix: str, raw: bytes, stats: Counter[str]) -> None:
    """The property: a persona with a system prompt, or a located refusal; for .yaml and .md alike."""
    path = tmp_path / f"tester{suffix}"
    path.write_bytes(raw)
    stats["documents"] += 1
    with time_limit():
        try:
            persona = read_persona_file(path)
        except ConfigError as exc:
            assert_located(exc, str(path), raw)
            return
        assert persona.system_prompt().startswith(f"You are the {persona.name}")
    stats["loaded"] += 1


def test_generated_models_yaml_loads_or_fails_located(tmp_path: Path) -> None:
    stats: Counter[str] = Counter()

    @fuzz_settings(200)
    @given(raw=st.one_of(registries(), registries(), registries().flatmap(damaged)).map(render)
           .map(lambda text: text.encode("utf-8")))
    # Bugs the fuzzer found, each fixed; the examples keep them fixed.
    @example(raw=b"roles:\n  builder: scripted:~nobody-here/r.yaml\n")  # RuntimeError from expanduser()
    @example(raw=b'roles:\n  builder: "scripted:a\\0b"\n')  # ValueError: embedded null byte, from resolve()
    @example(raw=b'models:\n  "a\\nb": {}\n')  # a line break in a key split the message
    def check(raw: bytes) -> None:
        _load_registry(tmp_path, raw, stats)

    check()
    assert stats["documents"] >= 200
    assert stats["loaded"] >= 0.3 * stats["documents"], stats


def test_hostile_models_yaml_fails_located(tmp_path: Path) -> None:
    stats: Counter[str] = Counter()

    @fuzz_settings(150)
    @given(raw=hostile_files(registries().map(render)))
    @example(raw=b"roles: {builder: \xff}\n")  # UnicodeDecodeError
    def check(raw: bytes) -> None:
        _load_registry(tmp_path, raw, stats)

    check()
    assert stats["documents"] >= 150


def test_generated_personas_load_or_fail_located(tmp_path: Path) -> None:
    stats: Counter[str] = Counter()

    @fuzz_settings(200)
    @given(file=persona_files)
    @example(file=(".yaml", "goal: g\ntools: [read_file, rm_rf]\n"))  # unknown tool: no line in the message
    @example(file=(".yaml", 'goal: g\n"a\\nb": 1\n'))  # a line break in a key split the message
    def check(file: tuple[str, str]) -> None:
        _load_persona(tmp_path, file[0], file[1].encode("utf-8"), stats)

    check()
    assert stats["documents"] >= 200
    assert stats["loaded"] >= 0.3 * stats["documents"], stats


def test_hostile_persona_files_fail_located(tmp_path: Path) -> None:
    stats: Counter[str] = Counter()

    @fuzz_settings(150)
    @given(suffix=st.sampled_from([".yaml", ".md"]), raw=hostile_files(persona_files.map(lambda file: file[1])))
    @example(suffix=".yaml", raw=b"\xff\xfeg\x00o\x00a\x00l\x00")  # UTF-16: UnicodeDecodeError
    @example(suffix=".md", raw=b"---\ngoal: g\n")  # frontmatter never closed: ValueError from unpacking
    @example(suffix=".md", raw=b"---")  # the same
    def check(suffix: str, raw: bytes) -> None:
        _load_persona(tmp_path, suffix, raw, stats)

    check()
    assert stats["documents"] >= 150
