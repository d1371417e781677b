"""Streaming keyword spotting: numpy front-end and network against torch, block-wise posteriors
(shape, time alignment, block invariance), detection logic, and the real `spot` command end to end."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_rnn.spotting.decider import Decider, detect_posteriors
from audio_rnn.spotting.detection import WINDOW_DEFAULTS, Detection, StreamConfig
from audio_rnn.spotting.frontend import FrontEnd
from audio_rnn.spotting.network import NumpyKWS
from audio_rnn.spotting.streaming import Spotter

from spot_signals import LABELS, SR, tone_noise as _tone_noise

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    """A small random-weight keyword checkpoint saved by the real training code's model and checkpoint modules."""
    import torch

    from audio_rnn.training import checkpoint
    from audio_rnn.audio.features import FeatureConfig
    from audio_rnn.keywords.models import KeywordRNN, KWSDims

    torch.manual_seed(0)
    dims = KWSDims(n_in=20, cell="gru", hidden=24, layers=2, pooling="last")
    model = KeywordRNN(dims).eval()
    folder = tmp_path_factory.mktemp("kws_random")
    checkpoint.save(folder, model.state_dict(), {"kind": "kws", "labels": LABELS, "model": dims.to_dict(),
                                                 "features": FeatureConfig().to_dict(), "window_seconds": 1.0})
    return folder, model


# ----------------------------------------------------------------------------- numpy twins of the torch parts


@pytest.mark.parametrize("deltas", [False, True])
def test_front_end_matches_torch_mfcc(deltas):
    import torch

    from audio_rnn.audio.features import MFCC, FeatureConfig

    fc = FeatureConfig(deltas=deltas)
    x = _tone_noise(16000 + 77)
    ref = MFCC(fc)(torch.from_numpy(x))[0].numpy()
    fe = FrontEnd(fc.to_dict())
    got = fe.finish(fe.log_mel(x)[None])[0]
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=2e-4)


@pytest.mark.parametrize("cell,pooling,conv", [("gru", "last", 0), ("lstm", "mean", 0), ("rnn", "attention", 0),
                                               ("gru", "attention", 0), ("gru", "attention", 8), ("lstm", "last", 6)])
def test_numpy_network_matches_torch_frame_logits_with_carried_state(cell, pooling, conv):
    """Also for a CRNN (a causal convolution under the stack), whose carried state holds its last frames."""
    import torch

    from audio_rnn.keywords.models import KeywordRNN, KWSDims

    torch.manual_seed(1)
    dims = KWSDims(n_in=20, cell=cell, pooling=pooling, hidden=16, layers=2, conv=conv, conv_kernel=4)
    m = KeywordRNN(dims).eval()
    nm = NumpyKWS({k: v.numpy() for k, v in m.state_dict().items()}, dims.to_dict())
    f = torch.randn(2, 30, 20)
    with torch.no_grad():
        r1, st = m.frame_logits(f[:, :12])
        r2, _ = m.frame_logits(f[:, 12:], st)
    g1, nst = nm.frame_logits(f[:, :12].numpy())
    g2, _ = nm.frame_logits(f[:, 12:].numpy(), nst, keep_from=4)
    np.testing.assert_allclose(g1, r1.numpy(), atol=1e-5)
    np.testing.assert_allclose(g2, r2.numpy()[:, 4:], atol=1e-5)


# ----------------------------------------------------------------------------- posteriors over a stream


@pytest.mark.parametrize("mode", ["window", "state"])
def test_posteriors_shape_time_alignment_and_block_invariance(random_model, tmp_path, mode):
    folder, _ = random_model
    x = _tone_noise(SR * 5 + 123)
    path = tmp_path / "long.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    big = Spotter(folder, StreamConfig(mode=mode, block_s=30.0))
    times, probs, labels = big.posteriors(str(path))
    n = 1 + (len(x) - 400) // 160  # every complete 25 ms frame, hop 10 ms
    assert labels == LABELS
    assert probs.shape == (n, len(LABELS))
    np.testing.assert_allclose(times, (np.arange(n) * 160 + 400) / SR)  # end of the audio each row has heard
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    small = Spotter(folder, StreamConfig(mode=mode, block_s=0.37))  # blocks that split frames
    t2, p2, _ = small.posteriors(str(path))
    np.testing.assert_allclose(t2, times)
    np.testing.assert_allclose(p2, probs, atol=1e-5)
    t3, p3, _ = big.posteriors(x)  # a waveform gives the same as its file
    np.testing.assert_allclose(p3, probs, atol=1e-5)


def test_window_mode_rows_equal_the_torch_recognizer_on_that_window(random_model):
    """In window mode, the row at a window's last frame is the clip classification of that window's audio."""
    import torch

    from audio_rnn.audio.features import MFCC, FeatureConfig

    folder, model = random_model
    x = _tone_noise(SR * 3, seed=4)
    sp = Spotter(folder, replace(WINDOW_DEFAULTS, context_s=1.0, hop_s=0.1))
    times, probs, _ = sp.posteriors(x)
    mfcc = MFCC(FeatureConfig())
    for end in (98, 98 + 10, 98 + 70, len(times)):  # first window, strided windows, the tail window
        start = max(0, end - 98)
        seg = x[start * 160:(end - 1) * 160 + 400]
        with torch.no_grad():
            ref = torch.softmax(model(mfcc(torch.from_numpy(seg))), -1)[0].numpy()
        np.testing.assert_allclose(probs[end - 1], ref, atol=1e-5)


def _words_in_silence(seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Three tone-and-noise bursts (~0.4, 0.7 and 1.6 s) between quiet stretches: what a voice-activity
    detector calls speech, and where."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(SR * 7) * 1e-4).astype(np.float32)
    spans = [(SR // 2, SR // 2 + 6400), (2 * SR, 2 * SR + 11200), (4 * SR, 4 * SR + 25600)]
    t = np.arange(SR * 7) / SR
    for a, b in spans:
        x[a:b] += (0.3 * np.sin(2 * np.pi * 220 * t[a:b]) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t[a:b]))).astype(np.float32)
        x[a:b] += (rng.standard_normal(b - a) * 0.05).astype(np.float32)
    return x, spans


def test_vad_mode_rows_are_the_recognizer_on_windows_around_each_speech_segment(random_model):
    """vad mode: outside speech the rows are _silence_; each segment's rows are the torch recognizer's
    posteriors on its 1 s windows, averaged over the shifted placements; blocks of any size give the same."""
    import torch

    from audio_rnn.audio.features import MFCC, FeatureConfig

    folder, model = random_model
    x, spans = _words_in_silence()
    cfg = StreamConfig(mode="vad", shifts_s=(-0.1, 0.0, 0.1), smooth_s=0.01, min_s=0.0, suppress_s=0.1)
    times, probs, labels = Spotter(folder, cfg).posteriors(x)
    assert probs.shape == (1 + (len(x) - 400) // 160, len(LABELS))
    silence = probs[:, labels.index("_silence_")] == 1.0
    speech = ~silence
    for a, b in spans:  # each burst is speech (the detector's hangover may add a little around it) ...
        assert speech[a // 160 + 5:b // 160 - 5].all()
    assert speech.sum() < sum(b - a for a, b in spans) / 160 + 3 * 60  # ... and the quiet stretches are not
    mfcc = MFCC(FeatureConfig())
    frames = np.flatnonzero(np.diff(np.concatenate([[0], speech.astype(int), [0]])))
    segs = list(zip(frames[::2], frames[1::2] - 1))
    assert len(segs) == 3
    a, b = segs[0]  # a short segment: one window centred on it, at three shifts
    ref = []
    for d in (-10, 0, 10):
        s = max(0, int(round((a + b + 1) / 2 - 49)) + d)
        with torch.no_grad():
            ref.append(torch.softmax(model(mfcc(torch.from_numpy(x[s * 160:(s + 97) * 160 + 400]))), -1)[0].numpy())
    np.testing.assert_allclose(probs[a:b + 1], np.mean(ref, axis=0)[None].repeat(b - a + 1, 0), atol=1e-5)
    a, b = segs[2]  # a long segment: several windows along it
    assert len({tuple(np.round(r, 5)) for r in probs[a:b + 1]}) >= 3
    small = Spotter(folder, replace(cfg, block_s=0.37))
    import io

    buf = io.BytesIO()
    sf.write(buf, x, SR, format="WAV", subtype="FLOAT")
    np.testing.assert_allclose(small.posteriors(buf.getvalue())[1], probs, atol=1e-5)


def test_vad_detections_span_the_segment():
    """A vad-mode run of firing rows is the word itself: the detection spans it."""
    cfg = StreamConfig(mode="vad", smooth_s=0.01, min_s=0.0, suppress_s=0.1, threshold=0.5)
    times = (np.arange(300) * 160 + 400) / SR
    probs = np.zeros((300, len(LABELS)), np.float32)
    probs[:, LABELS.index("_silence_")] = 1.0
    probs[100:150] = 0.0
    probs[100:150, 0] = 0.8
    probs[100:150, LABELS.index("_silence_")] = 0.2
    from audio_rnn.spotting.detection import detection_lag

    (d,) = detect_posteriors(times, probs, LABELS, cfg, lag=detection_lag(cfg))
    assert d.label == LABELS[0] and d.score == pytest.approx(0.8)
    assert d.start == pytest.approx(times[100] - 0.025, abs=1e-3) and d.end == pytest.approx(times[149], abs=1e-3)
    assert not detect_posteriors(times, probs, LABELS, replace(cfg, keyword_thresholds={LABELS[0]: 0.9}),
                                 lag=detection_lag(cfg))


def test_state_mode_refuses_pooling_over_the_whole_stream(tmp_path):
    from audio_rnn.training import checkpoint
    from audio_rnn.errors import CheckpointError
    from audio_rnn.audio.features import FeatureConfig
    from audio_rnn.keywords.models import KeywordRNN, KWSDims

    dims = KWSDims(n_in=20, hidden=8, layers=1, pooling="attention")
    checkpoint.save(tmp_path, KeywordRNN(dims).state_dict(), {"kind": "kws", "labels": LABELS, "model": dims.to_dict(),
                                                               "features": FeatureConfig().to_dict()})
    assert Spotter(tmp_path, WINDOW_DEFAULTS).posteriors(_tone_noise(SR))[1].shape[1] == 12
    with pytest.raises(CheckpointError, match="state mode"):
        Spotter(tmp_path, StreamConfig(mode="state"))


def test_short_recording_gives_rows(random_model):
    folder, _ = random_model
    times, probs, _ = Spotter(folder).posteriors(_tone_noise(3000))
    assert probs.shape == (1 + (3000 - 400) // 160, 12)


# ----------------------------------------------------------------------------- detection on synthetic posteriors


def _posteriors(seconds: float, bumps: list[tuple[str, float, float, float]], step: float = 0.01):
    """Silence everywhere except `(label, start, end, p)` bumps; returns (times, probs)."""
    times = np.arange(int(seconds / step)) * step + step
    probs = np.zeros((len(times), len(LABELS)), np.float32)
    probs[:, LABELS.index("_silence_")] = 1.0
    for label, a, b, p in bumps:
        sel = (times >= a) & (times < b)
        probs[sel] = (1 - p) / (len(LABELS) - 1)
        probs[sel, LABELS.index(label)] = p
    return times, probs


CFG = StreamConfig(mode="window", smooth_s=0.2, threshold=0.7, min_s=0.1, suppress_s=0.5)


def test_detect_one_word_with_label_span_and_score():
    times, probs = _posteriors(5, [("seven", 2.0, 2.6, 0.95)])
    dets = detect_posteriors(times, probs, LABELS, CFG, lag=(1.1, 0.1))
    assert len(dets) == 1
    d = dets[0]
    assert d.label == "seven" and 0.9 < d.score <= 0.95 + 1e-6
    # the 0.2 s average is >= 0.7 from 2.14 s to 2.65 s: start = 2.65 - 1.1, end = 2.14 - 0.1
    assert d.start == pytest.approx(1.55, abs=0.02) and d.end == pytest.approx(2.04, abs=0.02)


def test_detect_threshold_min_duration_and_non_keywords():
    times, probs = _posteriors(6, [("three", 1.0, 1.6, 0.6),  # below threshold
                                   ("four", 2.5, 2.58, 0.99),  # too short once smoothed over 0.2 s
                                   ("_unknown_", 4.0, 4.8, 0.99)])  # not a keyword
    assert detect_posteriors(times, probs, LABELS, CFG) == []
    low = StreamConfig(mode="window", smooth_s=0.2, threshold=0.5, min_s=0.1, suppress_s=0.5)
    assert [d.label for d in detect_posteriors(times, probs, LABELS, low)] == ["three"]
    short = StreamConfig(mode="window", smooth_s=0.01, threshold=0.7, min_s=0.05, suppress_s=0.5)
    assert [d.label for d in detect_posteriors(times, probs, LABELS, short)] == ["four"]


def test_smoothing_removes_a_one_frame_spike():
    times, probs = _posteriors(3, [("nine", 1.0, 1.01, 1.0)])
    top, score = Decider(LABELS, StreamConfig(mode="window", smooth_s=0.5), (1.0, 0.0), 0.01).smooth(probs)
    assert not (top == LABELS.index("nine")).any() and score.min() > 0.9  # the spike is 1/50 of the average
    assert detect_posteriors(times, probs, LABELS, StreamConfig(mode="window", smooth_s=0.5, min_s=0.0)) == []


def test_suppression_merges_repeats_and_keeps_the_stronger_label():
    times, probs = _posteriors(8, [("two", 1.0, 1.5, 0.9), ("two", 1.7, 2.2, 0.95),  # same word, short gap: one
                                   ("five", 4.0, 4.6, 0.8), ("one", 4.8, 5.3, 0.97),  # close rivals: the stronger
                                   ("six", 6.5, 7.0, 0.9)])  # far enough: its own detection
    dets = detect_posteriors(times, probs, LABELS, CFG)
    assert [d.label for d in dets] == ["two", "one", "six"]
    assert dets[0].score == pytest.approx(0.95, abs=1e-3)
    far = StreamConfig(mode="window", smooth_s=0.2, threshold=0.7, min_s=0.1, suppress_s=0.1)
    assert [d.label for d in detect_posteriors(times, probs, LABELS, far)] == ["two", "two", "five", "one", "six"]


def test_detection_json_fields():
    assert Detection("one", 1.23456, 2.0, 0.912345).to_dict() == {"label": "one", "start": 1.235, "end": 2.0,
                                                                   "score": 0.9123}


# ----------------------------------------------------------------------------- the real CLI end to end


def _spot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audio_rnn", "spot", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


@pytest.mark.parametrize("mode", ["default", "window"])
def test_spot_json_finds_held_out_digits_in_a_real_stream(fsdd_dir, tmp_path, mode):
    """Real FSDD takes of the held-out speaker (test half) and espeak-ng words in held-out voices, over
    pink noise, through `spot --json`: the shipped default (the clip model on voice-activity segments) and the
    clip recognizer in windows (`--mode window`) find every espeak-ng digit and some of george's 7 hard takes."""
    from audio_rnn.audio.decode import load_audio
    from audio_rnn.streams.synth import SR as ESR, trimmed_word, mix, speak
    from audio_rnn.streams.scoring import score

    rng = np.random.default_rng(7)
    plan = [("fsdd", "three"), ("espeak", "hello"), ("fsdd", "seven"), ("espeak", "two"), ("fsdd", "zero"),
            ("espeak", "garden"), ("fsdd", "nine"), ("espeak", "eight"), ("fsdd", "five"), ("fsdd", "one"),
            ("espeak", "window"), ("fsdd", "six"), ("espeak", "four")]
    pieces, words, t = [], [], ESR
    for k, (src, word) in enumerate(plan):
        if src == "fsdd":
            x = trimmed_word(load_audio(fsdd_dir / f"{LABELS.index(word)}_george_{30 + k}.wav"))
        else:
            x = speak(word, "en-us", "m6", rng)
        pieces.append((t, x))
        words.append({"label": word if word in LABELS else "_unknown_", "word": word, "start": t / ESR,
                      "end": (t + len(x)) / ESR})
        t += len(x) + int(1.2 * ESR)
    wave, _ = mix(t, pieces, "pink", 20.0, rng)
    path = tmp_path / "stream.wav"
    sf.write(path, wave, ESR, subtype="PCM_16")
    out = _spot(str(path), "--json", *(["--mode", "window"] if mode == "window" else []))
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert all(set(r) == {"label", "start", "end", "score"} for r in rows)
    assert [r["start"] for r in rows] == sorted(r["start"] for r in rows)
    assert all(r["label"] in LABELS[:10] for r in rows)
    dets = [Detection(**r) for r in rows]
    by_source = {src: score(dets, [w for (s_, _), w in zip(plan, words) if s_ == src or w["label"] == "_unknown_"],
                            len(wave) / ESR) for src in ("fsdd", "espeak")}
    assert by_source["espeak"].keywords == 3 and by_source["espeak"].right == 3, (rows, words)
    # george is the hardest held-out speaker (85% of his 500 clips as clips); these 7 takes are hard ones. The
    # shipped default (vad) finds 4. The clip model in windows finds 2 with the 1,349-speaker digit model (4 with
    # the one before), while on the 106 george digits of the test-half streams it finds 80% (79% before)
    assert by_source["fsdd"].keywords == 7 and by_source["fsdd"].right >= (4 if mode == "default" else 2), (rows, words)
    s = score(dets, words, len(wave) / ESR)
    assert s.false_alarms <= 1 and s.wrong <= 2, (rows, words)


def test_spot_bad_file_is_one_error_line(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio\n")
    out = _spot(str(bad))
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0 and "Error:" in out.stderr and "Traceback" not in out.stderr
    missing = _spot(str(tmp_path / "nope.wav"), "--json")
    assert missing.returncode == 1 and "not found" in missing.stderr and "Traceback" not in missing.stderr


# ----------------------------------------------------------------------------- memory on long files


def _write_long(path: Path, seconds: float) -> None:
    """A long 16 kHz file written block by block (bounded memory in the test too)."""
    with sf.SoundFile(str(path), "w", SR, 1, subtype="PCM_16") as f:
        for i in range(int(np.ceil(seconds / 60))):
            f.write(_tone_noise(int(min(60, seconds - 60 * i) * SR), seed=i))


def _peak_rss_mb(path: Path) -> float:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (pytest with torch loaded)
    code = ("import re, sys; from audio_rnn.cli import main; rc = main(['spot', sys.argv[1], '--json']); "
            "print(int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) / 1024, "
            "file=sys.stderr); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT,
                         timeout=3600)
    assert out.returncode == 0, out.stderr
    return float(out.stderr.strip().splitlines()[-1])


def test_spot_memory_on_a_three_minute_file(tmp_path):
    path = tmp_path / "three_minutes.wav"
    _write_long(path, 180)
    assert _peak_rss_mb(path) < 300


@pytest.mark.slow
def test_spot_memory_on_a_two_hour_file(tmp_path):
    path = tmp_path / "two_hours.wav"
    _write_long(path, 7200)
    assert _peak_rss_mb(path) < 500


@pytest.mark.parametrize("hold_s", [None, 0.0, 0.2])
def test_the_decider_decides_the_same_whatever_the_block_sizes(hold_s):
    """Files feed the decider 120 s blocks, microphones 20 ms ones: the detections and the times they were
    decided must not depend on where the rows were cut (final and early deciding alike)."""
    rng = np.random.default_rng(7)
    bumps, t = [], 0.5
    while t < 28:
        lab = str(rng.choice(LABELS))
        bumps.append((lab, t, t + float(rng.uniform(0.05, 0.8)), float(rng.uniform(0.4, 1.0))))
        t = bumps[-1][2] + float(rng.uniform(0.05, 1.2))
    times, probs = _posteriors(30, bumps)
    cfg = StreamConfig(mode="window", smooth_s=0.2, threshold=0.5, min_s=0.1, suppress_s=0.5)
    results = []
    for cuts in ([], [1, 2, 3, 777], sorted(rng.choice(len(times), 40, replace=False)), list(range(1, len(times)))):
        d = Decider(LABELS, cfg, (1.0, 0.2), 0.01, hold_s)
        dets = []
        for a, b in zip([0, *cuts], [*cuts, len(times)]):
            dets += d.feed(times[a:b], probs[a:b])
        dets += d.close(float(times[-1]))
        results.append((dets, d.decided_at))
    assert len(results[0][0]) >= 5
    assert all(r == results[0] for r in results[1:])


def test_spot_placements_flag_sets_the_windows_averaged_per_segment():
    """`spot --placements 5` averages the five shifted windows (the vad mode shipped before); 1 is the default."""
    import argparse

    from audio_rnn.spotting.spot_cli import PLACEMENTS, configure_spot, make_spotter

    p = argparse.ArgumentParser()
    configure_spot(p)
    one = make_spotter(p.parse_args(["x.wav"]))
    five = make_spotter(p.parse_args(["x.wav", "--placements", "5"]))
    assert one.config.shifts_s == PLACEMENTS[1] and five.config.shifts_s == PLACEMENTS[5]
    assert "5 placements" in five.describe() and "centred" in one.describe()
    x = np.concatenate([np.zeros(4000, np.float32), sf.read(str(ROOT / "samples" / "digits" / "seven.wav"),
                                                           dtype="float32")[0], np.zeros(8000, np.float32)])
    assert [d.label for d in five.detect(x)] == [d.label for d in one.detect(x)] == ["seven"]
