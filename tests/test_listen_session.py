"""Five live listeners at once: each `ListenSession`, fed its own real stream as 48 kHz stereo 20 ms frames
from its own thread (as WebRTC delivers them), gets exactly the detections of that stream alone."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import soundfile as sf

from audio_rnn.ui.listen_session import ListenSession, interleaved_to_mono
from audio_rnn.spotting.live import LiveSpotter
from audio_rnn.spotting.streaming import Spotter

from live_streams import real_stream


def _frames(x: np.ndarray, sr: int):
    """48 kHz interleaved stereo int16 frames of 20 ms."""
    import soxr

    y = np.clip(soxr.resample(x, sr, 48000) * 32767, -32768, 32767).astype(np.int16)
    st = np.stack([y, y], axis=1).reshape(-1)
    return [st[i:i + 1920] for i in range(0, len(st), 1920)]


def test_interleaved_to_mono():
    pcm = np.array([[16384, -16384], [32767, 32767]], np.int16).reshape(-1)
    assert np.allclose(interleaved_to_mono(pcm, 2), [0.0, 32767 / 32768])


def test_five_concurrent_sessions_keep_their_own_results(fsdd_dir, tmp_path):
    spotter = Spotter()
    streams = []
    for k in range(5):  # different seeds: different voices' rates/pitches, noise; one stream reversed in order
        words = real_stream(fsdd_dir, tmp_path / f"s{k}.wav", seed=10 + k, gap_s=0.9 + 0.1 * k)
        x, sr = sf.read(tmp_path / f"s{k}.wav", dtype="float32")
        if k % 2:
            x = x[: len(x) // 2]  # two of them stop halfway: fewer words
        streams.append(_frames(x, sr))
    alone = []
    for frames in streams:
        live = LiveSpotter(spotter, rate=48000)  # what a session runs
        dets = [d.to_dict() for f in frames for d in live.feed(interleaved_to_mono(f, 2))]
        alone.append(dets + [d.to_dict() for d in live.close()])
    assert len({tuple(r["label"] for r in a) for a in alone}) >= 2  # the streams differ
    sessions = [ListenSession(spotter) for _ in streams]
    start = threading.Barrier(len(streams))

    def run(s: ListenSession, frames) -> None:
        start.wait()
        for f in frames:
            s.push(f, 48000, 2)
        s.stop()

    threads = [threading.Thread(target=run, args=(s, f)) for s, f in zip(sessions, streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for s, a in zip(sessions, alone):
        got = [{k: w[k] for k in ("label", "start", "end", "score")} for w in reversed(s.snapshot()["words"])]
        assert got == a
        assert not s.active and s.streams == 1


def test_ice_servers_come_from_the_environment(monkeypatch):
    from audio_rnn.ui.listen import ice_servers

    turn = [{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]
    monkeypatch.setenv("AUDIO_RNN_ICE_SERVERS", __import__("json").dumps(turn))
    assert ice_servers() == turn
    monkeypatch.delenv("AUDIO_RNN_ICE_SERVERS")
    assert ice_servers() == []  # localhost needs none


def test_push_returns_at_once_and_a_full_queue_is_counted_not_silent(fsdd_dir, tmp_path):
    """The receiver's loop never runs the network: push only queues; past `max_queue_s` the audio is counted
    as dropped and the snapshot says so; the worker catches up in batches and gives the stream's words."""
    spotter = Spotter()
    words = real_stream(fsdd_dir, tmp_path / "s.wav", seed=3)
    x, sr = sf.read(tmp_path / "s.wav", dtype="float32")
    frames = _frames(x, sr)
    alone = LiveSpotter(spotter, rate=48000)
    expected = [d.label for f in frames for d in alone.feed(interleaved_to_mono(f, 2))]
    expected += [d.label for d in alone.close()]
    s = ListenSession(spotter)
    t0 = time.perf_counter()
    for f in frames:
        s.push(f, 48000, 2)
    pushed = time.perf_counter() - t0
    s.stop()
    assert [w["label"] for w in reversed(s.snapshot()["words"])] == expected and expected
    assert s.snapshot()["dropped_s"] == 0.0
    assert pushed < len(x) / sr / 4, pushed  # queueing costs far less than hearing
    small = ListenSession(spotter, max_queue_s=0.5)
    with small._lock:  # the worker cannot take anything while the page holds the results
        for f in frames[:100]:  # 2 s of audio into a 0.5 s queue
            small.push(f, 48000, 2)
    small.stop()
    snap = small.snapshot()
    assert snap["dropped_s"] >= 1.4 and snap["behind_s"] == 0.0, snap


def test_live_chart_keeps_a_fixed_zero_to_one_axis():
    """A quiet room (all posteriors near 0) is drawn at the bottom of a 0-1 axis, not stretched into a peak."""
    from audio_rnn.ui.charts import live_posteriors

    labels = ["_silence_", "_unknown_", "one", "two"]
    times = np.arange(50) * 0.01
    probs = np.full((50, 4), 0.01, np.float32)
    spec = live_posteriors(times, probs, labels, 5.0)
    assert spec["encoding"]["y"]["scale"]["domain"] == [0, 1]
    assert spec["encoding"]["x"]["scale"]["domain"] == [-5.0, 0]
    assert {r["keyword"] for r in spec["data"]["values"]} == {"one", "two"}  # _silence_/_unknown_ not drawn
    assert max(r["p"] for r in spec["data"]["values"]) == 0.01


def test_a_stopped_session_keeps_its_words_across_takes_until_cleared(fsdd_dir, tmp_path):
    """Stop (or a track that ends, or a late frame that starts a new take) never drops the words heard:
    a second take adds to the list, numbered by take, and only `clear` empties it."""
    spotter = Spotter()
    real_stream(fsdd_dir, tmp_path / "s.wav", seed=4)
    x, sr = sf.read(tmp_path / "s.wav", dtype="float32")
    s = ListenSession(spotter)
    for f in _frames(x, sr):
        s.push(f, 48000, 2)
    s.stop()
    first = s.snapshot()["words"]
    assert len(first) >= 4 and not s.active and {w["take"] for w in first} == {1}
    for f in _frames(x[: sr * 3], sr):  # a second take: the first take's words stay listed below its own
        s.push(f, 48000, 2)
    s.stop()
    both = s.snapshot()["words"]
    assert both[len(both) - len(first):] == first and {w["take"] for w in both[:len(both) - len(first)]} <= {2}
    s.clear()
    assert s.snapshot()["words"] == []
