"""Adaptive scoring: a match model (a copy cache) mixed with the network as a file is read.

Tunes repeat themselves (parts played twice, the same `Z:`/`S:` lines on every
tune of a collection); compressors such as xz copy those repeats, an LSTM with
a fixed state cannot. While reading a file, the match model finds the longest
earlier occurrence of the current context and proposes the character that
followed it. The two are mixed per match-length bucket,
P(c) = lam * [c == proposed] + (1 - lam) * P_net(c),
where lam is a Bayesian average over a grid of weights, each weighted by how
well it predicted the earlier characters of the same bucket. Every step uses
only characters already read, so the result is a proper probability for each
character (it sums to one) and its bits per character are an honest code
length. This is the "cache" idea of Grave et al. (2017), in its simplest form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LAMBDAS = np.array([0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995])
# match-length buckets: 1, 2, 3, 4-5, 6-7, 8-11, 12-15, 16-23, 24-31, 32+
_EDGES = np.array([1, 2, 3, 4, 6, 8, 12, 16, 24, 32])


@dataclass(frozen=True)
class CacheConfig:
    """Match-model settings."""

    min_len: int = 5  # context characters that must match before a copy is proposed
    max_verify: int = 64  # how far back a new match's length is measured


def _bucket(length: int) -> int:
    return int(np.searchsorted(_EDGES, length, side="right")) - 1


def mix_match(ids: np.ndarray, p_net: np.ndarray, cfg: CacheConfig = CacheConfig()) -> tuple[np.ndarray, dict]:
    """-log2 P(ids[t]) under the net mixed with the match model, given P_net(ids[t]) for every t.

    `ids` is the encoded text and `p_net[t]` the network's probability of `ids[t]`
    given everything before it. Returns (bits per position, statistics).
    """
    n = len(ids)
    seq = ids.tolist()
    table: dict[int, int] = {}  # last min_len ids (packed in one int) -> the position right after them, latest
    bits_per_id = max(1, int(max(seq, default=0)).bit_length())
    mask = (1 << (bits_per_id * cfg.min_len)) - 1
    ctx = 0  # the last min_len ids, packed
    logw = np.zeros((len(_EDGES), len(LAMBDAS)))
    bits = np.empty(n)
    ptr, length, proposed, hits = -1, 0, 0, 0
    k = cfg.min_len
    for t in range(n):
        y, p = seq[t], float(p_net[t])
        key = ctx if t >= k else None
        if length == 0 and key is not None:
            found = table.get(key)
            if found is not None:
                ptr, length = found, k
                while length < cfg.max_verify and ptr - length - 1 >= 0 and \
                        seq[ptr - length - 1] == seq[t - length - 1]:
                    length += 1
        if length > 0:
            proposed += 1
            b = _bucket(length)
            w = np.exp(logw[b] - logw[b].max())
            w /= w.sum()
            hit = seq[ptr] == y
            per_lam = LAMBDAS * hit + (1 - LAMBDAS) * p  # each weight's probability of y
            prob = float(w @ per_lam)
            logw[b] += np.log(np.maximum(per_lam, 1e-300))
            if hit:
                hits += 1
                ptr, length = ptr + 1, length + 1
            else:
                length = 0
        else:
            prob = p
        bits[t] = -math.log2(max(prob, 1e-300))
        if key is not None:  # only now: a context may point at earlier positions, never at itself
            table[key] = t
        ctx = ((ctx << bits_per_id) | y) & mask
    return bits, {"proposals": proposed, "hits": hits}
