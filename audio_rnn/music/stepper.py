"""Sampling steps in numpy: `FastStepper` runs a character model one character at a time (far less
per-call overhead than torch at batch 1), and `sample_logits` draws with temperature, top-k and top-p."""

from __future__ import annotations

import numpy as np

from audio_rnn.nn.recurrence import Cell
from audio_rnn.training.threads import limit_blas_threads


class FastStepper:
    """One-character steps of a CharLM in numpy: far less per-call overhead than torch at batch 1.

    Runs on the shared recurrence (`nn.recurrence.Cell`); the first layer's input projection
    and biases are folded into a (vocab, gates) table, so a character's input costs one lookup.
    """

    def __init__(self, model) -> None:
        sd = {k: v.detach().cpu().numpy().astype(np.float64) for k, v in model.state_dict().items()}
        d = model.dims
        self.cell, self.layers, self.hidden = d.cell, d.layers, d.hidden
        self.cells = [Cell.from_torch(d.cell, sd[f"rnn.weight_ih_l{k}"], sd[f"rnn.weight_hh_l{k}"],
                                      sd[f"rnn.bias_ih_l{k}"], sd[f"rnn.bias_hh_l{k}"]) for k in range(d.layers)]
        first = self.cells[0]
        self.table = np.ascontiguousarray(sd["embed.weight"] @ sd["rnn.weight_ih_l0"].T + first.bias, dtype=np.float32)
        self.w_out = np.ascontiguousarray(sd["head.weight"].T, dtype=np.float32)
        self.b_out = sd["head.bias"].astype(np.float32)

    def start(self, batch: int):
        """A step function ids (list of B ints) -> logits (B, V), holding its own recurrent state."""
        h = [np.zeros((batch, self.hidden), np.float32) for _ in range(self.layers)]
        c = [np.zeros((batch, self.hidden), np.float32) for _ in range(self.layers)]  # LSTM cells (else unused)
        lstm = self.cell == "lstm"

        def fn(ids) -> np.ndarray:
            x = None
            for k, cell in enumerate(self.cells):
                gi = self.table[ids] if k == 0 else cell.project(x)
                h[k], ck = cell.step(gi, h[k], c[k] if lstm else None)
                if lstm:
                    c[k] = ck
                x = h[k]
            out = x @ self.w_out
            out += self.b_out
            return out

        fn.h, fn.c = h, c  # the live state, for per-stream snapshots (backtracking)
        return fn


def one_blas_thread():
    """Small matrix products are fastest on one BLAS thread (and do not spin on a busy machine)."""
    return limit_blas_threads(1)


def sample_logits(logits: np.ndarray, temperature: float, top_k: int, top_p: float, rng) -> np.ndarray:
    """Next ids (B,) from logits (B, V): the unknown token masked, temperature, top-k, top-p."""
    logits = logits.astype(np.float64)
    logits[:, 0] = -np.inf
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits / temperature
    V = logits.shape[-1]
    if 0 < top_k < V:
        kth = np.partition(logits, V - top_k, axis=-1)[:, V - top_k : V - top_k + 1]
        logits = np.where(logits < kth, -np.inf, logits)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    if top_p < 1:
        order = np.argsort(-p, axis=-1)
        sp = np.take_along_axis(p, order, -1)
        keep = (np.cumsum(sp, -1) - sp) < top_p
        mask = np.zeros_like(p, dtype=bool)
        np.put_along_axis(mask, order, keep, -1)
        p = np.where(mask, p, 0.0)
        p /= p.sum(-1, keepdims=True)
    cdf = np.cumsum(p, -1)
    u = rng.random((p.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((cdf < u).sum(-1), V - 1)
