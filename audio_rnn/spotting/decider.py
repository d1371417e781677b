"""The one decider: posterior rows in, keyword detections out, for files and microphones alike.

As TensorFlow's RecognizeCommands does, `Decider` averages the posteriors over the
past `smooth_s` (carried across calls), takes the top label, keeps runs of a keyword
above its threshold that last `min_s`, and merges or suppresses runs within
`suppress_s`: a same-label run that starts inside that gap extends the last one, a
stronger other label replaces it, a weaker one is dropped. `Spotter.detect` feeds it
a file's rows block by block and `LiveSpotter` a microphone's as they come; both get
it from `Spotter.decider()`, which reads the step, the lag and the settings from the
checkpoint's config.

It decides in one of two ways:

* final (`hold_s=None`): a kept run is announced once nothing still to come can
  change it (the stream has passed `suppress_s` beyond its end with no run open that
  started inside that gap). Rows are handled a run at a time (numpy finds the runs),
  so a 30-minute file costs milliseconds here.
* early (`hold_s` >= 0): a keyword run is announced once it has lasted `min_s + hold_s`
  (0.2-0.3 s after the word ends in window or state mode); the strongest label heard
  by then wins, and what follows within `suppress_s` is merged into it (same label)
  or suppressed. The span's start assumes a 0.5 s word while the run is still going.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from audio_rnn.keywords.data import SILENCE, UNKNOWN
from audio_rnn.spotting.detection import WINDOW_DEFAULTS, Detection, StreamConfig, word_span

WORD_S = 0.5  # typical keyword length (as `detection.detection_lag` assumes): an open run's start estimate


@dataclass
class _Run:
    label: int
    first: float
    last: float
    peak: float
    into: "_Run | None" = None  # early mode: the run this one's extent counts towards (itself when a candidate)


class Decider:
    """Posterior rows -> detections: `feed(times, probs)` returns those now decided, `close(now)` the rest."""

    def __init__(self, labels: list[str], config: StreamConfig, lag: tuple[float, float], step: float,
                 hold_s: float | None = None):
        """`step`: seconds between rows; `lag`: (start, end) offsets from a run to its word (`detection_lag`);
        `hold_s`: None decides finally, a number announces a run once it has lasted `min_s + hold_s`."""
        self.labels, self.config, self.lag, self.dt = list(labels), config, lag, float(step)
        self.hold_s = hold_s
        self.k = max(1, int(round(config.smooth_s / self.dt))) if config.smooth_s > 0 else 1
        self._hist: np.ndarray | None = None  # the last k - 1 rows, for the moving average
        self.keyword = np.array([lab not in (SILENCE, UNKNOWN) for lab in self.labels])
        self.thresholds = config.thresholds(self.labels)
        self.open: _Run | None = None  # the run of firing rows in progress
        self.kept: _Run | None = None  # final: the last kept run, not yet final; early: the candidate
        self.said: _Run | None = None  # early: the last announced run
        self.decided_at: list[float] = []  # stream time at which each returned detection was decided

    # -- rows in
    def smooth(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(top label, its averaged probability) per row: the causal `smooth_s` average, carried across calls."""
        probs = np.asarray(probs, dtype=np.float64)
        hist = self._hist if self._hist is not None else np.zeros((0, probs.shape[1]))
        full = np.concatenate([hist, probs])
        c = np.concatenate([np.zeros((1, full.shape[1])), np.cumsum(full, axis=0)])
        idx = np.arange(len(hist) + 1, len(full) + 1)
        lo = np.maximum(0, idx - self.k)
        sm = (c[idx] - c[lo]) / (idx - lo)[:, None]
        top = sm.argmax(axis=1)
        self._hist = full[max(0, len(full) - (self.k - 1)):]
        return top, sm[np.arange(len(sm)), top].astype(np.float32)

    def feed(self, times: np.ndarray, probs: np.ndarray) -> list[Detection]:
        """Rows (times (n,), probs (n, C)) in stream order -> the detections decided by them."""
        if not len(times):
            return []
        top, score = self.smooth(probs)
        fire = self.keyword[top] & (score >= self.thresholds[top])
        key = np.where(fire, top, -1)
        times = np.asarray(times, dtype=np.float64)
        edges = np.flatnonzero(np.diff(key)) + 1
        out: list[Detection] = []
        for i, j in zip(np.concatenate([[0], edges]), np.concatenate([edges, [len(key)]]) - 1):
            if self.hold_s is None:
                self._final_stretch(out, int(key[i]), times[i:j + 1], score[i:j + 1], continues=i == 0)
            else:
                self._early_stretch(out, int(key[i]), times[i:j + 1], score[i:j + 1])
        return out

    def close(self, now: float) -> list[Detection]:
        """The stream ended at `now`: the open run ends at its last row, and what is pending is final."""
        out: list[Detection] = []
        if self.hold_s is None:
            self._end_open(now)
            if self.kept is not None:
                self._announce(out, self.kept, now)
        elif self.kept is not None:  # a candidate heard to the end: announce it
            self._announce(out, self.kept, now)
            self.said = self.kept
        self.open = self.kept = None
        return out

    # -- final decisions, a stretch of equal rows at a time
    def _final_stretch(self, out: list[Detection], key: int, t: np.ndarray, s: np.ndarray, continues: bool) -> None:
        o = self.open
        if o is not None and not (continues and key == o.label):
            self._end_open(float(t[0]))
        if key >= 0:
            if self.open is None:
                self.open = _Run(key, float(t[0]), float(t[-1]), float(s.max()))
            else:
                self.open.last, self.open.peak = float(t[-1]), max(self.open.peak, float(s.max()))
        k, gap = self.kept, self.config.suppress_s
        if k is None or (self.open is not None and self.open.first - k.last < gap):
            return
        due = np.flatnonzero(t - k.last >= gap)
        if len(due):
            self._announce(out, k, float(t[due[0]]))
            self.kept = None

    def _end_open(self, now: float) -> None:
        """The open run ended: drop it if too short, else merge, replace, suppress or keep it."""
        r, self.open = self.open, None
        if r is None or r.last - r.first + self.dt < self.config.min_s - 1e-9:
            return
        k = self.kept
        if k is not None and r.first - k.last < self.config.suppress_s:
            if k.label == r.label:
                k.last, k.peak = r.last, max(k.peak, r.peak)
            elif r.peak > k.peak:
                self.kept = r
            return
        self.kept = r  # (a kept run further back was announced when the gap passed)

    # -- early decisions
    def _early_stretch(self, out: list[Detection], key: int, t: np.ndarray, s: np.ndarray) -> None:
        if key >= 0:
            for ti, si in zip(t.tolist(), s.tolist()):
                self._early_row(out, ti, key, si)
            return
        self.open = None  # quiet rows: only a candidate's announcement can happen here
        k = self.kept
        if k is not None:
            due = np.flatnonzero(t - k.first + self.dt >= self.config.min_s + self.hold_s - 1e-9)
            if len(due):
                self._announce(out, k, float(t[due[0]]))
                self.said, self.kept = k, None

    def _early_row(self, out: list[Detection], t: float, key: int, s: float) -> None:
        """One firing row of early deciding (see the module docstring)."""
        c, gap = self.config, self.config.suppress_s
        if self.open is not None and self.open.label != key:
            self.open = None
        if self.open is None:
            self.open = _Run(key, t, t, s)
        else:
            self.open.last, self.open.peak = t, max(self.open.peak, s)
        r = self.open
        if r.last - r.first + self.dt >= c.min_s - 1e-9:
            if r.into is None:  # it just qualified: where does it count?
                r.into = self._early_target(r)
            tgt = r.into
            if tgt is not r:
                tgt.last, tgt.peak = max(tgt.last, r.last), max(tgt.peak, r.peak)
            elif self.kept is not None and self.kept is not r and r.label != self.kept.label \
                    and r.peak > self.kept.peak and r.first - self.kept.last < gap \
                    and (self.said is None or r.first - self.said.last >= gap):
                self.kept = r  # a stronger rival takes over before the announcement
        k = self.kept
        if k is not None and t - k.first + self.dt >= c.min_s + self.hold_s - 1e-9:
            self._announce(out, k, t, running=self.open is k)
            self.said, self.kept = k, None

    def _early_target(self, r: _Run) -> _Run:
        """The run a newly qualified run counts towards: the announced one (same label), the candidate (same
        label), itself as a suppressed rival (another label within the gap), or itself as the new candidate."""
        a, k, gap = self.said, self.kept, self.config.suppress_s
        if a is not None and r.first - a.last < gap:
            return a if a.label == r.label else r
        if k is not None and r.first - k.last < gap and (k.label == r.label or r.peak <= k.peak):
            return k if k.label == r.label else r
        self.kept = r
        return r

    # -- detections out
    def _announce(self, out: list[Detection], r: _Run, now: float, running: bool = False) -> None:
        out.append(self._detection(r, running))
        self.decided_at.append(now)

    def _detection(self, r: _Run, running: bool = False) -> Detection:
        if running and self.config.mode != "vad":  # the run's end is still to come: assume a typical word
            end = r.first - self.lag[1]
            start = max(end - WORD_S, 0.0)
            return Detection(self.labels[r.label], round(start, 3), round(max(end, start + 0.05), 3), round(r.peak, 4))
        return Detection(self.labels[r.label], *word_span(r.first, r.last, self.config, self.lag), round(r.peak, 4))

    @property
    def pending(self) -> dict[str, Any] | None:
        """The keyword being decided (kept run, else an open run long enough to count), or None:
        label, score so far, time of its first row."""
        r = self.kept
        if r is None and self.open is not None and self.open.last - self.open.first + self.dt >= self.config.min_s - 1e-9:
            r = self.open
        if r is None:
            return None
        return {"label": self.labels[r.label], "score": round(r.peak, 4), "since": round(r.first, 3)}


def detect_posteriors(times: np.ndarray, probs: np.ndarray, labels: list[str], config: StreamConfig = WINDOW_DEFAULTS,
                      lag: tuple[float, float] = (1.25, 0.25), step: float | None = None) -> list[Detection]:
    """Final detections from a whole stream's (T, C) posteriors (one `Decider` over all rows)."""
    times = np.asarray(times, dtype=np.float64)
    if not len(times):
        return []
    if step is None:
        step = float(np.median(np.diff(times[:1000]))) if len(times) > 1 else 0.01
    d = Decider(labels, config, lag, step)
    return d.feed(times, probs) + d.close(float(times[-1]))
