"""Framing a signal into overlapping sub-frames with their start times (the model's clock)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from audio_rnn.audio.rates import DEFAULT_SR


@dataclass(frozen=True)
class Frames:
    """Framed sub-samples of a signal: `frames[i]` covers `[starts[i], starts[i] + frame_len/sr)` seconds."""

    frames: np.ndarray  # (n_frames, frame_len)
    starts: np.ndarray  # (n_frames,) seconds
    sr: int
    frame_len: int
    hop: int

    @property
    def rate(self) -> float:
        """Frames per second: the model's clock."""
        return self.sr / self.hop

    @property
    def ends(self) -> np.ndarray:
        return self.starts + self.frame_len / self.sr


def n_frames(n_samples: int, frame_len: int, hop: int) -> int:
    """Frames of `frame_len` every `hop` samples; a signal shorter than one frame is padded to one."""
    if n_samples <= 0:
        return 0
    return 1 + max(0, n_samples - frame_len) // hop


def frame(signal: np.ndarray, frame_ms: float = 25.0, hop_ms: float = 10.0, sr: int = DEFAULT_SR) -> Frames:
    """Split a 1-D signal into overlapping frames (a view-free copy) with their start times.

    Frames start every `hop_ms` and last `frame_ms`, with no centring, so frame i
    is exactly the window of MFCC frame i. A signal shorter than one frame is
    zero-padded to one frame; the incomplete tail after the last full frame is dropped.
    """
    if not (frame_ms > 0 and hop_ms > 0 and sr > 0 and math.isfinite(frame_ms * hop_ms)):
        raise ValueError(f"frame_ms, hop_ms and sr must be positive, got {frame_ms}, {hop_ms}, {sr}")
    x = np.asarray(signal, dtype=np.float32).reshape(-1)
    frame_len = max(1, int(round(frame_ms * sr / 1000)))
    hop = max(1, int(round(hop_ms * sr / 1000)))
    n = n_frames(x.size, frame_len, hop)
    if n == 0:
        return Frames(np.zeros((0, frame_len), np.float32), np.zeros(0), sr, frame_len, hop)
    if x.size < frame_len:
        x = np.pad(x, (0, frame_len - x.size))
    view = np.lib.stride_tricks.sliding_window_view(x, frame_len)[::hop][:n]
    return Frames(np.ascontiguousarray(view), np.arange(n) * hop / sr, sr, frame_len, hop)
