"""The spotter's MFCC front-end in numpy: a twin of `audio.features.MFCC`, streamable block by block.

Both read one `FeatureConfig`. `FrontEnd.log_mel` is frame-local (exact over
blocks); `finish` applies the floor, DCT, deltas and per-window normalisation as
for a training clip, or `CausalFeatures` does all of that causally over the past
seconds (state mode).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from audio_rnn.audio.feature_config import FeatureConfig

LN10 = math.log(10.0)


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
    """Numpy twin of `audio.features.MFCC` that splits into a block-wise part and a per-window part.

    `log_mel` is frame-local (streamable exactly); the log floor, DCT, deltas
    and normalisation are applied per window by `finish` (exactly as for a
    training clip) or causally by `RunningNorm`.
    """

    def __init__(self, cfg: FeatureConfig | dict[str, Any]):
        c = cfg if isinstance(cfg, FeatureConfig) else FeatureConfig.from_dict(cfg)
        self.config = c
        self.sr, self.n_mfcc, self.n_mels = c.sample_rate, c.n_mfcc, c.n_mels
        self.win, self.hop, self.n_fft = c.win_length, c.hop_length, c.n_fft
        self.deltas, self.normalize = c.deltas, c.normalize
        self.floor = c.floor_db * LN10 / 10  # natural-log units
        self.window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.win) / self.win)).astype(np.float32)
        self.fb = mel_filterbank(self.sr, self.n_fft, self.n_mels, c.f_min, c.f_max)
        self.dct = dct_matrix(self.n_mfcc, self.n_mels)

    @property
    def dim(self) -> int:
        return self.n_mfcc * (3 if self.deltas else 1)

    def n_frames(self, n_samples: int) -> int:
        """Complete frames in `n_samples`: a stream's partial frame waits for its samples, so audio shorter than
        one frame has none (offline `audio.framing` pads a short clip to one frame; it has the whole clip)."""
        return 0 if n_samples < self.win else 1 + (n_samples - self.win) // self.hop

    def log_mel(self, x: np.ndarray) -> np.ndarray:
        """(N,) samples -> (T, n_mels) natural-log mel power of every complete frame (floor applied later)."""
        n = self.n_frames(len(x))
        if n == 0:
            return np.zeros((0, self.n_mels), np.float32)
        view = np.lib.stride_tricks.sliding_window_view(x, self.win)[:: self.hop][:n]
        out = np.empty((n, self.n_mels), np.float32)
        for i in range(0, n, 2048):  # bounded scratch memory (~4 MB of spectra per 2048 frames)
            spec = np.fft.rfft(view[i:i + 2048] * self.window, self.n_fft)
            power = np.square(spec.real)
            power += np.square(spec.imag)  # |X|^2 without the square root of abs()
            power = power.astype(np.float32, copy=False)
            out[i:i + 2048] = np.log(np.maximum(power @ self.fb, 1e-30, dtype=np.float32))
        return out

    def finish(self, lm: np.ndarray) -> np.ndarray:
        """(B, T, n_mels) log-mel windows -> (B, T, dim) features, each window treated as one utterance."""
        lm = np.maximum(lm, lm.max(axis=(1, 2), keepdims=True) - self.floor)
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


class CausalFeatures:
    """Log-mel frames -> features using only the past (state mode): the log floor below the loudest bin of
    the past `n` frames, the DCT, causal deltas, and mean/variance over the past `n` frames (moving sums
    carried across blocks)."""

    def __init__(self, fe: FrontEnd, n: int):
        self.fe, self.n = fe, max(1, n)
        self.hist_lm = np.zeros((0, fe.n_mels), np.float32)  # recent log-mel frames (for the running max)
        self.hist_x = np.zeros((0, fe.dim), np.float64)  # recent feature frames (for the running stats)
        self.prev_static = np.zeros((0, fe.n_mfcc), np.float32)  # the last 2 frames: context for causal deltas
        self.prev_d1 = np.zeros((0, fe.n_mfcc), np.float32)

    def __call__(self, lm: np.ndarray) -> np.ndarray:
        fe = self.fe
        full = np.concatenate([self.hist_lm, lm])
        from numpy.lib.stride_tricks import sliding_window_view

        frame_max = full.max(axis=1)
        pad = np.concatenate([np.full(self.n - 1, -np.inf, np.float32), frame_max])
        run_max = sliding_window_view(pad, self.n).max(axis=1)[-len(lm):] if len(lm) else frame_max[:0]
        lm = np.maximum(lm, run_max[:, None] - fe.floor)
        self.hist_lm = full[-(self.n - 1):] if self.n > 1 else full[:0]
        x = lm @ fe.dct
        if fe.deltas:  # causal deltas: every frame is treated as the newest (no look-ahead, block-invariant)
            d1, self.prev_static = causal_deltas(x, self.prev_static)
            d2, self.prev_d1 = causal_deltas(d1, self.prev_d1)
            x = np.concatenate([x, d1, d2], axis=1)
        if not fe.normalize:
            return x.astype(np.float32)
        full = np.concatenate([self.hist_x, x.astype(np.float64)])
        c1, c2 = _prefix_sums(full), _prefix_sums(np.square(full))
        k = len(self.hist_x)
        if k + 1 >= self.n:  # a full window behind every new frame: plain slices (same numbers as the general case)
            lo, cnt = slice(k + 1 - self.n, len(full) + 1 - self.n), self.n
        else:
            idx = np.arange(k + 1, len(full) + 1)
            lo = np.maximum(0, idx - self.n)
            cnt = (idx - lo)[:, None]
        mean = c1[k + 1:] - c1[lo]
        mean /= cnt
        var = c2[k + 1:] - c2[lo]
        var /= cnt
        var -= np.square(mean)
        np.maximum(var, 0.0, out=var)
        self.hist_x = full[-(self.n - 1):] if self.n > 1 else full[:0]
        np.sqrt(var, out=var)
        var += 1e-5
        out = x - mean
        out /= var
        return out.astype(np.float32)


def _prefix_sums(x: np.ndarray) -> np.ndarray:
    """(T + 1, D) running sums of (T, D) float64 frames along time, starting at a zero row (one allocation)."""
    out = np.empty((len(x) + 1, x.shape[1]), np.float64)
    out[0] = 0.0
    np.cumsum(x, axis=0, out=out[1:])
    return out
