"""Character n-gram baseline with interpolated Kneser-Ney smoothing (numpy, vectorised).

Every n-gram is packed into one int64 (7 bits per character, up to 9
characters), so counting is `np.unique` and lookup is `np.searchsorted`.
The highest order uses raw counts, lower orders continuation counts (how many
distinct characters precede the n-gram), each level discounted by
D = n1 / (n1 + 2 n2) and interpolated down to a uniform distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from audio_rnn.music.text import Vocab

BITS = 7
BASE = 1 << BITS


def _codes(ids: np.ndarray, k: int) -> np.ndarray:
    """Codes of all k-grams of ids: code[t] packs ids[t : t + k]."""
    n = len(ids) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    code = np.zeros(n, dtype=np.int64)
    for j in range(k):
        code = (code << BITS) | ids[j : j + n]
    return code


@dataclass
class _Level:
    grams: np.ndarray  # sorted unique k-gram codes
    counts: np.ndarray  # (continuation) counts of those k-grams
    ctx: np.ndarray  # sorted unique context codes (k-1 characters)
    ctx_total: np.ndarray  # sum of counts over each context's continuations
    ctx_types: np.ndarray  # number of distinct continuations of each context
    discount: float


def _level(grams: np.ndarray, counts: np.ndarray) -> _Level:
    ctx_codes = grams >> BITS
    ctx, start, types = np.unique(ctx_codes, return_index=True, return_counts=True)
    total = np.add.reduceat(counts, start) if len(counts) else np.zeros(0, dtype=np.int64)
    n1, n2 = int(np.sum(counts == 1)), int(np.sum(counts == 2))
    d = n1 / (n1 + 2 * n2) if n1 + n2 > 0 else 0.5
    return _Level(grams, counts, ctx, total, types, min(max(d, 0.05), 0.95))


def _lookup(keys: np.ndarray, table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """values[table == key] for each key, 0 where absent."""
    if len(table) == 0:
        return np.zeros(len(keys), dtype=np.float64)
    pos = np.searchsorted(table, keys)
    pos = np.minimum(pos, len(table) - 1)
    hit = table[pos] == keys
    return np.where(hit, values[pos], 0).astype(np.float64)


class KneserNey:
    """An order-N character model (N - 1 characters of context)."""

    def __init__(self, order: int = 7, vocab: Vocab | None = None):
        if not 1 <= order <= 9:
            raise ValueError("order must be 1..9")
        self.order = order
        self.vocab = vocab
        self.levels: list[_Level] = []

    def fit(self, text: str) -> "KneserNey":
        """Count the training text (one stream)."""
        if self.vocab is None:
            self.vocab = Vocab.build([text], min_count=1)
        if len(self.vocab) >= BASE:
            raise ValueError(f"vocabulary of {len(self.vocab)} does not fit {BITS} bits per character")
        ids = self.vocab.encode(text)
        levels: list[_Level] = []
        grams, counts = np.unique(_codes(ids, self.order), return_counts=True)
        levels.append(_level(grams, counts))
        for k in range(self.order - 1, 0, -1):
            # continuation count of a k-gram: distinct characters seen before it
            suffix = grams & ((1 << (BITS * k)) - 1)
            grams, counts = np.unique(suffix, return_counts=True)
            levels.append(_level(grams, counts))
        self.levels = levels[::-1]  # index 0 = unigrams
        return self

    def log2probs(self, text: str, context: str = "\n") -> np.ndarray:
        """-log2 P(char | previous N-1 chars) for every character of text (context primes the first ones)."""
        ids = self.vocab.encode(context + text)
        start = len(context)
        n = len(text)
        pos = np.arange(start, start + n)
        p = np.full(n, 1.0 / len(self.vocab))
        for k, lv in enumerate(self.levels, start=1):
            have = pos - (k - 1) >= 0
            gram = np.zeros(n, dtype=np.int64)
            for j in range(k):
                idx = np.clip(pos - (k - 1) + j, 0, None)
                gram = (gram << BITS) | ids[idx]
            ctx = gram >> BITS
            c = _lookup(gram, lv.grams, lv.counts)
            total = _lookup(ctx, lv.ctx, lv.ctx_total)
            types = _lookup(ctx, lv.ctx, lv.ctx_types)
            seen = have & (total > 0)
            safe = np.where(seen, total, 1.0)
            mixed = np.maximum(c - lv.discount, 0) / safe + lv.discount * types / safe * p
            p = np.where(seen, mixed, p)
        return -np.log2(p)

    def bits_per_char(self, text: str, context: str = "\n") -> float:
        return float(np.mean(self.log2probs(text, context))) if text else math.nan
