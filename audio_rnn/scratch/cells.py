"""RNN, LSTM and GRU in plain numpy with hand-written backpropagation through time (BPTT).

The equations, gate order and parameter names/shapes are torch's (`weight_ih_l0`, `weight_hh_l0`,
`bias_ih_l0`, `bias_hh_l0`; LSTM gates i,f,g,o; GRU gates r,z,n), so weights copy both ways
(`torch_bridge`). Also the optimiser pieces the numpy models train with (gradient norm and
clipping, Adam, softmax cross-entropy). Only numpy is imported here (and threadpoolctl, to keep BLAS on one thread).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, TypeVar

import numpy as np

from audio_rnn.nn.recurrence import CELLS, sigmoid
from audio_rnn.training.threads import limit_blas_threads


GATE_COUNT = {"rnn": 1, "lstm": 4, "gru": 3}
GATE_NAMES = {"rnn": (), "lstm": ("input", "forget", "cell", "output"), "gru": ("reset", "update", "new")}
PARAM_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


F = TypeVar("F", bound=Callable[..., Any])


def one_blas_thread():
    """Small matrix products are fastest on one BLAS thread (and do not spin on a busy machine)."""
    return limit_blas_threads(1)


def single_blas_thread(fn: F) -> F:
    """Decorator form of one_blas_thread for the sequential (step-by-step) experiments."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def param_names(num_layers: int, bias: bool = True) -> list[str]:
    """torch's parameter names in torch's order, e.g. weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0."""
    kinds = PARAM_KINDS if bias else PARAM_KINDS[:2]
    return [f"{k}_l{layer}" for layer in range(num_layers) for k in kinds]


# ----------------------------------------------------------------------------------------------
# One layer: forward over the whole sequence, then backward through time.


def layer_forward(
    cell: str,
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray | None,
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    b_ih: np.ndarray | None,
    b_hh: np.ndarray | None,
    nonlinearity: str = "tanh",
) -> dict[str, Any]:
    """Run one layer over x (T, B, I) from h0 (B, H) [and c0]; returns the cache BPTT needs.

    Cache keys: x, h0, c0, h (T,B,H) outputs, acts (T,B,G*H) gate activations in torch order,
    c and tanh_c (LSTM cell state), ghn (GRU's W_hn h + b_hn, the term the reset gate scales).
    """
    T, B, _ = x.shape
    H = w_hh.shape[1]
    gi = x @ w_ih.T  # input projections for all steps at once: (T, B, G*H)
    if b_ih is not None:
        gi = gi + b_ih
    hs = np.empty((T, B, H), dtype=x.dtype)
    acts = np.empty((T, B, GATE_COUNT[cell] * H), dtype=x.dtype)
    cache: dict[str, Any] = {"cell": cell, "x": x, "h0": h0, "c0": c0, "h": hs, "acts": acts, "nonlinearity": nonlinearity}
    if cell == "rnn":
        _rnn_forward(gi, h0, w_hh, b_hh, nonlinearity, hs, acts)
    elif cell == "lstm":
        cache.update(_lstm_forward(gi, h0, c0, w_hh, b_hh, hs, acts))
    elif cell == "gru":
        cache["ghn"] = _gru_forward(gi, h0, w_hh, b_hh, hs, acts)
    else:
        raise ValueError(f"unknown cell {cell!r}; expected one of {CELLS}")
    return cache


def _rnn_forward(
    gi: np.ndarray,
    h0: np.ndarray,
    w_hh: np.ndarray,
    b_hh: np.ndarray | None,
    nonlinearity: str,
    hs: np.ndarray,
    acts: np.ndarray,
) -> None:
    """Vanilla RNN steps h_t = act(gi_t + W_hh h_{t-1} + b_hh); fills hs and acts (the cache) in place."""
    act = np.tanh if nonlinearity == "tanh" else (lambda a: np.maximum(a, 0))
    h = h0
    for t in range(gi.shape[0]):
        a = gi[t] + h @ w_hh.T
        if b_hh is not None:
            a = a + b_hh
        h = act(a)
        hs[t] = h
        acts[t] = h


def _lstm_forward(
    gi: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray | None,
    w_hh: np.ndarray,
    b_hh: np.ndarray | None,
    hs: np.ndarray,
    acts: np.ndarray,
) -> dict[str, np.ndarray]:
    """LSTM steps (gates i,f,g,o) filling hs and acts in place; returns the cell states {c, tanh_c} BPTT needs."""
    T, B, H = hs.shape
    cs = np.empty((T, B, H), dtype=hs.dtype)
    tcs = np.empty((T, B, H), dtype=hs.dtype)
    h, c = h0, c0
    for t in range(T):
        a = gi[t] + h @ w_hh.T
        if b_hh is not None:
            a = a + b_hh
        i = sigmoid(a[:, :H])
        f = sigmoid(a[:, H : 2 * H])
        g = np.tanh(a[:, 2 * H : 3 * H])
        o = sigmoid(a[:, 3 * H :])
        c = f * c + i * g
        tc = np.tanh(c)
        h = o * tc
        acts[t, :, :H], acts[t, :, H : 2 * H], acts[t, :, 2 * H : 3 * H], acts[t, :, 3 * H :] = i, f, g, o
        cs[t], tcs[t], hs[t] = c, tc, h
    return {"c": cs, "tanh_c": tcs}


def _gru_forward(
    gi: np.ndarray,
    h0: np.ndarray,
    w_hh: np.ndarray,
    b_hh: np.ndarray | None,
    hs: np.ndarray,
    acts: np.ndarray,
) -> np.ndarray:
    """GRU steps (gates r,z,n) filling hs and acts in place; returns ghn (T,B,H), the term the reset gate scales."""
    T, B, H = hs.shape
    ghn = np.empty((T, B, H), dtype=hs.dtype)
    h = h0
    for t in range(T):
        gh = h @ w_hh.T
        if b_hh is not None:
            gh = gh + b_hh
        r = sigmoid(gi[t, :, :H] + gh[:, :H])
        z = sigmoid(gi[t, :, H : 2 * H] + gh[:, H : 2 * H])
        n = np.tanh(gi[t, :, 2 * H :] + r * gh[:, 2 * H :])
        h = (1.0 - z) * n + z * h
        acts[t, :, :H], acts[t, :, H : 2 * H], acts[t, :, 2 * H :] = r, z, n
        ghn[t], hs[t] = gh[:, 2 * H :], h
    return ghn


@dataclass
class LayerGrads:
    """Gradients of one layer: its four parameters, its input, its initial state and every dL/dh_t."""

    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    x: np.ndarray
    h0: np.ndarray
    c0: np.ndarray | None
    dh: np.ndarray  # (T, B, H): total derivative of the loss w.r.t. h_t (from outputs and from the future)


def layer_backward(
    cache: dict[str, Any],
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    dout: np.ndarray | None,
    dh_T: np.ndarray | None = None,
    dc_T: np.ndarray | None = None,
) -> LayerGrads:
    """Backpropagation through time for one layer, given dL/d(outputs) (T,B,H) and dL/d(final state)."""
    cell, x, hs = cache["cell"], cache["x"], cache["h"]
    T, B, H = hs.shape
    dtype = hs.dtype
    dout = np.zeros_like(hs) if dout is None else dout
    dh_next = np.zeros((B, H), dtype) if dh_T is None else dh_T.astype(dtype, copy=True)
    dc_next = None
    h_prev_all = np.concatenate([cache["h0"][None], hs[:-1]], axis=0)  # h_{t-1} for every t
    da_i = np.empty((T, B, GATE_COUNT[cell] * H), dtype)  # dL/d(pre-activations), input side
    da_h = da_i if cell != "gru" else np.empty_like(da_i)  # recurrent side (differs only for GRU's n)
    dh_all = np.empty((T, B, H), dtype)
    if cell == "rnn":
        dh_next = _rnn_backward(hs, cache["nonlinearity"] == "relu", w_hh, dout, dh_next, da_i, dh_all)
    elif cell == "lstm":
        dh_next, dc_next = _lstm_backward(cache, w_hh, dout, dh_next, dc_T, da_i, dh_all)
    elif cell == "gru":
        dh_next = _gru_backward(cache, h_prev_all, w_hh, dout, dh_next, da_i, da_h, dh_all)
    else:
        raise ValueError(f"unknown cell {cell!r}")
    return LayerGrads(
        w_ih=np.tensordot(da_i, x, axes=([0, 1], [0, 1])),
        w_hh=np.tensordot(da_h, h_prev_all, axes=([0, 1], [0, 1])),
        b_ih=da_i.sum(axis=(0, 1)),
        b_hh=da_h.sum(axis=(0, 1)),
        x=da_i @ w_ih,
        h0=dh_next,
        c0=dc_next,
        dh=dh_all,
    )


def _rnn_backward(
    hs: np.ndarray,
    relu: bool,
    w_hh: np.ndarray,
    dout: np.ndarray,
    dh_next: np.ndarray,
    da_i: np.ndarray,
    dh_all: np.ndarray,
) -> np.ndarray:
    """Vanilla RNN BPTT: fills da_i and dh_all in place (layer_backward's buffers); returns dL/dh0."""
    for t in range(hs.shape[0] - 1, -1, -1):
        dh = dout[t] + dh_next
        dh_all[t] = dh
        h = hs[t]
        da = dh * (h > 0) if relu else dh * (1.0 - h * h)
        da_i[t] = da
        dh_next = da @ w_hh
    return dh_next


def _lstm_backward(
    cache: dict[str, Any],
    w_hh: np.ndarray,
    dout: np.ndarray,
    dh_next: np.ndarray,
    dc_T: np.ndarray | None,
    da_i: np.ndarray,
    dh_all: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """LSTM BPTT through the cell state: fills da_i and dh_all in place; returns (dL/dh0, dL/dc0)."""
    acts, cs, tcs = cache["acts"], cache["c"], cache["tanh_c"]
    T, B, H = cs.shape
    c_prev_all = np.concatenate([cache["c0"][None], cs[:-1]], axis=0)
    dc_next = np.zeros((B, H), cs.dtype) if dc_T is None else dc_T.astype(cs.dtype, copy=True)
    for t in range(T - 1, -1, -1):
        dh = dout[t] + dh_next
        dh_all[t] = dh
        i, f, g, o = acts[t, :, :H], acts[t, :, H : 2 * H], acts[t, :, 2 * H : 3 * H], acts[t, :, 3 * H :]
        tc = tcs[t]
        dc = dc_next + dh * o * (1.0 - tc * tc)
        da = da_i[t]
        da[:, :H] = dc * g * i * (1.0 - i)
        da[:, H : 2 * H] = dc * c_prev_all[t] * f * (1.0 - f)
        da[:, 2 * H : 3 * H] = dc * i * (1.0 - g * g)
        da[:, 3 * H :] = dh * tc * o * (1.0 - o)
        dc_next = dc * f
        dh_next = da @ w_hh
    return dh_next, dc_next


def _gru_backward(
    cache: dict[str, Any],
    h_prev_all: np.ndarray,
    w_hh: np.ndarray,
    dout: np.ndarray,
    dh_next: np.ndarray,
    da_i: np.ndarray,
    da_h: np.ndarray,
    dh_all: np.ndarray,
) -> np.ndarray:
    """GRU BPTT (input and recurrent sides differ at the n gate): fills da_i, da_h, dh_all; returns dL/dh0."""
    acts, ghn = cache["acts"], cache["ghn"]
    T, _, H = ghn.shape
    for t in range(T - 1, -1, -1):
        dh = dout[t] + dh_next
        dh_all[t] = dh
        r, z, n = acts[t, :, :H], acts[t, :, H : 2 * H], acts[t, :, 2 * H :]
        dan = dh * (1.0 - z) * (1.0 - n * n)
        dai, dah = da_i[t], da_h[t]
        dai[:, :H] = dah[:, :H] = dan * ghn[t] * r * (1.0 - r)
        dai[:, H : 2 * H] = dah[:, H : 2 * H] = dh * (h_prev_all[t] - n) * z * (1.0 - z)
        dai[:, 2 * H :] = dan
        dah[:, 2 * H :] = dan * r
        dh_next = dh * z + dah @ w_hh
    return dh_next


# ----------------------------------------------------------------------------------------------
# A stack of layers with torch's parameter names.


@dataclass
class Grads:
    """What BPTT returns: parameter gradients (torch names), and gradients of input and initial state."""

    params: dict[str, np.ndarray]
    x: np.ndarray  # (T, B, input_size)
    h0: np.ndarray  # (L, B, H)
    c0: np.ndarray | None  # (L, B, H), LSTM only
    dh: list[np.ndarray]  # per layer, (T, B, H): dL/dh_t, the quantity whose norm shows vanishing/exploding

    def as_dict(self) -> dict[str, np.ndarray]:
        """Every gradient in one flat dict: parameter names plus 'x', 'h0' (and 'c0')."""
        out = dict(self.params, x=self.x, h0=self.h0)
        if self.c0 is not None:
            out["c0"] = self.c0
        return out


@dataclass
class Recurrent:
    """A multi-layer RNN/LSTM/GRU held as numpy arrays named exactly like torch's parameters."""

    cell: str
    input_size: int
    hidden_size: int
    num_layers: int = 1
    params: dict[str, np.ndarray] = field(default_factory=dict)
    nonlinearity: str = "tanh"  # vanilla RNN only: "tanh" or "relu"

    @classmethod
    def init(
        cls,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        seed: int = 0,
        dtype: Any = np.float64,
        bias: bool = True,
        nonlinearity: str = "tanh",
    ) -> "Recurrent":
        """torch's default initialisation: every weight and bias uniform in [-1/sqrt(H), 1/sqrt(H)]."""
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; expected one of {CELLS}")
        rng = np.random.default_rng(seed)
        k = 1.0 / math.sqrt(hidden_size)
        params = {}
        for name in param_names(num_layers, bias):
            params[name] = rng.uniform(-k, k, _param_shape(cell, name, input_size, hidden_size)).astype(dtype)
        return cls(cell, input_size, hidden_size, num_layers, params, nonlinearity)

    @property
    def dtype(self) -> np.dtype:
        return self.params["weight_hh_l0"].dtype

    @property
    def has_bias(self) -> bool:
        return "bias_ih_l0" in self.params

    def astype(self, dtype: Any) -> "Recurrent":
        """A copy with every parameter in `dtype` (float32 or float64)."""
        params = {k: v.astype(dtype) for k, v in self.params.items()}
        return Recurrent(self.cell, self.input_size, self.hidden_size, self.num_layers, params, self.nonlinearity)

    def copy(self) -> "Recurrent":
        return self.astype(self.dtype)

    def layer_params(self, layer: int) -> tuple:
        p = self.params
        return (
            p[f"weight_ih_l{layer}"],
            p[f"weight_hh_l{layer}"],
            p.get(f"bias_ih_l{layer}"),
            p.get(f"bias_hh_l{layer}"),
        )

    def zero_state(self, batch: int):
        """Zero initial state in torch's layout: h0 (L, B, H), or (h0, c0) for the LSTM."""
        h0 = np.zeros((self.num_layers, batch, self.hidden_size), self.dtype)
        return (h0, h0.copy()) if self.cell == "lstm" else h0

    def forward(self, x: np.ndarray, state=None) -> tuple[np.ndarray, Any, list[dict[str, Any]]]:
        """x (T, B, input_size) -> (outputs (T, B, H) of the top layer, final state like torch's, cache)."""
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"expected x of shape (T, B, {self.input_size}), got {x.shape}")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError("the sequence and the batch need at least one element each")
        state = self.zero_state(x.shape[1]) if state is None else state
        h0, c0 = state if self.cell == "lstm" else (state, None)
        h0 = np.asarray(h0, dtype=self.dtype)
        c0 = None if c0 is None else np.asarray(c0, dtype=self.dtype)
        caches, h_n, c_n = [], [], []
        inp = x
        for layer in range(self.num_layers):
            cache = layer_forward(
                self.cell, inp, h0[layer], None if c0 is None else c0[layer], *self.layer_params(layer), self.nonlinearity
            )
            caches.append(cache)
            h_n.append(cache["h"][-1])
            if c0 is not None:
                c_n.append(cache["c"][-1])
            inp = cache["h"]
        final = (np.stack(h_n), np.stack(c_n)) if self.cell == "lstm" else np.stack(h_n)
        return inp, final, caches

    def backward(self, caches: list[dict[str, Any]], dout: np.ndarray | None = None, dstate=None) -> Grads:
        """BPTT: dL/d(outputs) (T,B,H) and dL/d(final state) -> gradients of everything (see Grads)."""
        if self.cell == "lstm":
            dh_n, dc_n = dstate if dstate is not None else (None, None)
        else:
            dh_n, dc_n = dstate, None
        params: dict[str, np.ndarray] = {}
        dh0, dc0, dhs = [None] * self.num_layers, [None] * self.num_layers, [None] * self.num_layers
        d = dout
        for layer in range(self.num_layers - 1, -1, -1):
            w_ih, w_hh, _, _ = self.layer_params(layer)
            g = layer_backward(
                caches[layer],
                w_ih,
                w_hh,
                d,
                None if dh_n is None else dh_n[layer],
                None if dc_n is None else dc_n[layer],
            )
            params[f"weight_ih_l{layer}"] = g.w_ih
            params[f"weight_hh_l{layer}"] = g.w_hh
            if self.has_bias:
                params[f"bias_ih_l{layer}"] = g.b_ih
                params[f"bias_hh_l{layer}"] = g.b_hh
            dh0[layer], dc0[layer], dhs[layer] = g.h0, g.c0, g.dh
            d = g.x
        ordered = {name: params[name] for name in param_names(self.num_layers, self.has_bias)}
        return Grads(ordered, d, np.stack(dh0), np.stack(dc0) if self.cell == "lstm" else None, dhs)


def _param_shape(cell: str, name: str, input_size: int, hidden_size: int) -> tuple[int, ...]:
    kind, layer = name.rsplit("_l", 1)
    rows = GATE_COUNT[cell] * hidden_size
    if kind == "weight_ih":
        return (rows, input_size if layer == "0" else hidden_size)
    if kind == "weight_hh":
        return (rows, hidden_size)
    return (rows,)


# ----------------------------------------------------------------------------------------------
# Training helpers: global-norm clipping, Adam, a linear read-out with softmax cross-entropy.


def global_norm(grads: dict[str, np.ndarray] | Iterable[np.ndarray]) -> float:
    """sqrt of the sum of squares of every gradient entry (what clipping bounds)."""
    arrays = grads.values() if isinstance(grads, dict) else grads
    return float(math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in arrays)))


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float) -> tuple[dict[str, np.ndarray], float]:
    """Rescale all gradients together so their global norm is at most max_norm (torch's rule).

    Returns (clipped gradients, norm before clipping). The direction is kept; only the length changes.
    """
    norm = global_norm(grads)
    scale = max_norm / (norm + 1e-6)
    if not np.isfinite(norm) or scale >= 1.0:
        return dict(grads), norm
    return {k: (v * scale).astype(v.dtype) for k, v in grads.items()}, norm


class Adam:
    """Adam (Kingma & Ba) over a dict of numpy parameters, updated in place."""

    def __init__(self, params: dict[str, np.ndarray], lr: float = 1e-2, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1.0 - b1**self.t, 1.0 - b2**self.t
        for k, p in self.params.items():
            g = grads[k]
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            p -= self.lr * (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + self.eps)


def softmax_xent(logits: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy (nats) of integer targets under softmax(logits), and its gradient."""
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    flat_p = p.reshape(-1, p.shape[-1])
    flat_t = targets.reshape(-1)
    n = flat_t.size
    loss = -float(np.mean(np.log(flat_p[np.arange(n), flat_t] + 1e-300)))
    grad = flat_p.copy()
    grad[np.arange(n), flat_t] -= 1.0
    return loss, (grad / n).reshape(p.shape).astype(logits.dtype)


#
