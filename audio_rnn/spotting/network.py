"""The keyword network of a `kws` checkpoint in numpy, and loading it without torch.

Importing torch alone costs ~520 MB of resident memory with this build, so
`NumpyKWS` ports `keywords.models.KeywordRNN.frame_logits` (LayerNorm ->
optional causal convolution + GELU -> RNN/LSTM/GRU stack -> running pooling -> head) to numpy; tests check it
against torch. `load_numpy_model` reads the checkpoint with safetensors'
numpy loader.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from audio_rnn.errors import CheckpointError
from audio_rnn.nn.recurrence import GATES, Cell


class NumpyKWS:
    """The keyword network of a `kws` checkpoint in numpy: running per-frame logits from a batch of windows.

    Mirrors `keywords.models.KeywordRNN.frame_logits` (LayerNorm, optional causal convolution, RNN/LSTM/GRU stack,
    running last/mean/attention pooling, linear head); tests check it against torch.
    """

    def __init__(self, tensors: dict[str, np.ndarray], dims: dict[str, Any]):
        self.cell = str(dims.get("cell", "gru"))
        self.hidden = int(dims["hidden"])
        self.layers = int(dims["layers"])
        self.pooling = str(dims.get("pooling", "last"))
        if dims.get("bidirectional"):
            raise CheckpointError("spotting needs a unidirectional model (a bidirectional one looks ahead)")
        if self.cell not in ("rnn", "lstm", "gru") or self.pooling not in ("last", "mean", "attention"):
            raise CheckpointError(f"unsupported keyword model: cell {self.cell!r}, pooling {self.pooling!r}")
        g = GATES[self.cell]

        def get(name: str, shape: tuple[int, ...]) -> np.ndarray:
            if name not in tensors:
                raise CheckpointError(f"keyword model weights lack {name!r}")
            t = np.asarray(tensors[name], dtype=np.float32)
            if t.shape != shape:
                raise CheckpointError(f"keyword model weight {name!r} has shape {t.shape}, config implies {shape}")
            return t

        n_in, H, C = int(dims["n_in"]), self.hidden, int(dims["n_classes"])
        self.ln_w, self.ln_b = get("norm.weight", (n_in,)), get("norm.bias", (n_in,))
        self.conv, self.kernel = int(dims.get("conv", 0) or 0), int(dims.get("conv_kernel", 5))
        if self.conv:
            w = get("conv.weight", (self.conv, n_in, self.kernel))
            self.conv_w = np.ascontiguousarray(w.transpose(2, 1, 0))  # (k, n_in, C): one product per tap
            self.conv_b = get("conv.bias", (self.conv,))
        rnn_in = self.conv or n_in
        self.cells = [Cell.from_torch(self.cell, get(f"rnn.weight_ih_l{k}", (g * H, rnn_in if k == 0 else H)),
                                      get(f"rnn.weight_hh_l{k}", (g * H, H)), get(f"rnn.bias_ih_l{k}", (g * H,)),
                                      get(f"rnn.bias_hh_l{k}", (g * H,))) for k in range(self.layers)]
        if self.pooling == "attention":
            self.attn_w, self.attn_b = get("attn.weight", (1, H))[0], get("attn.bias", (1,))
        self.head_w = np.ascontiguousarray(get("head.weight", (C, H)).T)
        self.head_b = get("head.bias", (C,))
        self.n_in, self.n_classes = n_in, C

    def _layer(self, k: int, x: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """One recurrent layer over time-major (T, B, n) -> (T, B, H), starting from `state` (None: zeros):
        the input projections of all steps in one product, then the shared recurrence step by step."""
        cell = self.cells[k]
        T, B, _ = x.shape
        if state is not None and cell.cell == "lstm":
            state = (state[0], state[1].copy())
        elif state is not None:
            state = (state, None)
        out, (h, c) = cell.run(cell.project(x.reshape(T * B, -1)).reshape(T, B, -1), state)
        return out, ((h, c) if cell.cell == "lstm" else h)

    def _front(self, x: np.ndarray, context: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """The causal convolution + exact (erf) GELU over normalised (B, T, n_in) frames, carrying the last
        kernel - 1 frames (zeros before the first); unchanged frames and None without a convolution."""
        if not self.conv:
            return x, None
        from scipy.special import erf

        B, T, _ = x.shape
        k = self.kernel
        if context is None:
            context = np.zeros((B, k - 1, x.shape[2]), np.float32)
        xp = np.concatenate([context.astype(np.float32), x], axis=1)
        y = np.broadcast_to(self.conv_b, (B, T, self.conv)).copy()
        for j in range(k):
            y += xp[:, j:j + T] @ self.conv_w[j]
        y = 0.5 * y * (1.0 + erf(y * np.float32(1 / np.sqrt(2))))
        return y.astype(np.float32), xp[:, xp.shape[1] - (k - 1):].copy()

    def frame_logits(self, feats: np.ndarray, state: dict[str, Any] | None = None,
                     keep_from: int = 0) -> tuple[np.ndarray, dict[str, Any]]:
        """Running logits (B, T - keep_from, C) for frames keep_from.. of (B, T, n_in) features, and the new state.

        Frame t's logits are what the model outputs if the clip ended at t (pooling
        from the start of the window, or of the stream when `state` is carried).
        """
        state = state or {}
        x = feats.astype(np.float32)
        mu = x.mean(axis=2, keepdims=True)
        var = x.var(axis=2, keepdims=True)
        x = (x - mu) / np.sqrt(var + 1e-5) * self.ln_w + self.ln_b
        x, context = self._front(x.astype(np.float32), state.get("conv"))
        new: dict[str, Any] = {"rnn": [], "conv": context}
        x = np.ascontiguousarray(x.transpose(1, 0, 2))  # time-major for the recurrent loop
        for k in range(self.layers):
            x, s = self._layer(k, x, state["rnn"][k] if "rnn" in state else None)
            new["rnn"].append(s)
        x = x.transpose(1, 0, 2)
        B, T, H = x.shape
        if self.pooling == "last":
            pooled = x[:, keep_from:]
        elif self.pooling == "mean":
            s0 = state.get("sum", np.zeros((B, H)))
            n0 = state.get("count", 0.0)
            csum = s0[:, None] + np.cumsum(x, axis=1, dtype=np.float64)
            cnt = n0 + np.arange(1, T + 1)[None, :, None]
            pooled = (csum / cnt)[:, keep_from:]
            new.update(sum=csum[:, -1], count=n0 + T)
        else:
            s = x @ self.attn_w + self.attn_b[0]  # (B, T)
            m0 = state.get("max", np.full(B, -np.inf))
            m = np.maximum(m0, s.max(axis=1))
            w = np.exp(s - m[:, None])
            scale0 = np.where(np.isfinite(m0), np.exp(m0 - m), 0.0)
            num0 = state.get("num", np.zeros((B, H))) * scale0[:, None]
            den0 = state.get("den", np.zeros(B)) * scale0
            # running sums only from keep_from on (a window classified once needs its last frame alone)
            head_num = num0 + np.einsum("bt,bth->bh", w[:, :keep_from], x[:, :keep_from])
            head_den = den0 + w[:, :keep_from].sum(axis=1)
            num = head_num[:, None] + np.cumsum(w[:, keep_from:, None] * x[:, keep_from:], axis=1)
            den = head_den[:, None] + np.cumsum(w[:, keep_from:], axis=1)
            pooled = num / den[..., None]
            new.update(max=m, num=num[:, -1], den=den[:, -1])
        logits = pooled.astype(np.float32) @ self.head_w + self.head_b
        return logits, new


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def spotter_path(model: str | os.PathLike | None = None, mode: str | None = None) -> "os.PathLike":
    """What `spot --model` names in `mode` (`training.registry.spotter`): a shipped vocabulary's clip model or
    stream-trained spotter, or a path."""
    from audio_rnn.training import registry

    return registry.spotter(model, mode)


def load_numpy_model(path: str | os.PathLike | None = None) -> tuple[NumpyKWS, dict[str, Any]]:
    """(numpy network, config) from a `kws` checkpoint folder/file or a shipped name; default: the digit spotter.
    No torch."""
    from audio_rnn.training import checkpoint

    folder = checkpoint.resolve(spotter_path(path))
    cfg = checkpoint.load_config(folder, kind="kws")
    weights = folder if folder.suffix == ".safetensors" else folder / checkpoint.WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"model weights missing: {weights}")
    try:
        from safetensors.numpy import load as st_load

        tensors = st_load(weights.read_bytes())
    except Exception as exc:  # safetensors raises its own error type for damaged files
        raise CheckpointError(f"model weights are not a valid safetensors file: {weights} ({exc})") from None
    try:
        dims = dict(cfg["model"])
        labels = [str(x) for x in cfg["labels"]]
        dict(cfg["features"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"keyword model config is incomplete or invalid ({exc})") from None
    if len(labels) != int(dims.get("n_classes", -1)):
        raise CheckpointError(f"model has {dims.get('n_classes')} outputs but its config lists {len(labels)} labels")
    return NumpyKWS(tensors, dims), cfg
