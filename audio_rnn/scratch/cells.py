"""RNN, LSTM and GRU in plain numpy with hand-written backpropagation through time (BPTT).

The equations, gate order and parameter names/shapes are torch's (`weight_ih_l0`, `weight_hh_l0`,
`bias_ih_l0`, `bias_hh_l0`; LSTM gates i,f,g,o; GRU gates r,z,n), so weights copy both ways with
`from_torch` / `to_torch`, and `trace` replays a trained torch module to expose its gates.
Only numpy is imported here; torch is imported lazily inside the torch-facing functions.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, TypeVar

import numpy as np

CELLS = ("rnn", "lstm", "gru")
GATE_COUNT = {"rnn": 1, "lstm": 4, "gru": 3}
GATE_NAMES = {"rnn": (), "lstm": ("input", "forget", "cell", "output"), "gru": ("reset", "update", "new")}
PARAM_KINDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

# Thresholds of the acceptance checks (float64).
GRAD_REL_TOL = 1e-6
TORCH_ABS_TOL = 1e-8


F = TypeVar("F", bound=Callable[..., Any])


def one_blas_thread() -> contextlib.AbstractContextManager:
    """Limit BLAS to one thread while inside: these matrices are tiny, and threads only contend."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it numpy keeps its own thread setting
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def single_blas_thread(fn: F) -> F:
    """Decorator form of one_blas_thread for the sequential (step-by-step) experiments."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function written through tanh: exact, and never overflows for large |a|."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


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
    h = h0
    if cell == "rnn":
        act = np.tanh if nonlinearity == "tanh" else (lambda a: np.maximum(a, 0))
        for t in range(T):
            a = gi[t] + h @ w_hh.T
            if b_hh is not None:
                a = a + b_hh
            h = act(a)
            hs[t] = h
            acts[t] = h
    elif cell == "lstm":
        cs = np.empty((T, B, H), dtype=x.dtype)
        tcs = np.empty((T, B, H), dtype=x.dtype)
        c = c0
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
        cache.update(c=cs, tanh_c=tcs)
    elif cell == "gru":
        ghn = np.empty((T, B, H), dtype=x.dtype)
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
        cache["ghn"] = ghn
    else:
        raise ValueError(f"unknown cell {cell!r}; expected one of {CELLS}")
    return cache


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
    cell, x, hs, acts = cache["cell"], cache["x"], cache["h"], cache["acts"]
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
        relu = cache["nonlinearity"] == "relu"
        for t in range(T - 1, -1, -1):
            dh = dout[t] + dh_next
            dh_all[t] = dh
            h = hs[t]
            da = dh * (h > 0) if relu else dh * (1.0 - h * h)
            da_i[t] = da
            dh_next = da @ w_hh
    elif cell == "lstm":
        cs, tcs = cache["c"], cache["tanh_c"]
        c_prev_all = np.concatenate([cache["c0"][None], cs[:-1]], axis=0)
        dc_next = np.zeros((B, H), dtype) if dc_T is None else dc_T.astype(dtype, copy=True)
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
    elif cell == "gru":
        ghn = cache["ghn"]
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


# ----------------------------------------------------------------------------------------------
# torch interop (torch imported lazily).


def from_torch(module, dtype: Any = np.float64) -> Recurrent:
    """Copy a torch.nn.RNN/LSTM/GRU (unidirectional, no projection) into a numpy Recurrent."""
    mode = getattr(module, "mode", None)
    cell = {"RNN_TANH": "rnn", "RNN_RELU": "rnn", "LSTM": "lstm", "GRU": "gru"}.get(mode)
    if cell is None:
        raise ValueError(f"expected torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    if module.bidirectional:
        raise ValueError("bidirectional recurrent layers are not supported by the scratch module")
    if getattr(module, "proj_size", 0):
        raise ValueError("LSTM with proj_size is not supported by the scratch module")
    params = {
        name: getattr(module, name).detach().cpu().to(dtype=_torch_dtype(dtype)).numpy().copy()
        for name in param_names(module.num_layers, module.bias)
    }
    return Recurrent(
        cell,
        module.input_size,
        module.hidden_size,
        module.num_layers,
        params,
        "relu" if mode == "RNN_RELU" else "tanh",
    )


def to_torch(model: Recurrent, batch_first: bool = False):
    """A new torch.nn.RNN/LSTM/GRU holding a copy of the numpy weights (same dtype)."""
    import torch

    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[model.cell]
    kwargs = {"nonlinearity": model.nonlinearity} if model.cell == "rnn" else {}
    module = cls(
        model.input_size,
        model.hidden_size,
        num_layers=model.num_layers,
        bias=model.has_bias,
        batch_first=batch_first,
        **kwargs,
    ).to(_torch_dtype(model.dtype))
    with torch.no_grad():
        for name, value in model.params.items():
            getattr(module, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return module


def _torch_dtype(dtype: Any):
    import torch

    return torch.float64 if np.dtype(dtype) == np.float64 else torch.float32


@single_blas_thread
def trace(module, x, index: int = 0) -> dict[str, Any]:
    """Replay a (trained) torch recurrent module on x with the numpy code and return its insides.

    x: (T, input) for one sequence, or a batch (T, B, input) / (B, T, input) if module.batch_first;
    `index` picks the batch item. Returns {"cell", "hidden_size", "gate_names", "output" (T,H),
    "layers": [{"hidden" (T,H), "cell" (T,H) LSTM only, "gates" {name: (T,H)}}],
    "torch_max_abs_diff": max |numpy output - torch output|} (a live proof the replay is exact).
    """
    import torch

    xt = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x.detach().cpu())
    if xt.ndim == 2:
        xt = xt[:, None, :]
    elif xt.ndim == 3 and module.batch_first:
        xt = xt.transpose(0, 1)
    elif xt.ndim != 3:
        raise ValueError(f"expected x of shape (T, input) or a batch, got {tuple(xt.shape)}")
    weight = next(module.parameters())
    xt = xt[:, index : index + 1].to(weight.dtype)
    model = from_torch(module, np.float64)
    out, _, caches = model.forward(xt.double().numpy())
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            ref = module((xt.transpose(0, 1) if module.batch_first else xt).to(weight.device))[0].cpu()
    finally:
        module.train(was_training)
    ref = (ref.transpose(0, 1) if module.batch_first else ref)[:, 0].double().numpy()
    H = model.hidden_size
    layers = []
    for cache in caches:
        entry: dict[str, Any] = {"hidden": cache["h"][:, 0].copy(), "gates": {}}
        if model.cell == "lstm":
            entry["cell"] = cache["c"][:, 0].copy()
        for k, name in enumerate(GATE_NAMES[model.cell]):
            entry["gates"][name] = cache["acts"][:, 0, k * H : (k + 1) * H].copy()
        layers.append(entry)
    return {
        "cell": model.cell,
        "hidden_size": H,
        "gate_names": list(GATE_NAMES[model.cell]),
        "output": out[:, 0].copy(),
        "layers": layers,
        "torch_max_abs_diff": float(np.max(np.abs(out[:, 0] - ref))) if len(ref) else 0.0,
    }


# ----------------------------------------------------------------------------------------------
# Correctness checks: finite differences and torch autograd.


def _check_problem(cell: str, num_layers: int, seed: int, T: int = 6, B: int = 3, I: int = 4, H: int = 5):
    """A small random model, input, initial state and a random linear loss on outputs and final state."""
    rng = np.random.default_rng(seed)
    model = Recurrent.init(cell, I, H, num_layers, seed=seed)
    x = rng.standard_normal((T, B, I))
    state = model.zero_state(B)
    if cell == "lstm":
        state = tuple(rng.standard_normal(s.shape) * 0.5 for s in state)
    else:
        state = rng.standard_normal(state.shape) * 0.5
    w_out = rng.standard_normal((T, B, H))
    w_state = tuple(rng.standard_normal((num_layers, B, H)) for _ in range(2 if cell == "lstm" else 1))
    return model, x, state, w_out, w_state


def _linear_loss(out, final, w_out, w_state) -> float:
    finals = final if isinstance(final, tuple) else (final,)
    return float(np.sum(out * w_out) + sum(np.sum(f * w) for f, w in zip(finals, w_state)))


@single_blas_thread
def finite_difference_check(cell: str, *, num_layers: int = 2, seed: int = 0, eps: float = 1e-6) -> float:
    """Largest relative error ||analytic - numeric|| / (||analytic|| + ||numeric||) over every gradient.

    Central differences in float64 on every entry of every parameter, the input and the initial state.
    """
    model, x, state, w_out, w_state = _check_problem(cell, num_layers, seed)
    out, final, caches = model.forward(x, state)
    dstate = w_state if cell == "lstm" else w_state[0]
    analytic = model.backward(caches, w_out, dstate).as_dict()

    def loss() -> float:
        o, f, _ = model.forward(x, state)
        return _linear_loss(o, f, w_out, w_state)

    targets = dict(model.params, x=x)
    if cell == "lstm":
        targets["h0"], targets["c0"] = state
    else:
        targets["h0"] = state
    worst = 0.0
    for name, arr in targets.items():
        numeric = np.zeros_like(arr)
        flat, nflat = arr.reshape(-1), numeric.reshape(-1)
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            up = loss()
            flat[j] = old - eps
            down = loss()
            flat[j] = old
            nflat[j] = (up - down) / (2 * eps)
        a = analytic[name]
        denom = np.linalg.norm(a) + np.linalg.norm(numeric)
        worst = max(worst, float(np.linalg.norm(a - numeric) / denom) if denom > 0 else 0.0)
    return worst


@single_blas_thread
def torch_check(cell: str, *, num_layers: int = 2, seed: int = 0, dtype: Any = np.float64) -> float:
    """Largest |numpy - torch| over outputs, final state and every gradient, with copied weights."""
    import torch

    model, x, state, w_out, w_state = _check_problem(cell, num_layers, seed)
    model = model.astype(dtype)
    x = x.astype(dtype)
    state = tuple(s.astype(dtype) for s in state) if cell == "lstm" else state.astype(dtype)
    out, final, caches = model.forward(x, state)
    dstate = tuple(w.astype(dtype) for w in w_state) if cell == "lstm" else w_state[0].astype(dtype)
    grads = model.backward(caches, w_out.astype(dtype), dstate).as_dict()

    module = to_torch(model)
    xt = torch.tensor(x, requires_grad=True)
    states = [torch.tensor(s, requires_grad=True) for s in (state if cell == "lstm" else (state,))]
    out_t, final_t = module(xt, tuple(states) if cell == "lstm" else states[0])
    finals_t = final_t if cell == "lstm" else (final_t,)
    loss = (out_t * torch.from_numpy(w_out.astype(dtype))).sum()
    for f, w in zip(finals_t, w_state):
        loss = loss + (f * torch.from_numpy(w.astype(dtype))).sum()
    loss.backward()
    ref = {name: getattr(module, name).grad.numpy() for name in model.params}
    ref["x"] = xt.grad.numpy()
    ref["h0"] = states[0].grad.numpy()
    if cell == "lstm":
        ref["c0"] = states[1].grad.numpy()
    diffs = [np.max(np.abs(out - out_t.detach().numpy()))]
    finals = final if cell == "lstm" else (final,)
    diffs += [np.max(np.abs(f - ft.detach().numpy())) for f, ft in zip(finals, finals_t)]
    diffs += [np.max(np.abs(grads[k] - ref[k])) for k in ref]
    return float(max(diffs))


def gradcheck_all(num_layers: int = 2, seed: int = 0) -> list[dict[str, Any]]:
    """The `gradcheck` command's rows: per cell, finite-difference relative error and torch difference."""
    return [
        {
            "cell": cell,
            "grad_rel_err": finite_difference_check(cell, num_layers=num_layers, seed=seed),
            "torch_max_abs_diff": torch_check(cell, num_layers=num_layers, seed=seed),
        }
        for cell in CELLS
    ]


def row_ok(row: dict[str, Any]) -> bool:
    """Does a gradcheck row pass the issue's thresholds (rel. error < 1e-6, torch diff < 1e-8)?"""
    return bool(row["grad_rel_err"] < GRAD_REL_TOL and row["torch_max_abs_diff"] < TORCH_ABS_TOL)


# ----------------------------------------------------------------------------------------------
# min-char-rnn: a numpy model learns a short text with numpy Adam.

DEMO_TEXT = (
    "a recurrent network reads one symbol at a time and carries a hidden state forward. "
    "the gradient flows backward through time, and without gates it fades away step by step. "
)


@dataclass
class CharModel:
    """Recurrent cell + linear read-out over a character vocabulary (one-hot inputs)."""

    rnn: Recurrent
    w_y: np.ndarray  # (V, H)
    b_y: np.ndarray  # (V,)
    vocab: str

    def params(self) -> dict[str, np.ndarray]:
        return dict(self.rnn.params, w_y=self.w_y, b_y=self.b_y)

    def one_hot(self, ids: np.ndarray) -> np.ndarray:
        return np.eye(len(self.vocab), dtype=self.rnn.dtype)[ids]

    def loss_and_grads(self, ids: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """ids (T+1, B): predict ids[1:] from ids[:-1]; mean cross-entropy (nats/char) and all gradients."""
        out, _, caches = self.rnn.forward(self.one_hot(ids[:-1]))
        logits = out @ self.w_y.T + self.b_y
        loss, dlogits = softmax_xent(logits, ids[1:])
        grads = self.rnn.backward(caches, dlogits @ self.w_y).params
        grads["w_y"] = np.tensordot(dlogits, out, axes=([0, 1], [0, 1]))
        grads["b_y"] = dlogits.sum(axis=(0, 1))
        return loss, grads

    def sample(self, primer: str, length: int, rng: np.random.Generator, temperature: float = 0.5) -> str:
        """Generate `length` characters after `primer` (characters outside the vocabulary are skipped)."""
        ids = [self.vocab.index(ch) for ch in primer if ch in self.vocab] or [0]
        out, state, _ = self.rnn.forward(self.one_hot(np.array(ids))[:, None])
        text = []
        for _ in range(length):
            logits = (out[-1, 0] @ self.w_y.T + self.b_y) / max(temperature, 1e-6)
            p = np.exp(logits - logits.max())
            nxt = int(rng.choice(len(p), p=p / p.sum()))
            text.append(self.vocab[nxt])
            out, state, _ = self.rnn.forward(self.one_hot(np.array([nxt]))[:, None], state)
        return "".join(text)


@single_blas_thread
def char_demo(
    cell: str,
    text: str = DEMO_TEXT,
    *,
    hidden_size: int = 48,
    seq_len: int = 24,
    batch: int = 16,
    steps: int = 250,
    lr: float = 1e-2,
    clip: float = 5.0,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Train a numpy char model on `text` with numpy Adam; returns losses per step and a sample.

    Result: {"cell", "losses" (steps,) nats/char, "uniform_loss" ln(V), "sample", "model"}.
    """
    vocab = "".join(sorted(set(text)))
    data = np.array([vocab.index(ch) for ch in text])
    if len(data) < seq_len + 2:
        raise ValueError("text is too short for the sequence length")
    rng = np.random.default_rng(seed)
    V = len(vocab)
    k = 1.0 / math.sqrt(hidden_size)
    model = CharModel(
        Recurrent.init(cell, V, hidden_size, seed=seed),
        rng.uniform(-k, k, (V, hidden_size)),
        np.zeros(V),
        vocab,
    )
    params = model.params()
    opt = Adam(params, lr=lr)
    losses = np.empty(steps)
    iterator = range(steps)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"char demo ({cell})", leave=False)
    for step in iterator:
        starts = rng.integers(0, len(data) - seq_len - 1, batch)
        ids = np.stack([data[s : s + seq_len + 1] for s in starts], axis=1)
        loss, grads = model.loss_and_grads(ids)
        grads, _ = clip_grad_norm(grads, clip)
        opt.step(grads)
        losses[step] = loss
    return {
        "cell": cell,
        "losses": losses,
        "uniform_loss": math.log(V),
        "sample": model.sample(text[:10], 80, np.random.default_rng(seed)),
        "model": model,
    }


# ----------------------------------------------------------------------------------------------
# CLI: python -m audio_rnn gradcheck [--json]


def configure_gradcheck(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON line per cell")
    parser.add_argument("--layers", type=int, default=2, help="layers in the checked models (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the check problem")


def run_gradcheck(args: argparse.Namespace) -> int:
    """Print per-cell finite-difference and torch agreement; exit 1 if any check fails."""
    import torch

    torch.set_num_threads(1)
    if args.layers < 1:
        from audio_rnn.errors import AudioRnnError

        raise AudioRnnError("--layers must be at least 1")
    rows = gradcheck_all(num_layers=args.layers, seed=args.seed)
    for row in rows:
        if args.json:
            print(json.dumps(row))
        else:
            status = "ok" if row_ok(row) else "FAIL"
            print(
                f"{row['cell']:>4}: grad_rel_err={row['grad_rel_err']:.2e} (< {GRAD_REL_TOL:g})  "
                f"torch_max_abs_diff={row['torch_max_abs_diff']:.2e} (< {TORCH_ABS_TOL:g})  {status}"
            )
    return 0 if all(row_ok(r) for r in rows) else 1
