"""Sampling steps in numpy: `FastStepper` runs a character model one character at a time (far less
per-call overhead than torch at batch 1), and `sample_logits` draws with temperature, top-k and top-p."""

from __future__ import annotations

import numpy as np

from audio_rnn.training.threads import limit_blas_threads


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


class FastStepper:
    """One-character steps of a CharLM in numpy: far less per-call overhead than torch at batch 1.

    The first layer's input projection and bias are folded into a (vocab, gates)
    table; deeper layers multiply [x, h] by one stacked matrix. For LSTM the
    i, f, o gate rows are pre-scaled by 1/2 so that one tanh gives every gate
    (sigmoid(x) = (tanh(x/2) + 1) / 2). About a dozen numpy calls per layer.
    """

    def __init__(self, model) -> None:
        sd = {k: v.detach().cpu().numpy().astype(np.float64) for k, v in model.state_dict().items()}
        d = model.dims
        self.cell, self.layers, self.hidden = d.cell, d.layers, d.hidden
        H = d.hidden
        scale = np.ones(4 * H if d.cell == "lstm" else (3 * H if d.cell == "gru" else H))
        if d.cell == "lstm":
            scale[: 2 * H] = 0.5  # input and forget gates
            scale[3 * H :] = 0.5  # output gate
        emb = sd["embed.weight"]
        self.table, self.w, self.b, self.w_hh, self.b_hh = None, [], [], [], []
        for layer in range(d.layers):
            w_ih, w_hh = sd[f"rnn.weight_ih_l{layer}"], sd[f"rnn.weight_hh_l{layer}"]
            b_ih, b_hh = sd[f"rnn.bias_ih_l{layer}"], sd[f"rnn.bias_hh_l{layer}"]
            if d.cell == "gru":  # the candidate gate needs the recurrent part separately
                self.w.append(np.ascontiguousarray(w_ih.T, dtype=np.float32))
                self.b.append(b_ih.astype(np.float32))
                self.w_hh.append(np.ascontiguousarray(w_hh.T, dtype=np.float32))
                self.b_hh.append(b_hh.astype(np.float32))
                continue
            if layer == 0:
                self.table = np.ascontiguousarray((emb @ w_ih.T + b_ih + b_hh) * scale, dtype=np.float32)
                self.w.append(np.ascontiguousarray(w_hh.T * scale, dtype=np.float32))
                self.b.append(np.zeros(len(scale), np.float32))
            else:
                stacked = np.concatenate([w_ih.T, w_hh.T], axis=0) * scale  # rows: [x; h]
                self.w.append(np.ascontiguousarray(stacked, dtype=np.float32))
                self.b.append(((b_ih + b_hh) * scale).astype(np.float32))
        if d.cell == "gru":
            self.table = np.ascontiguousarray(emb @ self.w[0].astype(np.float64) + self.b[0], dtype=np.float32)
        self.w_out = np.ascontiguousarray(sd["head.weight"].T, dtype=np.float32)
        self.b_out = sd["head.bias"].astype(np.float32)

    def start(self, batch: int):
        """A step function ids (list of B ints) -> logits (B, V), holding its own recurrent state."""
        H, L = self.hidden, self.layers
        h = [np.zeros((batch, H), np.float32) for _ in range(L)]
        c = [np.zeros((batch, H), np.float32) for _ in range(L)]
        xh = [np.zeros((batch, 2 * H), np.float32) for _ in range(L)]  # [x, h] of deeper layers

        def preact(ids, layer: int) -> np.ndarray:
            """Stacked gate pre-activations of `layer`: [x, h] @ W + b (layer 0's input part is a table lookup)."""
            if layer == 0:
                g = h[0] @ self.w[0]
                g += self.table[ids]
                return g
            buf = xh[layer]
            buf[:, :H] = h[layer - 1]
            buf[:, H:] = h[layer]
            g = buf @ self.w[layer]
            g += self.b[layer]
            return g

        def lstm(ids) -> np.ndarray:
            for layer in range(L):
                g = preact(ids, layer)
                t = np.tanh(g, out=g)
                s = t * 0.5
                s += 0.5
                cl = c[layer]
                cl *= s[:, H : 2 * H]
                cl += s[:, :H] * t[:, 2 * H : 3 * H]
                h[layer] = s[:, 3 * H :] * np.tanh(cl)
            out = h[-1] @ self.w_out
            out += self.b_out
            return out

        def gru(ids) -> np.ndarray:
            x = None
            for layer in range(L):
                gi = self.table[ids] if layer == 0 else x @ self.w[layer] + self.b[layer]
                gh = h[layer] @ self.w_hh[layer] + self.b_hh[layer]
                r = _sigmoid(gi[:, :H] + gh[:, :H])
                z = _sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
                cand = np.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
                h[layer] = (1 - z) * cand + z * h[layer]
                x = h[layer]
            return x @ self.w_out + self.b_out

        def rnn(ids) -> np.ndarray:
            for layer in range(L):
                h[layer] = np.tanh(preact(ids, layer))
            return h[-1] @ self.w_out + self.b_out

        fn = {"lstm": lstm, "gru": gru, "rnn": rnn}[self.cell]
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
