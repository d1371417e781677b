"""One listener's live stream, shared between the thread that receives audio and the one that displays it.

A WebRTC receiver pushes 20 ms frames (48 kHz interleaved int16, stereo) from
its event loop; the page reads a snapshot several times a second. `push` only
queues the frame (mono), so the receiver's loop, which every session shares,
never waits for the network: one worker thread per session feeds its
`LiveSpotter`, all the frames queued since its last turn at once (a session
that fell behind catches up in batched steps). The queue is bounded
(`max_queue_s`); audio past it is counted in `dropped_s`, never dropped
silently, and the snapshot says how far behind the worker is. It keeps what a
display needs: recent posteriors, the detections newest first with
the wall time each was decided, the level, the pending word. Each browser
session owns one, so listeners never share state; the `Spotter` (weights only)
is shared. `stop()` frees the stream's state; the next frame starts a new one.
"""

from __future__ import annotations

import json
import os
import queue
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

    def __init__(self, spotter: Spotter, keep_s: float = 10.0, max_words: int = 100, hold_s: float | None = HOLD_S,
                 max_queue_s: float = 30.0):
        self.spotter, self.keep_s, self.max_words, self.hold_s = spotter, keep_s, max_words, hold_s
        self.max_queue_s = max_queue_s
        self.labels = list(spotter.labels)
        self._lock = threading.Lock()  # the LiveSpotter and the results (worker and page)
        self._qlock = threading.Lock()  # the queue's bookkeeping (receiver and worker): held only for moments
        self._queue: queue.Queue = queue.Queue()
        self._queued_s = 0.0  # seconds of audio waiting for the worker
        self._worker: threading.Thread | None = None
        self.dropped_s = 0.0  # audio that arrived while the queue was full (shown, never silent)
        self._live: LiveSpotter | None = None
        self._words: list[dict[str, Any]] = []  # newest first, across streams (a stop keeps them; `clear` empties)
        self._wall0 = 0.0  # wall time at which stream time 0 arrived (earliest estimate)
        self.onset_s: float | None = None  # stream time of the first loud frame
        self.streams = 0  # streams started in this session
        self.frames = 0
        self._last_push = 0.0  # wall time of the last frame received
        self.id = f"{os.getpid()}-{id(self):x}"

    # -- receiver side
    def push(self, pcm: np.ndarray, rate: int, channels: int = 1) -> None:
        """One frame of interleaved audio as received: queued for this session's worker (returns at once)."""
        x = interleaved_to_mono(pcm, channels)
        seconds = len(x) / rate
        self._last_push = time.time()
        with self._qlock:
            if self._queued_s + seconds > self.max_queue_s:
                self.dropped_s += seconds
                return
            self._queued_s += seconds
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name=f"listen-{self.id}", daemon=True)
                self._worker.start()
        self._queue.put((x, rate, time.time()))

    def _work(self) -> None:
        """The worker: everything queued since its last turn, fed at once; None ends the turn of a stop."""
        while True:
            batch = [self._queue.get()]
            while batch[-1] is not None:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            items = [b for b in batch if b is not None]
            i = 0
            while i < len(items):  # runs of one rate are fed together
                j = i + 1
                while j < len(items) and items[j][1] == items[i][1]:
                    j += 1
                self._feed(items[i:j])
                i = j
            if batch[-1] is None:
                return

    def _feed(self, items: list[tuple[np.ndarray, int, float]]) -> None:
        rate, now = items[0][1], items[-1][2]
        with self._lock:
            if self._live is None or self._live.rate != rate:
                self._start(rate, items[0][2])
            live = self._live
            assert live is not None
            if self.onset_s is None:  # the first loud frame, on the stream's clock
                at = live.heard_s
                for x, _, _ in items:
                    if 10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-12) > ONSET_DB:
                        self.onset_s = at
                        break
                    at += len(x) / rate
            dets = live.feed(np.concatenate([x for x, _, _ in items]))
            self.frames += len(items)
            self._wall0 = min(self._wall0, now - live.heard_s)
            self._add(dets, time.time())
        with self._qlock:
            self._queued_s = max(0.0, self._queued_s - sum(len(x) for x, _, _ in items) / rate)

    def _start(self, rate: int, now: float) -> None:
        self._live = LiveSpotter(self.spotter, rate=rate, keep_s=self.keep_s, hold_s=self.hold_s)
        self.onset_s, self._wall0, self.frames = None, now, 0
        self.streams += 1
        self._log({"event": "start", "rate": rate, "wall": now})

    def _add(self, dets: list, now: float) -> None:
        live = self._live
        assert live is not None
        for d, at in zip(dets, live.decided_at[len(live.decided_at) - len(dets):]):
            row = {**d.to_dict(), "decided_at": round(at, 3), "heard_s": round(live.heard_s, 4), "wall": now,
                   "take": self.streams}
            self._words.insert(0, row)
            self._log({"event": "detection", **row, "wall0": self._wall0, "onset_s": self.onset_s})
        del self._words[self.max_words:]

    def stop(self) -> None:
        """The stream ended: the worker finishes what is queued, then what is pending is decided and the
        stream's state freed (results stay readable)."""
        with self._qlock:
            worker, self._worker = self._worker, None
        if worker is not None:
            self._queue.put(None)
            worker.join(timeout=60)
        with self._lock:
            live, self._live = self._live, None
            if live is not None and not live.closed:
                try:
                    self._add(live.close(), time.time())
                except Exception:  # a stream too short to analyse: nothing to add
                    pass
                self._log({"event": "stop", "wall": time.time(), "heard_s": live.heard_s})
            # keep `_live` None: the LiveSpotter and its buffers go with it

    def clear(self) -> None:
        """Forget the words heard so far (the page's Clear button); a stream in progress goes on."""
        with self._lock:
            self._words = []

    def idle_s(self) -> float:
        """Seconds since the last frame arrived (a page that sees no track playing stops only an idle stream)."""
        return time.time() - self._last_push

    @property
    def active(self) -> bool:
        return self._live is not None or self._worker is not None

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
            snap = {"times": times, "probs": probs, "labels": self.labels, "words": [dict(w) for w in self._words],
                    "level_db": level, "heard_s": heard, "pending": pending, "active": live is not None}
        with self._qlock:
            snap.update(behind_s=round(self._queued_s, 3), dropped_s=round(self.dropped_s, 3))
        return snap

    def _log(self, row: dict[str, Any]) -> None:
        path = os.environ.get(LOG_ENV)
        if path:
            with open(path, "a") as f:
                f.write(json.dumps({"session": self.id, **row}) + "\n")
