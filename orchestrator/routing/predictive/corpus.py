"""Training-side corpus: extracted features of many rows as arrays, and in-fold vocabularies and matrices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfTransformer

from orchestrator.routing.predictive.features import PromptFeatures, source_group

BLOCKS = ("word", "char")
MIN_DF = {"word": 3, "char": 3}
SOURCE_SCALE = 3.0  # source indicators are strong signals; scaling them weakens their L2 penalty
DENSE_SCALE = 0.3


@dataclass
class Block:
    """One term block of every row as CSR-like arrays over global term ids (no fitting involved)."""

    terms: list[str]
    indptr: np.ndarray
    ids: np.ndarray
    counts: np.ndarray


@dataclass
class Corpus:
    """Features of all rows, extracted once so that every fold only re-indexes them."""

    blocks: dict[str, Block]
    dense: np.ndarray
    sources: list[str]

    def __len__(self) -> int:
        """Number of rows."""
        return len(self.sources)


@dataclass
class Vocabulary:
    """What a fold fitted: kept term ids and a tf-idf transformer per block, dense scaling and known sources."""

    kept: dict[str, np.ndarray]
    tfidf: dict[str, TfidfTransformer | None]
    dense_mean: np.ndarray
    dense_std: np.ndarray
    sources: list[str]
    groups: list[str]

    @property
    def idf(self) -> dict[str, np.ndarray]:
        """The fitted idf of each block's kept terms (for the pure-python scorer)."""
        return {name: transformer.idf_ if transformer is not None else np.zeros(0)
                for name, transformer in self.tfidf.items()}


def build_block(docs: list[dict[str, int]]) -> Block:
    """Number every distinct term in order of appearance and store each row's (id, count) pairs."""
    index: dict[str, int] = {}
    ids: list[int] = []
    counts: list[int] = []
    indptr = [0]
    for doc in docs:
        for term, count in doc.items():
            ids.append(index.setdefault(term, len(index)))
            counts.append(count)
        indptr.append(len(ids))
    # Explicit dtypes: a block no row has terms in (char n-grams outside math) must still index as integers.
    return Block(list(index), np.asarray(indptr, dtype=int), np.asarray(ids, dtype=int),
                 np.asarray(counts, dtype=float))


def build_corpus(features: list[PromptFeatures]) -> Corpus:
    """Arrays for every block, the dense matrix and the sources of the given rows."""
    blocks = {name: build_block([getattr(f, name) for f in features]) for name in BLOCKS}
    dense = np.asarray([f.dense for f in features], dtype=float)
    return Corpus(blocks, dense, [f.source for f in features])


def _rows(block: Block, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row numbers (0..len(rows)-1), term ids and counts of the selected rows."""
    starts, ends = block.indptr[rows], block.indptr[rows + 1]
    lengths = ends - starts
    positions = (
        np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)]) if len(rows) else np.zeros(0, int)
    )
    return np.repeat(np.arange(len(rows)), lengths), block.ids[positions], block.counts[positions]


def fit_vocabulary(corpus: Corpus, rows: np.ndarray) -> Vocabulary:
    """Fit vocabulary, tf-idf, dense scaling and source list on the given (training) rows only.

    scikit-learn's TfidfTransformer does the weighting: sublinear tf, smooth idf, L2-normalised rows.
    """
    kept: dict[str, np.ndarray] = {}
    tfidf: dict[str, TfidfTransformer | None] = {}
    for name in BLOCKS:
        block = corpus.blocks[name]
        _, ids, _ = _rows(block, rows)
        df = np.bincount(ids, minlength=len(block.terms))
        kept[name] = np.flatnonzero(df >= MIN_DF[name])
        # A block with no kept term (char n-grams only exist for math prompts) contributes no columns.
        tfidf[name] = (TfidfTransformer(sublinear_tf=True).fit(_counts(corpus, name, rows, kept[name]))
                       if len(kept[name]) else None)
    dense = corpus.dense[rows]
    std = dense.std(axis=0)
    sources = sorted({corpus.sources[i] for i in rows})
    groups = sorted({source_group(s) for s in sources})
    return Vocabulary(kept, tfidf, dense.mean(axis=0), np.where(std > 1e-6, std, 1.0), sources, groups)


def _counts(corpus: Corpus, name: str, rows: np.ndarray, kept: np.ndarray) -> sparse.csr_matrix:
    """Term counts of the given rows over the kept terms of one block."""
    block = corpus.blocks[name]
    column = np.full(len(block.terms), -1)
    column[kept] = np.arange(len(kept))
    row, ids, counts = _rows(block, rows)
    cols = column[ids]
    keep = cols >= 0
    return sparse.csr_matrix((counts[keep], (row[keep], cols[keep])), shape=(len(rows), len(kept)))


def _block_matrix(corpus: Corpus, name: str, rows: np.ndarray, vocab: Vocabulary) -> sparse.csr_matrix:
    """Sublinear-tf x idf matrix of one block, each row L2-normalised over the kept terms."""
    transformer = vocab.tfidf[name]
    if transformer is None:
        return sparse.csr_matrix((len(rows), 0))
    return transformer.transform(_counts(corpus, name, rows, vocab.kept[name])).tocsr()


def _indicator(labels: list[str], known: list[str]) -> sparse.csr_matrix:
    """One-hot matrix of labels over the known list; unknown labels get an all-zero row."""
    index = {name: i for i, name in enumerate(known)}
    hits = [(r, index[label]) for r, label in enumerate(labels) if label in index]
    rows, cols = zip(*hits, strict=True) if hits else ((), ())
    return sparse.csr_matrix((np.ones(len(hits)), (rows, cols)), shape=(len(labels), len(known)))


def dense_block(corpus: Corpus, rows: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    """Standardised dense features, then the same values again for gsm8k rows only."""
    z = (corpus.dense[rows] - vocab.dense_mean) / vocab.dense_std
    is_gsm = np.asarray([source_group(corpus.sources[i]) == "gsm8k" for i in rows], dtype=float)
    return DENSE_SCALE * np.hstack([z, z * is_gsm[:, None]])


def design_matrix(corpus: Corpus, rows: np.ndarray, vocab: Vocabulary) -> sparse.csr_matrix:
    """The linear model's input for the given rows: text blocks, dense block, source and group one-hots."""
    sources = [corpus.sources[i] for i in rows]
    parts = [_block_matrix(corpus, name, rows, vocab) for name in BLOCKS]
    parts.append(sparse.csr_matrix(dense_block(corpus, rows, vocab)))
    parts.append(SOURCE_SCALE * _indicator(sources, vocab.sources))
    parts.append(SOURCE_SCALE * _indicator([source_group(s) for s in sources], vocab.groups))
    return sparse.hstack(parts).tocsr()
