"""Training-time augmentation for speech: pure functions of (signal, rng) -> signal.

Covers what recordings in the wild do to a word: level, placement in the window,
noise at a chosen SNR, room reverberation, and speaker changes (speed/pitch and
vocal-tract-length shifts towards female and child voices; our real training
speakers are all adult men). SpecAugment masks act on features.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


def gain(x: np.ndarray, db: float) -> np.ndarray:
    """Scale by `db` decibels, clipping to [-1, 1]."""
    return np.clip(x * 10 ** (db / 20), -1, 1).astype(np.float32)


def place(x: np.ndarray, length: int, offset: int) -> np.ndarray:
    """Put `x` into a zero window of `length` samples starting at `offset` (may be negative: crop)."""
    out = np.zeros(length, np.float32)
    src0, dst0 = max(0, -offset), max(0, offset)
    n = min(len(x) - src0, length - dst0)
    if n > 0:
        out[dst0 : dst0 + n] = x[src0 : src0 + n]
    return out


def random_place(x: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """Place `x` at a random position in a window of `length` (a random crop if it is too long)."""
    if len(x) >= length:
        start = int(rng.integers(0, len(x) - length + 1))
        return x[start : start + length].astype(np.float32)
    return place(x, length, int(rng.integers(0, length - len(x) + 1)))


def colored_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise with a 1/f^a power spectrum: white (a=0), pink (1), brown (2), blue (-1)."""
    alpha = {"white": 0.0, "pink": 1.0, "brown": 2.0, "blue": -1.0}[color]
    if n <= 0:
        return np.zeros(0, np.float32)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1] if n > 1 else 1.0
    spec = spec / f ** (alpha / 2)
    y = np.fft.irfft(spec, n)
    y = y - y.mean()
    return (y / (np.sqrt(np.mean(y**2)) + 1e-12)).astype(np.float32)


def hum(n: int, sr: int, rng: np.random.Generator, base: float | None = None) -> np.ndarray:
    """Mains hum (50 or 60 Hz with odd/even harmonics), unit RMS."""
    base = base or float(rng.choice([50.0, 60.0]))
    t = np.arange(n) / sr
    y = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi)) for k in range(1, 6))
    y = np.asarray(y, dtype=np.float64)
    return (y / (np.sqrt(np.mean(y**2)) + 1e-12)).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix `noise` (tiled/cropped to len(x)) into `x` at `snr_db` relative to the signal's RMS."""
    if len(noise) < len(x):
        noise = np.tile(noise, int(np.ceil(len(x) / max(1, len(noise)))))
    noise = noise[: len(x)]
    s, nrm = rms(x), rms(noise)
    if s == 0 or nrm == 0:
        return x.astype(np.float32)
    y = x + noise * (s / nrm) * 10 ** (-snr_db / 20)
    return np.clip(y, -1, 1).astype(np.float32)


def room_impulse(sr: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: direct path + exponentially decaying noise tail."""
    n = max(1, int(rt60 * sr))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[: int(0.002 * sr)] = 0  # first reflections after ~2 ms
    h = tail * 0.3
    h[0] = 1.0
    return (h / np.sqrt(np.sum(h**2))).astype(np.float32)


def reverb(x: np.ndarray, sr: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room of reverberation time `rt60` seconds, keeping length and peak."""
    from scipy.signal import fftconvolve

    y = fftconvolve(x, room_impulse(sr, rt60, rng))[: len(x)]
    peak = np.max(np.abs(y)) if len(y) else 0
    ref = np.max(np.abs(x)) if len(x) else 0
    return (y * (ref / peak) if peak > 0 else y).astype(np.float32)


def speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster: shifts pitch and formants together (a shorter/longer vocal tract)."""
    from audio_rnn.audio.decode import resample

    if abs(factor - 1) < 1e-6:
        return x.astype(np.float32)
    # resampling from sr*factor to sr shortens by `factor` and scales all frequencies by `factor`
    return resample(x, int(round(10000 * factor)), 10000)


def pitch_shift(x: np.ndarray, sr: int, semitones: float) -> np.ndarray:
    """Shift pitch without changing duration (librosa phase vocoder + resampling)."""
    import librosa

    n_fft = 512 if len(x) >= 512 else 1 << max(4, (len(x) - 1).bit_length() - 1)  # 32 ms at 16 kHz; fits short clips
    return librosa.effects.pitch_shift(x.astype(np.float32), sr=sr, n_steps=semitones, n_fft=n_fft).astype(np.float32)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the waveform augmentations used in training."""

    p_speed: float = 0.6
    speed_range: tuple[float, float] = (0.85, 1.35)  # >1: towards female/child voices
    p_pitch: float = 0.0  # pitch without formants (~3 ms a clip); train-kws --pitch-prob sets it
    p_reverb: float = 0.3
    rt60_range: tuple[float, float] = (0.15, 0.7)
    p_noise: float = 0.7
    snr_range: tuple[float, float] = (5.0, 30.0)
    p_real_noise: float = 0.6  # of the noisy draws: a recorded background (when beds are given), else coloured
    gain_db_range: tuple[float, float] = (-18.0, 3.0)


def noise_bed(beds: Sequence[np.ndarray], length: int, rng: np.random.Generator) -> np.ndarray:
    """A random `length`-sample stretch of one recorded background (taps, dishes, bikes, rooms)."""
    return random_place(beds[int(rng.integers(len(beds)))], length, rng)


def augment_speech(x: np.ndarray, sr: int, length: int, rng: np.random.Generator,
                   cfg: AugmentConfig = AugmentConfig(), beds: Sequence[np.ndarray] = ()) -> np.ndarray:
    """One random draw of the full chain: speaker change, placement, room, noise, level.

    `beds` are recorded backgrounds; a share `p_real_noise` of the noisy draws mixes
    one of them in instead of synthetic coloured noise.
    """
    y = x.astype(np.float32)
    if rng.random() < cfg.p_speed:
        y = speed(y, float(rng.uniform(*cfg.speed_range)))
    if rng.random() < cfg.p_pitch:
        y = pitch_shift(y, sr, float(rng.uniform(-3, 5)))
    peak = np.max(np.abs(y)) if len(y) else 0
    if peak > 0:
        y = y / peak * 0.7
    y = random_place(y, length, rng)
    if rng.random() < cfg.p_reverb:
        y = reverb(y, sr, float(rng.uniform(*cfg.rt60_range)), rng)
    if rng.random() < cfg.p_noise:
        if len(beds) and rng.random() < cfg.p_real_noise:
            noise = noise_bed(beds, length, rng)
        else:
            noise = colored_noise(length, str(rng.choice(["white", "pink", "brown"])), rng)
        y = add_noise(y, noise, float(rng.uniform(*cfg.snr_range)))
    return gain(y, float(rng.uniform(*cfg.gain_db_range)))


def spec_augment(feats, rng: np.random.Generator, freq_mask: int = 4, time_mask: int = 10, n_masks: int = 2):
    """SpecAugment on a (batch, frames, dim) feature tensor with torchaudio's masks (training only)."""
    import torch
    import torchaudio

    g = torch.Generator().manual_seed(int(rng.integers(0, 2**31 - 1)))
    fm = torchaudio.transforms.FrequencyMasking(freq_mask, iid_masks=True)
    tm = torchaudio.transforms.TimeMasking(time_mask, iid_masks=True)
    x = feats.transpose(1, 2).unsqueeze(1)  # (B, 1, dim, T): torchaudio's (..., freq, time)
    state = torch.get_rng_state()
    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
    try:
        for _ in range(n_masks):
            x = tm(fm(x))
    finally:
        torch.set_rng_state(state)
    return x.squeeze(1).transpose(1, 2)
