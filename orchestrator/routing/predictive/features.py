"""Pure-python feature extraction for the predictive router, shared by training and decision time."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

WORD_RE = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")
NUMBER_RE = re.compile(r"\d[\d,]*(?:\.\d+)?")
FRACTION_RE = re.compile(r"\d+/\d+")
DECIMAL_RE = re.compile(r"\d\.\d")
OPTION_RE = re.compile(r"\n[A-J]\. ([^\n]*)")
OPERATION_RE = re.compile(
    r"\b(half|twice|double|triple|third|quarter|percent|each|per|every|total|remaining|left|more|less"
    r"|times|average|profit|rate)\b"
)
NEGATION_RE = re.compile(r"\b(not|except|least|false|incorrect)\b")
ROMAN_RE = re.compile(r"\bI{1,3}V?\b")
SYMBOL_RE = re.compile(r"[=+\-*/^]")
CHAR_NGRAMS = (2, 5)
# Character n-grams paid off only on math word problems (numbers, units); elsewhere they cost time.
CHAR_GROUPS = frozenset({"gsm8k"})

DENSE_NAMES = (
    "log_chars",
    "log_question_chars",
    "log_numbers",
    "log_distinct_numbers",
    "log_sentences",
    "has_percent",
    "has_money",
    "has_fraction",
    "has_decimal",
    "log_operation_words",
    "log_mean_option_chars",
    "log_max_option_chars",
    "numeric_option_share",
    "has_negation",
    "has_statement_pair",
    "has_roman_list",
    "has_of_the_above",
    "log_digits",
    "has_math_symbol",
)


@dataclass(frozen=True)
class PromptFeatures:
    """Everything the router reads from one request: term counts per block, dense values, source."""

    word: dict[str, int]
    char: dict[str, int]
    dense: list[float]
    source: str


def source_group(source: str) -> str:
    """The family of a source: 'mmlu/anatomy' -> 'mmlu', 'gsm8k' -> 'gsm8k', '' -> ''."""
    return source.split("/", 1)[0].strip().lower()


def word_terms(lowered: str) -> dict[str, int]:
    """Counts of word unigrams and bigrams (letters, digit runs and single symbols are tokens)."""
    tokens = WORD_RE.findall(lowered)
    terms = Counter(tokens)
    terms.update([f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)])
    return terms


def char_terms(lowered: str) -> dict[str, int]:
    """Counts of character n-grams over the whitespace-collapsed text."""
    text = f" {' '.join(lowered.split())} "
    lo, hi = CHAR_NGRAMS
    return Counter(text[i : i + n] for n in range(lo, hi + 1) for i in range(len(text) - n + 1))


def dense_features(prompt: str) -> list[float]:
    """Hand-made difficulty signals (lengths, numbers, operations, option shapes), in DENSE_NAMES order."""
    lowered = prompt.lower()
    question = prompt.split("\nA. ", 1)[0]
    numbers = NUMBER_RE.findall(prompt)
    options = OPTION_RE.findall(prompt)
    option_chars = [len(o) for o in options] or [0]
    numeric_options = sum(any(c.isdigit() for c in o) for o in options) / max(1, len(options))
    log = math.log1p
    return [
        log(len(prompt)),
        log(len(question)),
        log(len(numbers)),
        log(len(set(numbers))),
        log(prompt.count(".") + prompt.count("?")),
        float("%" in prompt),
        float("$" in prompt),
        float(bool(FRACTION_RE.search(prompt))),
        float(bool(DECIMAL_RE.search(prompt))),
        log(len(OPERATION_RE.findall(lowered))),
        log(sum(option_chars) / len(option_chars)),
        log(max(option_chars)),
        numeric_options,
        float(bool(NEGATION_RE.search(question.lower()))),
        float("statement 1" in lowered),
        float(bool(ROMAN_RE.search(prompt))),
        float("of the above" in lowered),
        log(sum(map(str.isdigit, prompt))),  # the same count as a generator, without a Python frame per character
        float(bool(SYMBOL_RE.search(question))),
    ]


def extract(prompt: str, source: str = "") -> PromptFeatures:
    """All features of one request; the same code runs when fitting and when routing."""
    lowered, source = prompt.lower(), source.strip()
    chars = char_terms(lowered) if source_group(source) in CHAR_GROUPS else {}
    return PromptFeatures(word_terms(lowered), chars, dense_features(prompt), source)


def prior_rates(priors: dict, source: str) -> tuple[float, float]:
    """Smoothed (weak ok, strong ok) rates for a source, falling back to its group, then to all rows."""
    if source in priors["sources"]:
        return tuple(priors["sources"][source])
    return tuple(priors["groups"].get(source_group(source), priors["global"]))


def stack_features(
    prior: tuple[float, float], source: str, dense: list[float], p_weak: float, p_strong: float
) -> list[float]:
    """The second stage's input row: source priors, group flag, dense features and first-stage probabilities."""
    is_gsm = float(source_group(source) == "gsm8k")
    return [prior[0], prior[1], prior[1] - prior[0], is_gsm, *dense, p_weak, p_strong, p_strong - p_weak]
