"""Prompt sizes per model: an embedded model's own tokenizer, a conservative estimate for every other model."""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from orchestrator.models.ids import LOCAL_MODELS

BYTES_PER_TOKEN = 3
"""For models whose tokenizer we don't have: real tokenizers average about 4 bytes a token on English and
code (measured on this project's prompts with SmolLM2's and Qwen2.5's), so 3 errs on the high side."""

TEMPLATE_TOKENS = 16
"""Chat-template markers around the system and user messages and the tool block, which the text lacks."""

_vocab_lock = threading.Lock()
_vocabs: dict[str, Any] = {}


CHARS_PER_TOKEN = 4
"""For sizing text (packets, fakes' reported usage): about four characters a token on English and code."""


def estimate_tokens(text: str) -> int:
    """A typical token count (4 characters a token), for fitting text to a size; limits use count_prompt_tokens."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def conservative_tokens(text: str) -> int:
    """An upper-leaning token count for any tokenizer: UTF-8 bytes / 3."""
    return math.ceil(len(text.encode("utf-8", "replace")) / BYTES_PER_TOKEN)


def count_prompt_tokens(model_id: str, text: str) -> tuple[int, str]:
    """(tokens, how they were counted): "tokenizer" for an embedded model whose vocabulary loads, else "estimate"."""
    provider, _, name = model_id.partition("/")
    vocab = _vocab(name) if provider == "local" and name in LOCAL_MODELS else None
    if vocab is None:
        return conservative_tokens(text), "estimate"
    tokens = vocab.tokenize(text.encode("utf-8", "replace"), add_bos=False, special=False)
    return len(tokens) + TEMPLATE_TOKENS, "tokenizer"


def _vocab(name: str) -> Any:
    """The model's tokenizer alone (a vocab-only llama.cpp load: no weights in memory), once per process.

    None when llama-cpp-python or the GGUF is missing: counting then falls back to the estimate, and the
    model's own load reports the missing piece when it is called.
    """
    with _vocab_lock:
        if name not in _vocabs:
            _vocabs[name] = _load_vocab(name)
        return _vocabs[name]


def _load_vocab(name: str) -> Any:
    try:
        from llama_cpp import Llama

        from orchestrator.models.weights import weights_path

        with _quiet_native_stderr():
            return Llama(model_path=str(weights_path(name, join=False)), vocab_only=True, verbose=False)
    except Exception:  # noqa: BLE001 - a tokenizer that can't load must not stop routing: the estimate stands in
        return None


@contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence file descriptor 2 while llama.cpp opens a vocab-only context: it warns there, past verbose=False,
    that the context exceeds the training context (a vocab-only load has none), which users read as a fault."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
