"""MFCC front-end: frame alignment with frame(), batching, normalisation, deltas, config, rate and gain invariance."""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_rnn.audio.decode import load_audio, resample
from audio_rnn.audio.framing import frame
from audio_rnn.errors import CheckpointError
from audio_rnn.audio.features import MFCC, FeatureConfig, compute, normalize, pad_batch

torch.set_num_threads(1)

# measured on espeak-ng "seven" / a sentence at 16 kHz vs the same through 8 kHz (soxr HQ):
# 0.002 / 0.003 relative L2 error with f_max 3800 Hz (0.06 with the old 4000 Hz and absolute floor)
RATE_INVARIANCE_MAX_REL_ERR = 0.01
RATE_INVARIANCE_MIN_CORR = 0.9999


def noise(n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


@pytest.fixture(scope="module")
def speech16k(tmp_path_factory) -> list[np.ndarray]:
    """Real wideband speech: espeak-ng words at 22.05 kHz loaded at 16 kHz (energy up to 8 kHz)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    out = []
    for i, text in enumerate(["seven", "the quick brown fox jumps over nine lazy dogs"]):
        path = tmp_path_factory.mktemp("tts") / f"{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
        out.append(load_audio(path))
    return out


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6000), sr=st.sampled_from([8000, 16000, 22050]), win_ms=st.sampled_from([20.0, 25.0, 30.0]))
def test_mfcc_frame_count_equals_frame(n, sr, win_ms):
    cfg = FeatureConfig(sample_rate=sr, win_ms=win_ms, f_max=min(3800.0, sr / 2))
    x = noise(n, n)
    fr = frame(x, cfg.win_ms, cfg.hop_ms, sr)
    feats = compute(x, cfg)
    assert feats.shape == (max(1, fr.frames.shape[0]), cfg.dim) == (max(1, cfg.n_frames(n)), cfg.dim)
    assert int(MFCC(cfg).frame_lengths(torch.tensor([n]))[0]) == feats.shape[0]


def test_mfcc_frame_i_is_frame_i_of_frame():
    """Each frame of frame(), featurised alone, gives the same MFCC row as the whole signal."""
    cfg = FeatureConfig(normalize=False, floor_db=300.0)  # no floor: a lone frame has its own maximum
    x = noise(16000 + 123)
    whole = MFCC(cfg)(torch.from_numpy(x))[0]
    frames = torch.from_numpy(frame(x, cfg.win_ms, cfg.hop_ms, cfg.sample_rate).frames)
    alone = MFCC(cfg)(frames)[:, 0]
    assert alone.shape == whole.shape
    assert torch.allclose(alone, whole, atol=1e-4)


def test_matches_librosa_mfcc():
    """Independent check: librosa's MFCC (dB scale, 80 dB top_db) with the same settings is ours * 10/ln 10."""
    import librosa

    cfg = FeatureConfig(normalize=False)
    x = noise(16000)
    x[4000:6000] *= 20  # a loud burst so the 80 dB floor matters somewhere
    ours = compute(x, cfg)
    pad = (cfg.n_fft - cfg.win_length) // 2  # librosa centres the 400-sample window in the 512 FFT frame
    ref = librosa.feature.mfcc(y=np.pad(x, (pad, 0)), sr=16000, n_mfcc=20, n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                               win_length=cfg.win_length, center=False, n_mels=40, fmin=20.0, fmax=3800.0,
                               htk=False, norm="ortho").T  # power_to_db: 80 dB below the max, like floor_db
    n = min(len(ours), len(ref))
    assert n >= len(ours) - 1
    assert np.allclose(ours[:n] * 10 / math.log(10), ref[:n], atol=1e-2)


def test_batched_equals_unbatched_with_padding():
    waves = [noise(n, seed) for seed, n in enumerate([250, 3000, 16000, 12345, 401])]
    batch, lengths = pad_batch(waves)
    assert batch.shape == (5, 16000) and lengths.tolist() == [250, 3000, 16000, 12345, 401]
    for deltas in (False, True):
        for norm in (False, True):
            cfg = FeatureConfig(deltas=deltas, normalize=norm)
            m = MFCC(cfg)
            out = m(batch, lengths)
            valid = m.frame_lengths(lengths)
            for i, w in enumerate(waves):
                alone = torch.from_numpy(compute(w, cfg))
                assert int(valid[i]) == len(alone) == max(1, cfg.n_frames(len(w)))
                assert torch.allclose(out[i, : len(alone)], alone, atol=1e-4), (deltas, norm, i)
                assert not out[i, len(alone) :].any()


def test_normalisation_and_deltas():
    cfg = FeatureConfig(deltas=True)
    m = MFCC(cfg)
    x = noise(16000)
    x[5000:9000] += 0.5 * np.sin(np.arange(4000) * 0.3).astype(np.float32)
    f = m(torch.from_numpy(x))[0]
    assert f.shape == (98, 60) and cfg.dim == 60
    assert torch.allclose(f.mean(0), torch.zeros(60), atol=1e-4)
    assert torch.allclose(f.std(0, unbiased=False), torch.ones(60), atol=1e-3)
    raw = MFCC(FeatureConfig(deltas=True, normalize=False))(torch.from_numpy(x))[0]
    c, d1 = raw[:, :20], raw[:, 20:40]
    # regression delta over +-2 frames
    expect = (c[4] - c[2] + 2 * (c[5] - c[1])) / 10
    assert torch.allclose(d1[3], expect, atol=1e-4)
    # masked normalisation ignores padding frames
    y = torch.randn(2, 10, 3)
    z = normalize(y, torch.tensor([10, 4]))
    assert torch.allclose(z[1, :4], normalize(y[1:2, :4])[0], atol=1e-5) and not z[1, 4:].any()


def test_config_round_trip_and_validation():
    cfg = FeatureConfig(n_mfcc=13, deltas=True, f_max=3500.0)
    again = FeatureConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.dim == 39 and again.n_fft == 512 and again.frame_rate == 100.0
    assert FeatureConfig.from_dict({"n_mfcc": 13}).floor_db == FeatureConfig().floor_db  # older checkpoints
    with pytest.raises(CheckpointError, match="newer version"):
        FeatureConfig.from_dict({**cfg.to_dict(), "future_knob": 1})
    with pytest.raises(ValueError):
        MFCC(FeatureConfig(f_max=9000.0))
    # constants are not weights: a model holding the front-end saves none of them
    assert len(MFCC(cfg).state_dict()) == 0


def test_gain_invariance():
    cfg = FeatureConfig()
    x = noise(16000)
    x[3000:7000] *= 30
    a = compute(x, cfg)
    for g in (1e-3, 0.05, 3.0):
        assert rel_err(a, compute(x * g, cfg)) < 1e-3


def test_rate_invariance_through_8k(speech16k):
    """A 16 kHz recording and the same recording band-limited through 8 kHz give nearly the same features."""
    for x in speech16k:
        through8k = resample(resample(x, 16000, 8000), 8000, 16000)
        a, b = compute(x), compute(through8k)
        assert rel_err(a, b) < RATE_INVARIANCE_MAX_REL_ERR
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > RATE_INVARIANCE_MIN_CORR
        # and from 44.1/48 kHz microphones
        for sr in (44100, 48000):
            c = compute(resample(resample(x, 16000, sr), sr, 16000))
            assert rel_err(a, c) < RATE_INVARIANCE_MAX_REL_ERR


def test_fsdd_8k_features(fsdd_dir):
    x8 = load_audio(fsdd_dir / "3_nicolas_0.wav", sr=8000)
    x16 = load_audio(fsdd_dir / "3_nicolas_0.wav")
    f = compute(x16)
    assert f.shape[0] == FeatureConfig().n_frames(len(x16)) and np.all(np.isfinite(f))
    # the same 8 kHz file read at 8 kHz and at 16 kHz: same features at 16 kHz
    assert rel_err(f, compute(resample(x8, 8000, 16000))) < 0.01


def test_features_cli(tmp_path, capsys):
    import soundfile as sf

    from audio_rnn.cli import main

    sf.write(tmp_path / "a.wav", noise(8000), 8000)
    (tmp_path / "bad.wav").write_bytes(b"not audio at all" * 10)
    rc = main(["features", str(tmp_path / "a.wav"), str(tmp_path / "bad.wav"), "--json", "--out", str(tmp_path / "o")])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 1 and rows[0]["frames"] == 98 and rows[0]["dim"] == 20
    assert np.load(rows[0]["out"]).shape == (98, 20)
    assert rows[1]["error"].startswith("NotAudioError:")
