"""Shared by the streaming tests: the model labels and a deterministic test signal (not a test module)."""

from __future__ import annotations

import numpy as np

LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "_silence_", "_unknown_"]
SR = 16000


def tone_noise(n: int, seed: int = 0, freq: float = 440.0, gate_hz: float = 0.7, duty: float = 0.6) -> np.ndarray:
    """Quiet white noise with a tone switched on and off: `n` samples at 16 kHz, the same for the same seed."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n).astype(np.float32) * 0.02
    t = np.arange(n) / SR
    x += (0.3 * np.sin(2 * np.pi * freq * t) * (np.sin(2 * np.pi * gate_hz * t) > duty)).astype(np.float32)
    return x
