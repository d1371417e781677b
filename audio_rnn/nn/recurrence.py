"""The one numpy recurrence for inference: RNN/LSTM/GRU steps in torch's gate layout.

torch's `nn.RNN/LSTM/GRU` keep `weight_ih` (G*H, in), `weight_hh` (G*H, H) and two
biases, gates stacked as LSTM (i, f, g, o) and GRU (r, z, n). `Cell` holds one
layer's weights transposed for row-major products and its biases folded: every
bias adds to the input side except the GRU candidate's recurrent bias, which
stays inside `r * (W_hn h + b_hn)`. `Cell.step` advances a batch one step from
the input pre-activations `Cell.project(x)`; `Cell.run` loops it over time. The
keyword network (`spotting.network`) and the music sampler (`music.stepper`) both
run on it; the from-scratch cells (`scratch.cells`) keep their own, with the caches
their hand-written BPTT needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

CELLS = ("rnn", "lstm", "gru")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def sigmoid_(x: np.ndarray) -> np.ndarray:
    """In-place logistic as (tanh(x/2) + 1) / 2: overflow-free and ~6x faster than scipy's expit on float32."""
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5
    return x


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic of a copy of `x`."""
    return sigmoid_(np.array(x, dtype=np.result_type(x, np.float32)))


@dataclass
class Cell:
    """One recurrent layer's weights as numpy, ready to step: w_ih (in, G*H), w_hh (H, G*H), bias (G*H,)."""

    cell: str
    w_ih: np.ndarray
    w_hh: np.ndarray
    bias: np.ndarray  # b_ih plus every recurrent bias that can move to the input side
    b_hn: np.ndarray | None  # GRU: the candidate's recurrent bias (inside r * (.)); else None

    @classmethod
    def from_torch(cls, cell: str, weight_ih: np.ndarray, weight_hh: np.ndarray, bias_ih: np.ndarray,
                   bias_hh: np.ndarray, dtype: Any = np.float32) -> "Cell":
        """From torch's per-layer tensors (as numpy arrays), in `dtype`."""
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        H = weight_hh.shape[1]
        bias = np.asarray(bias_ih, np.float64) + np.asarray(bias_hh, np.float64)
        b_hn = None
        if cell == "gru":
            bias[2 * H:] = bias_ih[2 * H:]
            b_hn = np.asarray(bias_hh[2 * H:], dtype)
        return cls(cell, np.ascontiguousarray(np.asarray(weight_ih).T, dtype),
                   np.ascontiguousarray(np.asarray(weight_hh).T, dtype), bias.astype(dtype), b_hn)

    @property
    def hidden(self) -> int:
        return self.w_hh.shape[0]

    def project(self, x: np.ndarray) -> np.ndarray:
        """Input pre-activations x @ W_ih + bias for inputs (..., in): one product for every step at once."""
        g = x @ self.w_ih
        g += self.bias
        return g

    def zeros(self, batch: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The zero state (h, c) of a batch (c is None but for LSTM)."""
        h = np.zeros((batch, self.hidden), self.w_hh.dtype)
        return h, (h.copy() if self.cell == "lstm" else None)

    def step(self, gi: np.ndarray, h: np.ndarray, c: np.ndarray | None,
             out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """(h, c) after one step from input pre-activations `gi` (B, G*H); the new h goes into `out` if given."""
        H = self.hidden
        g = h @ self.w_hh
        if self.cell == "gru":
            rz = g[:, :2 * H]
            rz += gi[:, :2 * H]
            sigmoid_(rz)  # r, z
            n = g[:, 2 * H:]
            n += self.b_hn
            n *= rz[:, :H]
            n += gi[:, 2 * H:]
            np.tanh(n, out=n)
            nxt = np.subtract(h, n, out=out)
            nxt *= rz[:, H:]
            nxt += n  # h' = n + z * (h - n)
            return nxt, None
        g += gi
        if self.cell == "rnn":
            return np.tanh(g, out=out), None
        sigmoid_(g[:, :2 * H])  # input, forget
        sigmoid_(g[:, 3 * H:])  # output
        cand = g[:, 2 * H:3 * H]
        np.tanh(cand, out=cand)
        c = c * g[:, H:2 * H]
        cand *= g[:, :H]
        c += cand
        return np.multiply(g[:, 3 * H:], np.tanh(c), out=out), c

    def run(self, xi: np.ndarray, state: tuple[np.ndarray, np.ndarray | None] | None = None
            ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray | None]]:
        """Outputs (T, B, H) over time-major input pre-activations (T, B, G*H) from `state` (None: zeros),
        and the last state."""
        T, B, _ = xi.shape
        h, c = state if state is not None else self.zeros(B)
        out = np.empty((T, B, self.hidden), self.w_hh.dtype)
        for t in range(T):
            h, c = self.step(xi[t], h, c, out=out[t])
        return out, (h.copy(), c)
