"""One listener's live stream, shared between the thread that receives audio and the one that displays it.

A WebRTC receiver pushes 20 ms frames (48 kHz interleaved int16, stereo) from
its event loop; the page reads a snapshot several times a second. `ListenSession`
holds a `LiveSpotter` behind a lock, turns interleaved frames into mono, and
keeps what a display needs: recent posteriors, the detections newest first with
the wall time each was decided, the level, the pending word. Each browser
session owns one, so listeners never share state; the `Spotter` (weights only)
is shared. `stop()` frees the stream's state; the next frame starts a new one.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import numpy as np

from audio_rnn.spotting.live import HOLD_S, LiveSpotter
from audio_rnn.spotting.streaming import Spotter

ONSET_DB = -30.0  # the first frame this loud marks where speech starts (latency benchmarks align on it)
LOG_ENV = "AUDIO_RNN_LIVE_LOG"  # a file: each stream's start and detections appended as JSON lines


def interleaved_to_mono(pcm: np.ndarray, channels: int) -> np.ndarray:
    """Interleaved samples (int16 or float, any shape) -> mono float32 in [-1, 1], channels averaged."""
    x = np.asarray(pcm).reshape(-1)
    x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)
    if channels > 1:
        x = x[: len(x) // channels * channels].reshape(-1, channels).mean(axis=1)
    return x


class ListenSession:
    """Thread-safe live spotting for one listener: `push` audio from any thread, `snapshot` for the page."""

    def __init__(self, spotter: Spotter, keep_s: float = 10.0, max_words: int = 100, hold_s: float | None = HOLD_S):
        self.spotter, self.keep_s, self.max_words, self.hold_s = spotter, keep_s, max_words, hold_s
        self.labels = list(spotter.labels)
        self._lock = threading.Lock()
        self._live: LiveSpotter | None = None
        self._words: list[dict[str, Any]] = []  # newest first
        self._wall0 = 0.0  # wall time at which stream time 0 arrived (earliest estimate)
        self.onset_s: float | None = None  # stream time of the first loud frame
        self.streams = 0  # streams started in this session
        self.frames = 0
        self.id = f"{os.getpid()}-{id(self):x}"

    # -- receiver side
    def push(self, pcm: np.ndarray, rate: int, channels: int = 1) -> None:
        """One frame of interleaved audio as received; decides detections on the spot."""
        x = interleaved_to_mono(pcm, channels)
        now = time.time()
        with self._lock:
            if self._live is None or self._live.rate != rate:
                self._start(rate, now)
            live = self._live
            assert live is not None
            dets = live.feed(x)
            self.frames += 1
            self._wall0 = min(self._wall0, now - live.heard_s)
            if self.onset_s is None and live.level_db > ONSET_DB:
                self.onset_s = live.heard_s - len(x) / rate
            self._add(dets, now)

    def _start(self, rate: int, now: float) -> None:
        self._live = LiveSpotter(self.spotter, rate=rate, keep_s=self.keep_s, hold_s=self.hold_s)
        self._words, self.onset_s, self._wall0, self.frames = [], None, now, 0
        self.streams += 1
        self._log({"event": "start", "rate": rate, "wall": now})

    def _add(self, dets: list, now: float) -> None:
        live = self._live
        assert live is not None
        for d, at in zip(dets, live.decided_at[len(live.decided_at) - len(dets):]):
            row = {**d.to_dict(), "decided_at": round(at, 3), "heard_s": round(live.heard_s, 4), "wall": now}
            self._words.insert(0, row)
            self._log({"event": "detection", **row, "wall0": self._wall0, "onset_s": self.onset_s})
        del self._words[self.max_words:]

    def stop(self) -> None:
        """The stream ended: decide what is pending, free the stream's state (results stay readable)."""
        with self._lock:
            live, self._live = self._live, None
            if live is not None and not live.closed:
                try:
                    self._add(live.close(), time.time())
                except Exception:  # a stream too short to analyse: nothing to add
                    pass
                self._log({"event": "stop", "wall": time.time(), "heard_s": live.heard_s})
            # keep `_live` None: the LiveSpotter and its buffers go with it

    @property
    def active(self) -> bool:
        return self._live is not None

    # -- display side
    def snapshot(self, seconds: float = 5.0) -> dict[str, Any]:
        """What the page shows: recent posteriors (times, probs), detections newest first, level, pending."""
        with self._lock:
            live = self._live
            if live is None:
                times, probs = np.zeros(0), np.zeros((0, len(self.labels)), np.float32)
                level, heard, pending = -120.0, 0.0, None
            else:
                times, probs = live.posteriors(seconds)
                level, heard, pending = live.level_db, live.heard_s, live.pending
            return {"times": times, "probs": probs, "labels": self.labels, "words": [dict(w) for w in self._words],
                    "level_db": level, "heard_s": heard, "pending": pending, "active": live is not None}

    def _log(self, row: dict[str, Any]) -> None:
        path = os.environ.get(LOG_ENV)
        if path:
            with open(path, "a") as f:
                f.write(json.dumps({"session": self.id, **row}) + "\n")
