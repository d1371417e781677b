"""Streaming keyword spotting over long recordings: per-frame posteriors decoded in blocks, then detections.

Inference here is pure numpy (no torch import): importing torch alone costs
~520 MB of resident memory with this build, so a numpy port of the keyword
network (LayerNorm -> RNN/LSTM/GRU stack -> running pooling -> head, the same
arithmetic as `models.KeywordRNN.frame_logits`) and of the MFCC front-end
(`features.MFCC`) keeps a 2-hour file well under 500 MB and starts fast.

Two ways to run the unidirectional network over a stream (`StreamConfig.mode`):

* ``state``: the network listens frame by frame with carried recurrent state and
  causal running normalisation (past `norm_s` seconds). This is how the shipped
  spotter (`pretrained/spotter`, trained by `train_spot` on long synthetic streams
  with a target for every 20 ms step) runs. For speed, a file is cut into
  stretches of `segment_s` that run side by side as one batch, each starting from
  zero state `warm_s` earlier (`segment_s=0`: one exact pass, as for live audio).
* ``window``: for clip models (`train_kws`, trained on 1 s clips): the network is
  restarted every `hop_s` on the last `context_s` seconds (a sliding-window
  classifier with a stride); each restart reports the running posteriors of its
  last `hop_s` frames. Every window is featurised exactly like a training clip.

Measured on validation streams (`benchmarks/stream_modes.py`): clip models lose
their way with carried state (34-39% of digits found; their state drifts beyond
the 1 s they were trained on), so they run in windows (1 s every 0.25 s: 84.8%);
the stream-trained spotter in state mode finds 92.9% at 0.032 false alarms per
word (92.3% in one exact pass) and passes each frame through the network once
instead of four times.

Detection follows TensorFlow speech_commands' RecognizeCommands: average the
posteriors over `smooth_s`, take the top label, keep runs above `threshold`
lasting `min_s`, merge/suppress runs within `suppress_s`.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import asdict, dataclass, replace
from typing import Any, Iterable, Iterator

import numpy as np

from audio_rnn.errors import AudioError, CheckpointError, EmptyAudioError

SILENCE = "_silence_"
UNKNOWN = "_unknown_"
LN10 = math.log(10.0)


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class StreamConfig:
    """How posteriors are computed over a stream and turned into detections (defaults tuned on val streams)."""

    mode: str = "window"  # "window" (restart every hop_s on the last context_s) or "state" (carried state)
    context_s: float = 1.0  # window mode: seconds of audio each restart sees (the training window)
    hop_s: float = 0.25  # window mode: restart stride = output lag bound (0.1 s: same accuracy, 2.5x slower)
    norm_s: float = 3.0  # state mode: running normalisation over this many past seconds
    smooth_s: float = 0.5  # posterior averaging window (RecognizeCommands: 500 ms)
    threshold: float = 0.5  # averaged keyword probability needed to fire (tuned: RecognizeCommands uses ~0.7)
    min_s: float = 0.2  # the top label must stay above threshold this long
    suppress_s: float = 0.5  # no second detection within this gap after one
    block_s: float = 120.0  # audio decoded per block (memory ~ block_s, not file length; ~30 stretches a batch)
    segment_s: float = 4.0  # state mode: each block is cut into stretches of this length run side by side ...
    warm_s: float = 1.0  # ... each first hearing this much audio before it (0 segment_s: one exact pass)

    def __post_init__(self) -> None:
        if self.mode not in ("window", "state"):
            raise ValueError(f"mode must be 'window' or 'state', got {self.mode!r}")
        if not (0 < self.hop_s <= self.context_s) and self.mode == "window":
            raise ValueError(f"need 0 < hop_s <= context_s, got {self.hop_s}, {self.context_s}")
        for name in ("norm_s", "smooth_s", "block_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.segment_s < 0 or self.warm_s < 0:
            raise ValueError("segment_s and warm_s must not be negative")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Detection:
    """A keyword found in a stream: label, estimated word span in seconds, averaged probability."""

    label: str
    start: float
    end: float
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start": round(self.start, 3), "end": round(self.end, 3),
                "score": round(self.score, 4)}


# ----------------------------------------------------------------------------- numpy MFCC front-end


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale (linear below 1 kHz, logarithmic above), as torchaudio's mel_scale='slaney'."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, lin)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """(n_fft//2+1, n_mels) triangular Slaney-normalised filters, as torchaudio.functional.melscale_fbanks."""
    freqs = np.linspace(0, sample_rate // 2, n_fft // 2 + 1)
    f_pts = _mel_to_hz(np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2))
    slopes = f_pts[None, :] - freqs[:, None]
    diff = np.diff(f_pts)
    down = -slopes[:, :-2] / diff[:-1]
    up = slopes[:, 2:] / diff[1:]
    fb = np.maximum(0.0, np.minimum(down, up))
    return (fb * (2.0 / (f_pts[2:] - f_pts[:-2]))[None, :]).astype(np.float32)


def dct_matrix(n_mfcc: int, n_mels: int) -> np.ndarray:
    """(n_mels, n_mfcc) orthonormal DCT-II, as torchaudio.functional.create_dct(norm='ortho')."""
    n = np.arange(n_mels)[None, :]
    k = np.arange(n_mfcc)[:, None]
    d = np.cos(np.pi / n_mels * (n + 0.5) * k) * np.sqrt(2.0 / n_mels)
    d[0] /= np.sqrt(2.0)
    return d.T.astype(np.float32)


class FrontEnd:
    """Numpy twin of `features.MFCC` that splits into a block-wise part and a per-window part.

    `log_mel` is frame-local (streamable exactly); the log floor, DCT, deltas
    and normalisation are applied per window by `finish` (exactly as for a
    training clip) or causally by `RunningNorm`.
    """

    def __init__(self, cfg: dict[str, Any]):
        self.sr = int(cfg.get("sample_rate", 16000))
        self.n_mfcc = int(cfg.get("n_mfcc", 20))
        self.n_mels = int(cfg.get("n_mels", 40))
        self.win = int(round(float(cfg.get("win_ms", 25.0)) * self.sr / 1000))
        self.hop = int(round(float(cfg.get("hop_ms", 10.0)) * self.sr / 1000))
        self.n_fft = 1 << (self.win - 1).bit_length()
        self.deltas = bool(cfg.get("deltas", False))
        self.normalize = bool(cfg.get("normalize", True))
        self.floor = float(cfg.get("floor_db", 0.0) or 0.0) * LN10 / 10  # natural-log units; 0: absolute floor
        self.window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.win) / self.win)).astype(np.float32)
        self.fb = mel_filterbank(self.sr, self.n_fft, self.n_mels, float(cfg.get("f_min", 20.0)),
                                 float(cfg.get("f_max", 4000.0)))
        self.dct = dct_matrix(self.n_mfcc, self.n_mels)

    @property
    def dim(self) -> int:
        return self.n_mfcc * (3 if self.deltas else 1)

    def n_frames(self, n_samples: int) -> int:
        return 0 if n_samples < self.win else 1 + (n_samples - self.win) // self.hop

    def log_mel(self, x: np.ndarray) -> np.ndarray:
        """(N,) samples -> (T, n_mels) natural-log mel power of every complete frame (floor applied later)."""
        n = self.n_frames(len(x))
        if n == 0:
            return np.zeros((0, self.n_mels), np.float32)
        view = np.lib.stride_tricks.sliding_window_view(x, self.win)[:: self.hop][:n]
        out = np.empty((n, self.n_mels), np.float32)
        for i in range(0, n, 2048):  # bounded scratch memory: the FFT works in float64 (~8 MB per 2048 frames)
            power = np.square(np.abs(np.fft.rfft(view[i:i + 2048] * self.window, self.n_fft))).astype(np.float32)
            out[i:i + 2048] = np.log(np.maximum(power @ self.fb, 1e-30, dtype=np.float32))
        return out

    def finish(self, lm: np.ndarray) -> np.ndarray:
        """(B, T, n_mels) log-mel windows -> (B, T, dim) features, each window treated as one utterance."""
        if self.floor > 0:
            lm = np.maximum(lm, lm.max(axis=(1, 2), keepdims=True) - self.floor)
        else:  # checkpoints without floor_db: torchaudio's log(mel + 1e-6)
            lm = np.log(np.exp(lm) + 1e-6)
        x = lm @ self.dct
        if self.deltas:
            d1 = deltas(x)
            x = np.concatenate([x, d1, deltas(d1)], axis=2)
        if self.normalize:
            mean = x.mean(axis=1, keepdims=True)
            std = x.std(axis=1, keepdims=True)
            x = (x - mean) / (std + 1e-5)
        return x.astype(np.float32)


def stack_frames(x: np.ndarray, stack: int) -> np.ndarray:
    """(T, D) frames -> (T // stack, D * stack): consecutive frames side by side (a trailing part is dropped)."""
    if stack <= 1:
        return x
    n = len(x) // stack
    return np.ascontiguousarray(x[: n * stack].reshape(n, x.shape[1] * stack))


def deltas(x: np.ndarray) -> np.ndarray:
    """Time derivative over 5 frames with replicated edges, as torchaudio.functional.compute_deltas (axis 1)."""
    p = np.concatenate([x[:, :1], x[:, :1], x, x[:, -1:], x[:, -1:]], axis=1)
    T = x.shape[1]
    return (p[:, 3:3 + T] - p[:, 1:1 + T] + 2 * (p[:, 4:4 + T] - p[:, 0:T])) / 10.0


def causal_deltas(x: np.ndarray, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deltas of (T, D) frames using only the past: torchaudio's 5-frame formula with the frames after t
    replaced by frame t (as at the end of a clip); `prev` = the 2 frames before (empty at the start:
    the first frame is replicated). Returns (deltas, the new last 2 frames)."""
    if not len(x):
        return x, prev
    if len(prev) < 2:  # at the start the earliest frame stands in for the missing ones
        first = prev[:1] if len(prev) else x[:1]
        prev = np.concatenate([np.repeat(first, 2 - len(prev), axis=0), prev])
    p = np.concatenate([prev, x])
    T = len(x)
    d = (3 * p[2:] - p[1:1 + T] - 2 * p[:T]) / 10.0  # (x_t - x_{t-1} + 2 (x_t - x_{t-2})) / 10
    return d.astype(np.float32), p[-2:]


class RunningNorm:
    """Causal streaming normalisation for state mode: log floor below the loudest bin and mean/variance
    over the past `n` frames (moving sums carried across blocks)."""

    def __init__(self, fe: FrontEnd, n: int):
        self.fe, self.n = fe, max(1, n)
        self.hist_lm = np.zeros((0, fe.n_mels), np.float32)  # recent log-mel frames (for the running max)
        self.hist_x = np.zeros((0, fe.dim), np.float64)  # recent feature frames (for the running stats)
        self.prev_static = np.zeros((0, fe.n_mfcc), np.float32)  # the last 2 frames: context for causal deltas
        self.prev_d1 = np.zeros((0, fe.n_mfcc), np.float32)

    def __call__(self, lm: np.ndarray) -> np.ndarray:
        fe = self.fe
        if fe.floor > 0:
            full = np.concatenate([self.hist_lm, lm])
            from numpy.lib.stride_tricks import sliding_window_view

            frame_max = full.max(axis=1)
            pad = np.concatenate([np.full(self.n - 1, -np.inf, np.float32), frame_max])
            run_max = sliding_window_view(pad, self.n).max(axis=1)[-len(lm):] if len(lm) else frame_max[:0]
            lm = np.maximum(lm, run_max[:, None] - fe.floor)
            self.hist_lm = full[-(self.n - 1):] if self.n > 1 else full[:0]
        else:
            lm = np.log(np.exp(lm) + 1e-6)
        x = lm @ fe.dct
        if fe.deltas:  # causal deltas: every frame is treated as the newest (no look-ahead, block-invariant)
            d1, self.prev_static = causal_deltas(x, self.prev_static)
            d2, self.prev_d1 = causal_deltas(d1, self.prev_d1)
            x = np.concatenate([x, d1, d2], axis=1)
        if not fe.normalize:
            return x.astype(np.float32)
        full = np.concatenate([self.hist_x, x.astype(np.float64)])
        c1 = np.concatenate([np.zeros((1, fe.dim)), np.cumsum(full, axis=0)])
        c2 = np.concatenate([np.zeros((1, fe.dim)), np.cumsum(full**2, axis=0)])
        k = len(self.hist_x)
        idx = np.arange(k + 1, len(full) + 1)
        lo = np.maximum(0, idx - self.n)
        cnt = (idx - lo)[:, None]
        mean = (c1[idx] - c1[lo]) / cnt
        var = np.maximum((c2[idx] - c2[lo]) / cnt - mean**2, 0.0)
        self.hist_x = full[-(self.n - 1):] if self.n > 1 else full[:0]
        return ((x - mean) / (np.sqrt(var) + 1e-5)).astype(np.float32)


# ----------------------------------------------------------------------------- numpy keyword network


def _sigmoid_(x: np.ndarray) -> None:
    """In-place logistic as (tanh(x/2) + 1) / 2: overflow-free and ~6x faster than scipy's expit on float32."""
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5


class NumpyKWS:
    """The keyword network of a `kws` checkpoint in numpy: running per-frame logits from a batch of windows.

    Mirrors `models.KeywordRNN.frame_logits` (LayerNorm, RNN/LSTM/GRU stack,
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
        g = {"rnn": 1, "lstm": 4, "gru": 3}[self.cell]

        def get(name: str, shape: tuple[int, ...]) -> np.ndarray:
            if name not in tensors:
                raise CheckpointError(f"keyword model weights lack {name!r}")
            t = np.asarray(tensors[name], dtype=np.float32)
            if t.shape != shape:
                raise CheckpointError(f"keyword model weight {name!r} has shape {t.shape}, config implies {shape}")
            return t

        n_in, H, C = int(dims["n_in"]), self.hidden, int(dims["n_classes"])
        self.ln_w, self.ln_b = get("norm.weight", (n_in,)), get("norm.bias", (n_in,))
        self.w_ih, self.w_hh, self.b_ih, self.b_hh = [], [], [], []
        for k in range(self.layers):
            self.w_ih.append(np.ascontiguousarray(get(f"rnn.weight_ih_l{k}", (g * H, n_in if k == 0 else H)).T))
            self.w_hh.append(np.ascontiguousarray(get(f"rnn.weight_hh_l{k}", (g * H, H)).T))
            self.b_ih.append(get(f"rnn.bias_ih_l{k}", (g * H,)))
            self.b_hh.append(get(f"rnn.bias_hh_l{k}", (g * H,)))
        if self.pooling == "attention":
            self.attn_w, self.attn_b = get("attn.weight", (1, H))[0], get("attn.bias", (1,))
        self.head_w = np.ascontiguousarray(get("head.weight", (C, H)).T)
        self.head_b = get("head.bias", (C,))
        self.n_in, self.n_classes = n_in, C

    def _layer(self, k: int, x: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """One recurrent layer over time-major (T, B, n) -> (T, B, H), starting from `state` (None: zeros).

        Input projections for all steps are one matrix product; the loop does the
        recurrent product and in-place gate arithmetic (allocation-free).
        """
        T, B, _ = x.shape
        H = self.hidden
        b_hh = self.b_hh[k]
        bias = self.b_ih[k].copy()
        if self.cell != "gru":
            bias += b_hh  # LSTM/RNN add both biases to every gate
        else:
            bias[:2 * H] += b_hh[:2 * H]  # GRU: the r/z recurrent biases fold in; n's stays inside r * (.)
        xi = (x.reshape(T * B, -1) @ self.w_ih[k]).reshape(T, B, -1)
        xi += bias
        w_hh = self.w_hh[k]
        out = np.empty((T, B, H), np.float32)
        gh = np.empty((B, w_hh.shape[1]), np.float32)
        if self.cell == "lstm":
            h, c = state if state is not None else (np.zeros((B, H), np.float32), np.zeros((B, H), np.float32))
            c = c.copy()
            tc = np.empty((B, H), np.float32)
            for t in range(T):
                np.matmul(h, w_hh, out=gh)
                gh += xi[t]
                for g in (gh[:, :2 * H], gh[:, 3 * H:]):  # input, forget; output gates
                    _sigmoid_(g)
                gg = gh[:, 2 * H:3 * H]
                np.tanh(gg, out=gg)
                c *= gh[:, H:2 * H]
                gg *= gh[:, :H]
                c += gg
                np.tanh(c, out=tc)
                h = out[t]
                np.multiply(gh[:, 3 * H:], tc, out=h)
            return out, (h.copy(), c)
        h = state if state is not None else np.zeros((B, H), np.float32)
        if self.cell == "rnn":
            for t in range(T):
                np.matmul(h, w_hh, out=gh)
                gh += xi[t]
                h = out[t]
                np.tanh(gh, out=h)
            return out, h.copy()
        b_hn = b_hh[2 * H:]
        for t in range(T):
            np.matmul(h, w_hh, out=gh)
            rz = gh[:, :2 * H]
            rz += xi[t, :, :2 * H]
            _sigmoid_(rz)  # r, z
            n = gh[:, 2 * H:]
            n += b_hn
            n *= rz[:, :H]
            n += xi[t, :, 2 * H:]
            np.tanh(n, out=n)
            nxt = out[t]
            np.subtract(h, n, out=nxt)
            nxt *= rz[:, H:]
            nxt += n  # h' = n + z * (h - n)
            h = nxt
        return out, h.copy()

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
        new: dict[str, Any] = {"rnn": []}
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
            num = state.get("num", np.zeros((B, H)))[:, None] * scale0[:, None, None] + np.cumsum(w[..., None] * x, axis=1)
            den = state.get("den", np.zeros(B))[:, None] * scale0[:, None] + np.cumsum(w, axis=1)
            pooled = (num / den[..., None])[:, keep_from:]
            new.update(max=m, num=num[:, -1], den=den[:, -1])
        logits = pooled.astype(np.float32) @ self.head_w + self.head_b
        return logits, new


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def default_spotter_path() -> "os.PathLike":
    """The shipped stream-trained spotter if present, else the shipped clip recognizer (window mode)."""
    from audio_rnn.training import checkpoint

    p = checkpoint.pretrained_path("spotter")
    return p if (p / checkpoint.CONFIG).is_file() else checkpoint.pretrained_path("kws")


def load_numpy_model(path: str | os.PathLike | None = None) -> tuple[NumpyKWS, dict[str, Any]]:
    """(numpy network, config) from a `kws` checkpoint folder/file; default: the shipped model. No torch."""
    from audio_rnn.training import checkpoint

    folder = checkpoint.resolve(path or default_spotter_path())
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


# ----------------------------------------------------------------------------- posteriors over a stream


def _limit_blas_threads(n: int | None):
    """Context limiting BLAS threads (oversubscribed BLAS threads are ~20x slower on a loaded machine)."""
    import contextlib

    if not n:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(n, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn/librosa
        return contextlib.nullcontext()


class Spotter:
    """A loaded keyword model that turns recordings of any length into posteriors and detections."""

    def __init__(self, model: str | os.PathLike | None = None, config: StreamConfig | None = None,
                 threads: int | None = 1, **overrides: Any):
        """`model`: a checkpoint (default: the shipped spotter); `config`: all settings (default: the
        checkpoint's tuned ones); `overrides`: StreamConfig fields to change from those defaults."""
        self.model, self.ckpt = load_numpy_model(model)
        self.labels: list[str] = [str(x) for x in self.ckpt["labels"]]
        self.front = FrontEnd(self.ckpt["features"])
        stream = self.ckpt.get("streaming") or {}
        self.trained_on_streams = bool(stream)  # a `train-spot` model: per-frame targets, carried state
        self.stack = int(stream.get("stack", 1))
        if self.front.dim * self.stack != self.model.n_in:
            raise CheckpointError(f"features give {self.front.dim * self.stack} values per step but the model "
                                  f"takes {self.model.n_in}")
        if config is None:
            config = default_config(self.ckpt)
        if overrides:
            config = replace(config, **overrides)
        if self.trained_on_streams and config.mode != "state":
            raise CheckpointError("this spotter was trained on streams: it runs in state mode only")
        if config.mode == "state" and self.model.pooling != "last":
            raise CheckpointError(f"state mode needs a model with last-state pooling; this one pools by "
                                  f"{self.model.pooling} over everything heard so far (use window mode)")
        if self.trained_on_streams:
            config = replace(config, norm_s=float(stream.get("norm_s", config.norm_s)))  # what it was trained on
        self.config = config
        self.threads = threads
        self.sample_rate = self.front.sr
        self.window_s = float(self.ckpt.get("window_seconds") or 1.0)

    # -- blocks of samples -> blocks of log-mel frames, exactly as for the whole signal
    def _log_mel_blocks(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        fe = self.front
        carry = np.zeros(0, np.float32)
        total = 0
        for b in blocks:
            x = np.concatenate([carry, np.asarray(b, dtype=np.float32).reshape(-1)])
            total += len(b)
            n = fe.n_frames(len(x))
            if n:
                yield fe.log_mel(x)
            carry = x[n * fe.hop:]
        if total == 0:
            raise EmptyAudioError("the recording holds no samples")
        if total < fe.win:  # shorter than one frame: zero-pad to one, as features.MFCC does
            yield fe.log_mel(np.pad(carry, (0, fe.win - len(carry))))

    def _window_probs(self, lm_blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Window mode: every `hop` frames, rerun the network on the last `context` frames.

        The first window [0, context) reports all its frames; window [e - context, e)
        then reports frames [e - hop, e); a last window ends at the stream's last frame.
        """
        fe, cfg = self.front, self.config
        ctx = max(1, fe.n_frames(int(round(cfg.context_s * fe.sr))))
        hop = max(1, min(ctx, int(round(cfg.hop_s * fe.sr / fe.hop))))
        batch = 200  # windows per network call: bounds memory (~40 MB of gate activations)
        buf = np.zeros((0, fe.n_mels), np.float32)
        base = 0  # stream index of buf[0]
        done = 0  # frames reported so far

        def run(s: int, e: int, keep: int) -> np.ndarray:
            logits, _ = self.model.frame_logits(fe.finish(buf[None, s - base:e - base]), keep_from=keep)
            return softmax(logits[0])

        for lm in lm_blocks:
            buf = np.concatenate([buf, lm])
            avail = base + len(buf)
            if done == 0 and avail >= ctx:
                yield run(0, ctx, 0)
                done = ctx
            ends = list(range(done + hop, avail + 1, hop)) if done else []
            for i in range(0, len(ends), batch):
                chunk = ends[i:i + batch]
                wins = np.stack([buf[e - ctx - base:e - base] for e in chunk])
                logits, _ = self.model.frame_logits(fe.finish(wins), keep_from=ctx - hop)
                yield softmax(logits).reshape(-1, logits.shape[-1])
            if ends:
                done = ends[-1]
            if done:
                keep_from = max(base, done + 1 - ctx)  # room for the tail window
                buf = buf[keep_from - base:]
                base = keep_from
        avail = base + len(buf)
        if done < avail:  # a stream shorter than one window, or the frames after the last stride
            s = max(0, avail - ctx)
            yield run(s, avail, done - s)

    def _state_steps(self, lm_blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Causal features per recurrent step: running normalisation, then `stack` frames side by side."""
        fe = self.front
        norm = RunningNorm(fe, int(round(self.config.norm_s * fe.sr / fe.hop)))
        left = np.zeros((0, fe.dim), np.float32)
        for lm in lm_blocks:
            if len(lm):
                x = np.concatenate([left, norm(lm)])
                k = len(x) // self.stack * self.stack
                left = x[k:]
                if k:
                    yield stack_frames(x[:k], self.stack)

    def _state_probs(self, lm_blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """State mode: the network runs over the stream with carried state.

        With `segment_s` = 0 it is one exact pass, step by step. Otherwise each block is
        cut into stretches of `segment_s` that run side by side as one batch, each starting
        from zero state `warm_s` earlier (its outputs there are dropped): one matrix product
        per step serves the whole batch, which is what makes hours of audio fast.
        """
        cfg = self.config
        step_s = self.stack * self.front.hop / self.front.sr
        if cfg.segment_s <= 0:
            state = None
            for x in self._state_steps(lm_blocks):
                logits, state = self.model.frame_logits(x[None], state)
                yield softmax(logits[0])
            return
        seg = max(1, int(round(cfg.segment_s / step_s)))
        warm = int(round(cfg.warm_s / step_s))
        # stretches start at multiples of `seg` steps from the stream's start, whatever the block size
        buf = np.zeros((0, self.model.n_in), np.float32)  # up to `warm` steps already reported, then pending ones
        h = 0  # how many rows of buf are warm-up context

        def run(starts: list[int], n: int) -> np.ndarray:
            groups: dict[int, list[int]] = {}
            for a in starts:
                groups.setdefault(min(warm, a), []).append(a)
            out = np.empty((len(starts), n, self.model.n_classes), np.float32)
            pos = {a: i for i, a in enumerate(starts)}
            for w, group in groups.items():
                logits, _ = self.model.frame_logits(np.stack([buf[a - w:a + n] for a in group]), keep_from=w)
                for a, lg in zip(group, softmax(logits)):
                    out[pos[a]] = lg
            return out.reshape(-1, self.model.n_classes)

        for x in self._state_steps(lm_blocks):
            buf = np.concatenate([buf, x])
            k = (len(buf) - h) // seg
            if k:
                yield run([h + i * seg for i in range(k)], seg)
                end = h + k * seg
                keep = min(warm, end)
                buf, h = buf[end - keep:], keep
        if len(buf) > h:
            yield run([h], len(buf) - h)

    def _blocks(self, source: Any, sr: int | None) -> Iterable[np.ndarray]:
        if isinstance(source, np.ndarray):
            from audio_rnn.audio.decode import resample

            x = np.asarray(source, dtype=np.float32).reshape(-1)
            if not np.all(np.isfinite(x)):
                from audio_rnn.errors import InvalidSamplesError

                raise InvalidSamplesError("the samples contain NaN or infinity")
            x = resample(x, int(sr or self.sample_rate), self.sample_rate)
            step = int(self.config.block_s * self.sample_rate)
            return (x[i:i + step] for i in range(0, max(1, len(x)), step))
        from audio_rnn.audio.decode import read_blocks

        return read_blocks(source, sr=self.sample_rate, block_seconds=self.config.block_s)

    def iter_posteriors(self, source: Any, sr: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (times (n,), probs (n, C)) block by block; times are the end of the audio each row has heard."""
        fe = self.front
        lm_blocks = self._log_mel_blocks(self._blocks(source, sr))
        gen = self._window_probs(lm_blocks) if self.config.mode == "window" else self._state_probs(lm_blocks)
        stack = self.stack if self.config.mode == "state" else 1
        n = 0
        with _limit_blas_threads(self.threads):
            for p in gen:
                idx = np.arange(n, n + len(p))
                n += len(p)
                yield ((idx * stack + stack - 1) * fe.hop + fe.win) / fe.sr, p.astype(np.float32)

    def posteriors(self, source: Any, sr: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(times (T,), probs (T, C), labels) for a path, bytes, file-like or waveform (at `sr`, default model rate).

        One row per recurrent step (10 ms; 20 ms for a stream-trained spotter that stacks 2 frames); row t is the model's belief having heard audio up to `times[t]` seconds.
        """
        parts = list(self.iter_posteriors(source, sr))
        if not parts:
            raise EmptyAudioError("the recording is too short to analyse")
        times = np.concatenate([t for t, _ in parts])
        probs = np.concatenate([p for _, p in parts])
        return times, probs, list(self.labels)

    def detect(self, source: Any, sr: int | None = None) -> list[Detection]:
        """Keyword detections in a recording (or in a `(times, probs)` pair already computed)."""
        if isinstance(source, tuple) and len(source) >= 2:
            return detect_posteriors(source[0], source[1], self.labels, self.config, lag=self.lag())
        step = self.front.hop / self.front.sr * (self.stack if self.config.mode == "state" else 1)
        tts = top_scores(self.iter_posteriors(source, sr), self.config.smooth_s, step)
        if not len(tts[0]):
            raise EmptyAudioError("the recording is too short to analyse")
        return decide(*tts, self.labels, self.config, lag=self.lag())

    def describe(self) -> str:
        """One line on what listens: the network and how it runs over the stream."""
        m, c = self.model, self.config
        net = f"{m.cell.upper()} {m.layers}x{m.hidden}"
        if c.mode == "window":
            return f"clip model ({net}) restarted on the last {c.context_s:g} s every {c.hop_s:g} s"
        step = self.stack * self.front.hop * 1000 // self.front.sr
        kind = "stream-trained spotter" if self.trained_on_streams else "clip model"
        return f"{kind} ({net}) with carried state, one step per {step} ms"

    def lag(self) -> tuple[float, float]:
        return detection_lag(self.config, self.trained_on_streams)


# ----------------------------------------------------------------------------- detection


def default_config(ckpt: dict[str, Any]) -> StreamConfig:
    """The settings a checkpoint was tuned with: state mode and its `streaming.detection` for a spotter
    trained on streams, else the window-mode defaults."""
    stream = ckpt.get("streaming") or {}
    if not stream:
        return StreamConfig()
    fields = set(StreamConfig.__dataclass_fields__)
    tuned = {k: v for k, v in (stream.get("detection") or {}).items() if k in fields}
    return replace(StreamConfig(mode="state", norm_s=float(stream.get("norm_s", 3.0))), **tuned)


def detection_lag(c: StreamConfig, trained: bool = False) -> tuple[float, float]:
    """(start, end) offsets from a detection's high-posterior run [a, b] to the word: start = b - s, end = a - e.

    Window mode: a window scores the word once the word is wholly inside it, so
    the run spans word end .. word start + context, shifted by half the smoothing;
    measured on validation streams the run starts 0.03 s and ends 0.08 s earlier
    than that (medians), which the offsets include.
    """
    if c.mode == "window":
        return (c.context_s + c.smooth_s / 2 - 0.08, c.smooth_s / 2 - 0.03)
    if trained:  # stream-trained: targets from 0.15 s before the word's end to 0.3 s after it; the run starts
        # about 0.25 s before the word ends (validation streams, medians); words last about 0.5 s
        return (0.3 + c.smooth_s / 2 + 0.5, c.smooth_s / 2 - 0.25)
    return (c.smooth_s + 0.6, c.smooth_s / 2)


def smooth(times: np.ndarray, probs: np.ndarray, seconds: float) -> np.ndarray:
    """Causal moving average of (T, C) posteriors over the past `seconds` (RecognizeCommands' averaging)."""
    if len(times) < 2 or seconds <= 0:
        return np.asarray(probs, dtype=np.float32)
    step = float(np.median(np.diff(times)))
    k = max(1, int(round(seconds / step)))
    c = np.concatenate([np.zeros((1, probs.shape[1])), np.cumsum(probs, axis=0, dtype=np.float64)])
    idx = np.arange(1, len(probs) + 1)
    lo = np.maximum(0, idx - k)
    return ((c[idx] - c[lo]) / (idx - lo)[:, None]).astype(np.float32)


def top_scores(blocks: Iterable[tuple[np.ndarray, np.ndarray]], smooth_s: float, step: float | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, top label, its averaged probability) per frame from (times, probs) blocks, in bounded memory:
    the causal `smooth_s` average carries its history across blocks, and only 2 numbers per frame are kept."""
    hist: np.ndarray | None = None
    k = 1
    out_t, out_top, out_s = [], [], []
    for times, probs in blocks:
        if not len(times):
            continue
        probs = np.asarray(probs, dtype=np.float64)
        if hist is None:
            if step is None:
                step = float(np.median(np.diff(times))) if len(times) > 1 else 0.01
            k = max(1, int(round(smooth_s / step))) if smooth_s > 0 else 1
            hist = np.zeros((0, probs.shape[1]))
        full = np.concatenate([hist, probs])
        c = np.concatenate([np.zeros((1, full.shape[1])), np.cumsum(full, axis=0)])
        idx = np.arange(len(hist) + 1, len(full) + 1)
        lo = np.maximum(0, idx - k) if len(hist) < k - 1 else idx - k
        sm = (c[idx] - c[lo]) / (idx - lo)[:, None]
        top = sm.argmax(axis=1)
        out_t.append(np.asarray(times, dtype=np.float64))
        out_top.append(top.astype(np.int16))
        out_s.append(sm[np.arange(len(sm)), top].astype(np.float32))
        hist = full[-(k - 1):] if k > 1 else full[:0]
    if not out_t:
        return np.zeros(0), np.zeros(0, np.int16), np.zeros(0, np.float32)
    return np.concatenate(out_t), np.concatenate(out_top), np.concatenate(out_s)


def decide(times: np.ndarray, top: np.ndarray, score: np.ndarray, labels: list[str],
           config: StreamConfig = StreamConfig(), lag: tuple[float, float] = (1.25, 0.25)) -> list[Detection]:
    """Detections from the smoothed top label per frame: keyword runs above threshold lasting `min_s`;
    same-label runs closer than `suppress_s` merge, of different-label ones the stronger survives."""
    if len(times) == 0:
        return []
    keyword = np.array([lab not in (SILENCE, UNKNOWN) for lab in labels])
    fire = keyword[top] & (score >= config.threshold)
    step = float(np.median(np.diff(times[:1000]))) if len(times) > 1 else 0.01
    key = np.where(fire, top, -1)
    edges = np.flatnonzero(np.diff(key)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(key)]]) - 1
    runs = [(int(key[i]), float(times[i]), float(times[j]), float(score[i:j + 1].max()))
            for i, j in zip(starts, ends) if key[i] >= 0 and times[j] - times[i] + step >= config.min_s - 1e-9]
    kept: list[list[Any]] = []  # [label index, first time, last time, peak score]
    for lab, a, b, s in runs:
        if kept and a - kept[-1][2] < config.suppress_s:
            prev = kept[-1]
            if prev[0] == lab:  # the same word again: one detection
                prev[2], prev[3] = b, max(prev[3], s)
            elif s > prev[3]:  # a stronger different label right after replaces it
                kept[-1] = [lab, a, b, s]
            continue  # a weaker one is suppressed
        kept.append([lab, a, b, s])
    out = []
    for lab, a, b, s in kept:
        start = max(b - lag[0], 0.0)
        end = max(a - lag[1], start + 0.05)
        out.append(Detection(labels[lab], round(start, 3), round(end, 3), round(s, 4)))
    return out


def detect_posteriors(times: np.ndarray, probs: np.ndarray, labels: list[str], config: StreamConfig = StreamConfig(),
           lag: tuple[float, float] = (1.25, 0.25)) -> list[Detection]:
    """Detections from (T, C) per-frame posteriors (RecognizeCommands-style): smooth, top label, `decide`."""
    return decide(*top_scores([(np.asarray(times), np.asarray(probs))], config.smooth_s), labels, config, lag)


# ----------------------------------------------------------------------------- module-level API for the app


def posteriors(source: Any, model: str | os.PathLike | None = None, config: StreamConfig | None = None,
               sr: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(times, probs (T, C), labels) for a path/bytes/waveform; see `Spotter.posteriors`."""
    return Spotter(model, config).posteriors(source, sr)


def detect(source: Any, model: str | os.PathLike | None = None, config: StreamConfig | None = None,
           sr: int | None = None) -> list[Detection]:
    """Detections in a path/bytes/waveform, or in a `(times, probs)` pair from `posteriors`; see `Spotter.detect`."""
    return Spotter(model, config).detect(source, sr)


# ----------------------------------------------------------------------------- CLI


def configure_spot(p) -> None:
    p.add_argument("file", metavar="FILE", help="recording of any length (wav, flac, ogg, mp3, m4a, webm, ...)")
    p.add_argument("--model", help="keyword checkpoint folder or file (default: the shipped stream-trained "
                                   "spotter; with --mode window: the shipped clip recognizer)")
    p.add_argument("--json", action="store_true", help="one detection per line: label, start, end, score")
    p.add_argument("--mode", choices=("window", "state"), default=None,
                   help="window: restart a clip model on the last second every --hop; state: carried state "
                        "(default: state for a stream-trained spotter, window for a clip model)")
    p.add_argument("--hop", type=float, default=None, help="window mode stride in seconds (default 0.25)")
    p.add_argument("--threshold", type=float, default=None, help="default: the model's tuned value")
    p.add_argument("--smooth", type=float, default=None, help="averaging window, s (default: the model's)")
    p.add_argument("--suppress", type=float, default=None, help="s between detections (default: the model's)")
    p.add_argument("--min-duration", type=float, default=None, help="s above threshold (default: the model's)")
    p.add_argument("--segment", type=float, default=None,
                   help="state mode: seconds per stretch run side by side; 0 = one exact pass (default 4)")


def config_overrides(args) -> dict[str, Any]:
    """StreamConfig fields set on the command line (the rest come from the model's tuned defaults)."""
    names = {"mode": "mode", "hop": "hop_s", "threshold": "threshold", "smooth": "smooth_s", "suppress": "suppress_s",
             "min_duration": "min_s", "segment": "segment_s"}
    return {f: getattr(args, a) for a, f in names.items() if getattr(args, a, None) is not None}


def make_spotter(args) -> "Spotter":
    """A Spotter for `--model` with the command line's settings over the model's defaults (bad ones: one line)."""
    over = config_overrides(args)
    model, base = args.model, None
    if over.get("mode") == "window":  # windows: a clip model's defaults (and the shipped recognizer by default)
        base = StreamConfig()
        if model is None:
            from audio_rnn.training import checkpoint

            model = str(checkpoint.pretrained_path("kws"))
    try:
        return Spotter(model, base, **over)
    except ValueError as exc:
        raise AudioError(f"bad setting: {exc}") from None


def run_spot(args) -> int:
    from audio_rnn.audio.decode import probe

    probe(args.file)  # a missing or non-audio file fails fast, before the model loads
    spotter = make_spotter(args)
    try:
        dets = spotter.detect(args.file)
    except AudioError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:  # decoder failures on odd input: still one line
        raise AudioError(f"{args.file}: cannot decode ({type(exc).__name__}: {exc})") from None
    if args.json:
        for d in dets:
            print(json.dumps(d.to_dict()))
    else:
        if not dets:
            print("no keywords found")
        for d in dets:
            print(f"{d.start:9.2f} - {d.end:9.2f} s  {d.label:<8} {d.score:.3f}")
    sys.stdout.flush()
    return 0
