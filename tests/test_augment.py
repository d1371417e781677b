"""Augmentation: each transform does what it says, measured on the signal it produces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio_rnn.audio.augment import (
    AugmentConfig,
    add_noise,
    augment_speech,
    colored_noise,
    gain,
    hum,
    pitch_shift,
    place,
    random_place,
    reverb,
    rms,
    room_impulse,
    spec_augment,
    speed,
)

SR = 16000


def tone(freq: float, seconds: float = 1.0, amp: float = 0.3) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(SR * seconds)) / SR)).astype(np.float32)


def dominant_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=8 * len(x)))
    return float(np.fft.rfftfreq(8 * len(x), 1 / SR)[np.argmax(spec)])


def test_gain_in_db_and_clipping():
    x = tone(440, amp=0.1)
    assert rms(gain(x, -20)) == pytest.approx(rms(x) / 10, rel=1e-5)
    assert rms(gain(x, 6)) == pytest.approx(rms(x) * 10 ** (6 / 20), rel=1e-5)
    assert np.max(np.abs(gain(x, 40))) == 1.0


def test_place_and_random_place():
    x = np.arange(1, 6, dtype=np.float32)
    assert place(x, 8, 2).tolist() == [0, 0, 1, 2, 3, 4, 5, 0]
    assert place(x, 4, -2).tolist() == [3, 4, 5, 0]
    assert place(x, 4, 6).tolist() == [0, 0, 0, 0]
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(50):
        y = random_place(x, 10, rng)
        assert len(y) == 10 and y.sum() == x.sum()
        starts.add(int(np.argmax(y > 0)))
    assert starts == set(range(6))  # every placement that fits occurs
    long = np.arange(100, dtype=np.float32)
    y = random_place(long, 10, rng)
    assert len(y) == 10 and np.all(np.diff(y) == 1)  # a contiguous crop


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 25.0])
def test_add_noise_reaches_the_requested_snr(snr_db):
    rng = np.random.default_rng(1)
    x = tone(300, amp=0.05)
    y = add_noise(x, colored_noise(4000, "pink", rng), snr_db)  # short noise is tiled
    measured = 20 * np.log10(rms(x) / rms(y - x))
    assert measured == pytest.approx(snr_db, abs=0.05)
    assert np.array_equal(add_noise(np.zeros(100, np.float32), colored_noise(100, "white", rng), 10), np.zeros(100))


@pytest.mark.parametrize("color,slope", [("white", 0.0), ("pink", -1.0), ("brown", -2.0), ("blue", 1.0)])
def test_colored_noise_spectral_slope(color, slope):
    y = colored_noise(2**16, color, np.random.default_rng(2))
    assert rms(y) == pytest.approx(1.0, rel=1e-4) and abs(float(np.mean(y))) < 1e-6
    p = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y))
    band = (f > 1e-3) & (f < 0.4)
    fitted = np.polyfit(np.log10(f[band]), np.log10(p[band]), 1)[0]
    assert fitted == pytest.approx(slope, abs=0.1)


def test_hum_is_mains():
    y = hum(SR, SR, np.random.default_rng(3), base=50.0)
    assert rms(y) == pytest.approx(1.0, rel=1e-4)
    p = np.abs(np.fft.rfft(y)) ** 2  # 1 s: bin k is k Hz
    harmonics = p[[50, 100, 150, 200, 250]]
    assert harmonics.sum() > 0.99 * p.sum() and harmonics[0] > 0.01 * p.sum()


def test_reverb_keeps_length_and_peak_and_decays_at_rt60():
    rng = np.random.default_rng(4)
    x = np.zeros(SR, np.float32)
    x[100:400] = tone(500)[:300]
    y = reverb(x, SR, 0.5, rng)
    assert len(y) == len(x) and np.max(np.abs(y)) == pytest.approx(np.max(np.abs(x)), rel=1e-5)
    assert rms(y[2000:6000]) > 0.01 > rms(x[2000:6000])  # the tail rings on after the burst
    h = room_impulse(SR, 0.5, rng).astype(np.float64)
    edc = 10 * np.log10(np.cumsum(h[::-1] ** 2)[::-1] / np.sum(h**2))  # Schroeder energy decay
    t5, t25 = np.argmax(edc < -5) / SR, np.argmax(edc < -25) / SR
    assert 3 * (t25 - t5) == pytest.approx(0.5, rel=0.2)  # T20-based reverberation time


@pytest.mark.parametrize("factor", [0.85, 1.2, 1.35])
def test_speed_changes_length_and_pitch(factor):
    x = tone(200)
    y = speed(x, factor)
    assert len(y) == pytest.approx(len(x) / factor, abs=1)
    assert dominant_hz(y) == pytest.approx(200 * factor, rel=0.01)
    assert np.array_equal(speed(x, 1.0), x)


def test_pitch_shift_keeps_length():
    x = tone(220, 0.5)
    y = pitch_shift(x, SR, 4)
    assert len(y) == len(x)
    assert dominant_hz(y) == pytest.approx(220 * 2 ** (4 / 12), rel=0.02)


def test_augment_speech_is_reproducible_and_varied(fsdd_dir):
    from audio_rnn.audio.decode import load_audio

    x = load_audio(fsdd_dir / "5_george_3.wav")
    a = augment_speech(x, SR, SR, np.random.default_rng(7))
    b = augment_speech(x, SR, SR, np.random.default_rng(7))
    c = augment_speech(x, SR, SR, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.dtype == np.float32 and len(a) == SR and np.max(np.abs(a)) <= 1.0
    quiet = augment_speech(x, SR, SR, np.random.default_rng(9), AugmentConfig(p_speed=0, p_reverb=0, p_noise=0,
                                                                              gain_db_range=(0.0, 0.0)))
    assert np.max(np.abs(quiet)) == pytest.approx(0.7, rel=1e-5)  # only normalised and placed


def test_spec_augment_masks_deterministically():
    feats = torch.randn(4, 100, 20) + 5.0  # no natural zeros
    before = feats.clone()
    torch_state = torch.get_rng_state()
    a = spec_augment(feats, np.random.default_rng(0), freq_mask=4, time_mask=10, n_masks=2)
    assert torch.equal(torch.get_rng_state(), torch_state)  # the global torch RNG is left as it was
    b = spec_augment(feats, np.random.default_rng(0), freq_mask=4, time_mask=10, n_masks=2)
    c = spec_augment(feats, np.random.default_rng(1), freq_mask=4, time_mask=10, n_masks=2)
    assert torch.equal(feats, before)  # input untouched
    assert a.shape == feats.shape and torch.equal(a, b) and not torch.equal(a, c)
    masked = a == 0
    assert masked.any()
    kept = ~masked
    assert torch.equal(a[kept], feats[kept])
    # masks are whole rows (time) or whole columns (frequency) of each item, at most 2 x (10 + 4) wide
    for item in masked:
        rows = item.all(dim=1).sum()
        cols = item.all(dim=0).sum()
        assert rows <= 2 * 9 and cols <= 2 * 3
        assert item.sum() == rows * 20 + cols * 100 - rows * cols
