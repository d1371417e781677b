"""Live spotting: `LiveSpotter` against the offline `Spotter.detect` on a real stream (final and early
decisions, resampled input, window mode), the WAV/raw stream reader, and `spot -` fed in real time
through a pipe (detections, and each within 1 s of its word's end)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_rnn.audio.pcm_stream import PcmStream
from audio_rnn.spotting.live import LiveSpotter
from audio_rnn.spotting.network import spotter_path
from audio_rnn.spotting.streaming import Spotter

from live_streams import keywords, real_stream

STATE = str(spotter_path("digits", mode="state"))  # the stream-trained digit spotter (carried state)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stream(fsdd_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("live") / "real.wav"
    words = real_stream(fsdd_dir, path)
    return path, words


@pytest.fixture(scope="module")
def spotter():
    return Spotter(STATE)  # the stream-trained spotter: carried state, early and final decisions


def _feed(live: LiveSpotter, x: np.ndarray, seed: int = 0) -> list:
    """Feed in random chunks of 1-3000 samples, as a microphone or pipe delivers them; then close."""
    rng = np.random.default_rng(seed)
    out, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, 3000))
        out += live.feed(x[i:i + n])
        i += n
    return out + live.close()


def test_final_decisions_equal_the_offline_exact_pass_and_the_default(stream, spotter):
    path, words = stream
    x, _ = sf.read(path, dtype="float32")
    exact = Spotter(STATE, segment_s=0).detect(path)
    live = LiveSpotter(spotter, hold_s=None)
    got = _feed(live, x)
    assert got == exact  # same labels, spans and scores, value for value
    assert [d.label for d in got] == [w["label"] for w in keywords(words)]  # this stream: every keyword found
    default = spotter.detect(path)  # 4 s stretches side by side: the same words, spans within 0.05 s, scores 0.01
    assert [d.label for d in default] == [d.label for d in got]
    assert max(abs(a.start - b.start) + abs(a.end - b.end) for a, b in zip(default, got)) <= 0.05
    assert max(abs(a.score - b.score) for a, b in zip(default, got)) <= 0.01
    # final means: nothing later could change it, suppress_s after its run; here 0.9 s after the word's end
    lags = [t - w["end"] for t, w in zip(live.decided_at, keywords(words))]
    assert all(0.5 < lag < 1.4 for lag in lags), lags


def test_early_decisions_give_the_same_words_within_a_third_of_a_second(stream, spotter):
    path, words = stream
    x, _ = sf.read(path, dtype="float32")
    exact = Spotter(STATE, segment_s=0).detect(path)
    live = LiveSpotter(spotter)
    got = _feed(live, x, seed=1)
    assert [d.label for d in got] == [d.label for d in exact]
    # the early score is the highest smoothed posterior heard when deciding; the run may still rise after it
    assert all(a.end == b.end and abs(a.start - b.start) <= 0.2 and b.score - 0.25 <= a.score <= b.score + 1e-4
               for a, b in zip(got, exact)), (got, exact)
    lags = [t - w["end"] for t, w in zip(live.decided_at, keywords(words))]
    assert max(lags) <= 0.35, lags


def test_a_48_khz_input_is_resampled_as_offline(stream, spotter, tmp_path):
    import soxr

    path, _ = stream
    x, _ = sf.read(path, dtype="float32")
    y = soxr.resample(x, 16000, 48000).astype(np.float32)
    sf.write(tmp_path / "48k.wav", y, 48000, subtype="FLOAT")
    got = _feed(LiveSpotter(spotter, rate=48000, hold_s=None), y)
    assert got == Spotter(STATE, segment_s=0).detect(tmp_path / "48k.wav")


def test_window_mode_clip_model_matches_offline(stream):
    from audio_rnn.spotting.detection import WINDOW_DEFAULTS
    from audio_rnn.spotting.network import spotter_path

    path, words = stream
    x, _ = sf.read(path, dtype="float32")
    clip = Spotter(str(spotter_path("digits", mode="window")), WINDOW_DEFAULTS)
    assert clip.config.mode == "window"
    offline = clip.detect(path)
    got = _feed(LiveSpotter(clip, hold_s=None), x, seed=2)
    assert [(d.label, d.start, d.end) for d in got] == [(d.label, d.start, d.end) for d in offline]
    assert np.allclose([d.score for d in got], [d.score for d in offline], atol=1e-3)
    assert len(got) >= 5


def test_vad_mode_live_equals_offline_and_hears_every_keyword(stream):
    """The clip model gated by the voice-activity detector: live (random chunks, 48 kHz resampled too) gives
    the offline detections value for value, each final within a second of its word's end."""
    import soxr

    from audio_rnn.spotting.detection import VAD_DEFAULTS
    from audio_rnn.spotting.network import spotter_path

    path, words = stream
    x, _ = sf.read(path, dtype="float32")
    vad = Spotter(str(spotter_path("digits", mode="vad")), VAD_DEFAULTS)
    offline = vad.detect(path)
    live = LiveSpotter(vad)
    got = _feed(live, x, seed=3)
    assert got == offline
    assert [d.label for d in got] == [w["label"] for w in keywords(words)]
    lags = [t - w["end"] for t, w in zip(live.decided_at, keywords(words))]
    assert all(0 < lag < 1.0 for lag in lags), lags
    y = soxr.resample(x, 16000, 48000).astype(np.float32)
    got48 = _feed(LiveSpotter(vad, rate=48000), y, seed=4)
    assert [d.label for d in got48] == [d.label for d in offline]


def test_posteriors_level_and_pending(stream, spotter):
    path, _ = stream
    x, _ = sf.read(path, dtype="float32")
    live = LiveSpotter(spotter, keep_s=10.0)
    live.feed(x[: 16000 * 12])
    t, p = live.posteriors(5.0)
    assert len(t) == 250 and p.shape == (250, len(live.labels)) and np.allclose(p.sum(axis=1), 1, atol=1e-4)
    assert abs(t[-1] - 12.0) < 0.03 and live.heard_s == 12.0
    assert len(live.posteriors()[0]) == 500  # keep_s
    assert -60 < live.level_db < 0
    live.feed(np.zeros(1600, np.int16))
    assert live.level_db <= -100


# ----------------------------------------------------------------------------- the stream reader


class _Trickle(io.RawIOBase):
    """A pipe that answers each read with at most `n` bytes (as a slow writer does)."""

    def __init__(self, data: bytes, n: int = 7):
        self.data, self.n, self.pos = data, n, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        k = min(self.n, size if size >= 0 else self.n)
        out = self.data[self.pos:self.pos + k]
        self.pos += len(out)
        return out


@pytest.mark.parametrize("subtype,channels", [("PCM_16", 1), ("PCM_24", 2), ("FLOAT", 1), ("PCM_U8", 2),
                                              ("PCM_32", 3)])
def test_wav_stream_reader_matches_soundfile(subtype, channels):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4001, channels)) * 0.2).clip(-1, 1).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, 22050, subtype=subtype, format="WAV")
    data = buf.getvalue() + b"LIST\x04\x00\x00\x00abcd"  # a chunk after the data is not audio
    s = PcmStream(_Trickle(data), read_size=333)
    got = np.concatenate(list(s.blocks()))
    ref, _ = sf.read(io.BytesIO(buf.getvalue()), dtype="float32", always_2d=True)
    assert s.rate == 22050 and s.channels == channels and len(got) == 4001
    np.testing.assert_allclose(got, ref.mean(axis=1), atol=1e-6)


def test_raw_stream_reader_and_its_errors():
    from audio_rnn.errors import EmptyAudioError, NotAudioError, SampleRateError, TruncatedAudioError

    pcm = (np.arange(-50, 50, dtype=np.int16) * 300).tobytes()
    got = np.concatenate(list(PcmStream(_Trickle(pcm, 3), raw=True, rate=8000).blocks()))
    assert np.allclose(got * 32768, np.arange(-50, 50) * 300)
    with pytest.raises(SampleRateError, match="--rate"):
        PcmStream(_Trickle(pcm), raw=True)
    with pytest.raises(NotAudioError, match="--raw --rate"):
        PcmStream(_Trickle(b"this is not audio, it is text\n"))
    with pytest.raises(EmptyAudioError):
        PcmStream(_Trickle(b""))
    buf = io.BytesIO()
    sf.write(buf, np.zeros(10, np.float32), 16000, format="WAV")
    with pytest.raises(TruncatedAudioError):
        PcmStream(_Trickle(buf.getvalue()[:30]))


# ----------------------------------------------------------------------------- `spot -` through a real pipe


def _spot_stdin(data: bytes, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audio_rnn", "spot", "-", *args], input=data, capture_output=True,
                          cwd=ROOT, timeout=120)


def test_spot_stdin_in_real_time_prints_each_word_while_the_stream_goes_on(stream):
    """The stream as raw 16-bit PCM, written in 20 ms chunks at real-time pace into `spot - --raw --rate
    16000 --json`: every keyword's line arrives, in order, before the stream ends. How soon after its word is
    a benchmark figure (`benchmarks/live_latency.py`); in stream time it is tested, deterministically, by
    `test_vad_mode_live_equals_offline_and_hears_every_keyword` (under 1 s)."""
    path, words = stream
    x, sr = sf.read(path, dtype="int16")
    proc = subprocess.Popen([sys.executable, "-m", "audio_rnn", "spot", "-", "--raw", "--rate", str(sr), "--json"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    lines: list[tuple[float, dict]] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic(), json.loads(line)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    chunk = sr // 50
    # the model loads while the first chunk waits in the pipe; pace from the first write on
    written_at = np.zeros(len(x) // chunk + 1)
    t0 = time.monotonic()
    for k, i in enumerate(range(0, len(x), chunk)):
        proc.stdin.write(x[i:i + chunk].tobytes())
        proc.stdin.flush()
        written_at[k] = time.monotonic()
        if k == 0:
            t0 = written_at[0] = time.monotonic()
        delay = t0 + (i + chunk) / sr - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    proc.stdin.close()
    assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
    reader.join(timeout=10)
    assert [r["label"] for _, r in lines] == [w["label"] for w in keywords(words)], lines
    assert all(set(r) == {"label", "start", "end", "score"} for _, r in lines)
    ends = [written_at[min(len(written_at) - 1, int(w["end"] * sr) // chunk)] for w in keywords(words)]
    assert all(arrived > end for (arrived, _), end in zip(lines, ends))  # each after its word was written
    assert all(arrived < written_at[-1] for arrived, _ in lines[:-1])  # printed while the stream went on


def test_spot_stdin_wav_stream_and_final_mode(stream):
    path, _ = stream
    out = _spot_stdin(path.read_bytes(), "--json", "--final")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert rows == [d.to_dict() for d in Spotter().detect(path)]  # the shipped spotter: its offline detections


@pytest.mark.parametrize("data,args,message", [
    (b"this is not audio\n", (), "not a WAV stream"),
    (b"", (), "no audio arrived"),
    (b"\x00\x01" * 100, ("--raw",), "--rate N"),
    (b"", ("--raw", "--rate", "16000"), "ended before any samples"),
    (b"\x00\x01" * 100, ("--raw", "--rate", "100"), "outside"),
])
def test_spot_stdin_bad_input_is_one_error_line(data, args, message):
    out = _spot_stdin(data, *args)
    err = out.stderr.decode()
    assert out.returncode == 1 and message in err and err.strip().count("\n") == 0 and "Traceback" not in err, err


def test_live_options_on_a_file_are_one_error_line():
    out = subprocess.run([sys.executable, "-m", "audio_rnn", "spot", "samples/long/three_words.wav", "--raw"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 1 and "spot -" in out.stderr and out.stderr.strip().count("\n") == 0
