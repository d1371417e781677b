"""Detections decided step by step as posteriors arrive: `detection.runs_to_detections`, live.

`detection.runs_to_detections` looks at the stream as a whole: a keyword run merges with a
same-label run that starts within `suppress_s` after it, and a stronger
different-label run there replaces it. `Decider` decides in one of two ways:

* final (`hold_s=None`): it keeps only the last kept run and announces it once
  nothing still to come can change it (the stream has passed `suppress_s`
  beyond the run's end with no run open that started inside that gap): exactly
  `runs_to_detections`'s detections, but about 0.9 s after the word ends with the shipped
  spotter (its runs end ~0.4 s after the word, then the 0.5 s gap).
* early (`hold_s` >= 0): a keyword run is announced once it has lasted
  `min_s + hold_s` (0.2-0.3 s after the word ends with the shipped spotter), as
  RecognizeCommands does; the strongest label heard by then wins. What follows
  within `suppress_s` of an announced run is merged into it (same label) or
  suppressed (another label: `runs_to_detections` would keep it if it were stronger). The
  span's end is `runs_to_detections`'s; its start assumes a 0.5 s word while the run is
  still going; the score is the peak heard by the announcement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from audio_rnn.spotting.detection import SILENCE, UNKNOWN, Detection, StreamConfig, word_span


class RunningTop:
    """Causal `smooth_s` average of posteriors carried across calls: the top label and its score per step,
    as `detection.top_scores` computes over the whole stream."""

    def __init__(self, smooth_s: float, step: float):
        self.k = max(1, int(round(smooth_s / step))) if smooth_s > 0 else 1
        self.hist: np.ndarray | None = None

    def __call__(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs = np.asarray(probs, dtype=np.float64)
        if self.hist is None:
            self.hist = np.zeros((0, probs.shape[1]))
        full = np.concatenate([self.hist, probs])
        c = np.concatenate([np.zeros((1, full.shape[1])), np.cumsum(full, axis=0)])
        idx = np.arange(len(self.hist) + 1, len(full) + 1)
        lo = np.maximum(0, idx - self.k)
        sm = (c[idx] - c[lo]) / (idx - lo)[:, None]
        top = sm.argmax(axis=1)
        self.hist = full[-(self.k - 1):] if self.k > 1 else full[:0]
        return top, sm[np.arange(len(sm)), top].astype(np.float32)


WORD_S = 0.5  # typical keyword length (as `detection.detection_lag` assumes): an open run's start estimate


@dataclass
class _Run:
    label: int
    first: float
    last: float
    peak: float
    into: "_Run | None" = None  # early mode: the run this one's extent counts towards (itself when a candidate)


class Decider:
    """`detection.runs_to_detections` step by step: `step(times, top, score)` returns the detections now final."""

    def __init__(self, labels: list[str], config: StreamConfig, lag: tuple[float, float], step: float,
                 hold_s: float | None = None):
        """`hold_s`: None decides exactly as `runs_to_detections` (final detections); a number announces a run once it
        has lasted `min_s + hold_s` seconds (early)."""
        self.labels, self.config, self.lag, self.dt = list(labels), config, lag, float(step)
        self.hold_s = hold_s
        self.committed: _Run | None = None  # early mode: the last announced run
        self.cand: _Run | None = None  # early mode: the qualified run waiting for its announcement
        self.keyword = np.array([lab not in (SILENCE, UNKNOWN) for lab in labels])
        self.thresholds = config.thresholds(self.labels)
        self.open: _Run | None = None  # the run of fired steps in progress
        self.kept: _Run | None = None  # the last kept run, not yet final
        self.decided_at: list[float] = []  # stream time at which each returned detection became final

    def _detection(self, r: _Run, running: bool = False) -> Detection:
        if running and self.config.mode != "vad":  # the run's end is still to come: assume a typical word
            end = r.first - self.lag[1]
            start = max(end - WORD_S, 0.0)
            return Detection(self.labels[r.label], round(start, 3), round(max(end, start + 0.05), 3), round(r.peak, 4))
        return Detection(self.labels[r.label], *word_span(r.first, r.last, self.config, self.lag), round(r.peak, 4))

    def _close_open(self, out: list[Detection], now: float) -> None:
        """The open run ended: drop it if too short, else merge, replace, suppress or keep it (as offline)."""
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
        if k is not None:
            out.append(self._detection(k))
            self.decided_at.append(now)
        self.kept = r

    def _settle(self, out: list[Detection], now: float) -> None:
        """Announce the kept run once a run starting at `now` or later, or the open one, can no longer touch it."""
        k = self.kept
        if k is None or now - k.last < self.config.suppress_s:
            return
        if self.open is not None and self.open.first - k.last < self.config.suppress_s:
            return
        out.append(self._detection(k))
        self.decided_at.append(now)
        self.kept = None

    def _early(self, out: list[Detection], t: float, key: int, s: float) -> None:
        """One step of early deciding (see the module docstring)."""
        c, gap = self.config, self.config.suppress_s
        if self.open is not None and self.open.label != key:
            self.open = None
        if key >= 0:
            if self.open is None:
                self.open = _Run(key, t, t, s)
            else:
                self.open.last, self.open.peak = t, max(self.open.peak, s)
        r = self.open
        if r is not None and r.last - r.first + self.dt >= c.min_s - 1e-9:
            if r.into is None:  # it just qualified: where does it count?
                a, k = self.committed, self.cand
                if a is not None and r.first - a.last < gap:
                    r.into = a if a.label == r.label else r  # another label after an announcement: suppressed
                elif k is not None and r.first - k.last < gap and k.label == r.label:
                    r.into = k
                elif k is not None and r.first - k.last < gap and r.peak <= k.peak:
                    r.into = r  # weaker rival of the candidate: suppressed unless it grows stronger (below)
                else:
                    self.cand, r.into = r, r
            tgt = r.into
            if tgt is not r:
                tgt.last, tgt.peak = max(tgt.last, r.last), max(tgt.peak, r.peak)
            elif self.cand is not None and self.cand is not r and r.label != self.cand.label \
                    and r.peak > self.cand.peak and r.first - self.cand.last < gap \
                    and (self.committed is None or r.first - self.committed.last >= gap):
                self.cand = r  # a stronger rival takes over before the announcement
        k = self.cand
        if k is not None and t - k.first + self.dt >= c.min_s + self.hold_s - 1e-9:
            out.append(self._detection(k, running=self.open is k))
            self.decided_at.append(t)
            self.committed, self.cand = k, None

    def step(self, times: np.ndarray, top: np.ndarray, score: np.ndarray) -> list[Detection]:
        out: list[Detection] = []
        fire = self.keyword[top] & (score >= self.thresholds[top])
        for t, lab, s, f in zip(times.tolist(), top.tolist(), score.tolist(), fire.tolist()):
            if self.hold_s is not None:
                self._early(out, t, lab if f else -1, s)
                continue
            key = lab if f else -1
            if self.open is not None and self.open.label != key:
                self._close_open(out, t)
            if key >= 0:
                if self.open is None:
                    self.open = _Run(key, t, t, s)
                else:
                    self.open.last, self.open.peak = t, max(self.open.peak, s)
            self._settle(out, t)
        return out

    def close(self, now: float) -> list[Detection]:
        """The stream ended: the open run ends at the last step, and the kept one is final."""
        out: list[Detection] = []
        if self.hold_s is not None:  # a candidate heard to the end: announce it
            if self.cand is not None:
                out.append(self._detection(self.cand))
                self.decided_at.append(now)
                self.committed, self.cand = self.cand, None
            self.open = None
            return out
        self._close_open(out, now)
        if self.kept is not None:
            out.append(self._detection(self.kept))
            self.decided_at.append(now)
            self.kept = None
        return out

    @property
    def pending(self) -> dict[str, Any] | None:
        """The keyword being decided (kept run, else an open run long enough to count), or None:
        label, score so far, time of its first step."""
        r = self.kept or self.cand
        if r is None and self.open is not None and self.open.last - self.open.first + self.dt >= self.config.min_s - 1e-9:
            r = self.open
        if r is None:
            return None
        return {"label": self.labels[r.label], "score": round(r.peak, 4), "since": round(r.first, 3)}
