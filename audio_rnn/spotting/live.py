"""Live spotting: audio fed as it arrives, detections returned as soon as they are final.

`LiveSpotter.feed(samples)` runs a loaded `Spotter` one recurrent step at a
time over whatever audio has arrived (resampled to the model's rate by a
streaming soxr resampler) and returns the detections that just became final.
A stream-trained spotter runs in state mode: carried GRU state, causal
running normalisation, one step per 20 ms, one exact pass (what
`Spotter.detect` computes with `segment_s=0`). A clip model runs in windows,
restarted every `hop_s` on the last `context_s` seconds, as offline.
Detections come from `incremental.Decider`: by default early (a keyword is
announced once its run has lasted `min_s + hold_s`, 0.2-0.3 s after the word
ends), or with `hold_s=None` exactly `Spotter.detect`'s detections, final
~0.9 s after the word ends; `pending` names the word being decided.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from audio_rnn.errors import EmptyAudioError, InvalidSamplesError, SampleRateError
from audio_rnn.spotting.detection import Detection
from audio_rnn.spotting.frontend import RunningNorm, stack_frames
from audio_rnn.spotting.incremental import Decider, RunningTop
from audio_rnn.spotting.network import softmax
from audio_rnn.spotting.streaming import Spotter, _limit_blas_threads


HOLD_S = 0.2  # early decisions: 0.2-0.3 s after the word's end, scores within ~0.01 of the run's peak


class LiveSpotter:
    """One live stream through a spotter: `feed(samples) -> [Detection]`, `posteriors()`, `close()`."""

    def __init__(self, spotter: Spotter | str | os.PathLike | None = None, rate: int | None = None,
                 keep_s: float = 10.0, hold_s: float | None = HOLD_S, **overrides: Any):
        """`spotter`: a loaded Spotter (shared safely between streams: it holds no stream state) or a model
        for `Spotter`; `rate`: the input's sample rate (default: the model's); `keep_s`: seconds of
        posteriors kept for `posteriors()`; `hold_s`: announce a keyword once its run has lasted
        `min_s + hold_s` (None: only final detections, exactly `Spotter.detect`'s); `overrides`: StreamConfig fields (a new Spotter only)."""
        self.spotter = spotter if isinstance(spotter, Spotter) else Spotter(spotter, **overrides)
        sp = self.spotter
        self.labels = list(sp.labels)
        self.fe, self.config = sp.front, sp.config
        self.rate = int(rate or sp.sample_rate)
        if self.rate <= 0:
            raise SampleRateError(f"input sample rate must be positive, got {self.rate}")
        self._rs = None
        if self.rate != sp.sample_rate:
            import soxr

            self._rs = soxr.ResampleStream(self.rate, sp.sample_rate, 1, dtype="float32", quality="HQ")
        self.state_mode = self.config.mode == "state"
        self.stack = sp.stack if self.state_mode else 1
        self.step_s = self.fe.hop * self.stack / self.fe.sr
        self._carry = np.zeros(0, np.float32)  # samples not yet in a complete frame
        self._n_in = 0  # input samples fed
        self._n_model = 0  # samples at the model's rate
        self._steps = 0  # posterior rows produced
        # state mode
        self._norm = RunningNorm(self.fe, int(round(self.config.norm_s * self.fe.sr / self.fe.hop)))
        self._left = np.zeros((0, self.fe.dim), np.float32)
        self._state: dict[str, Any] | None = None
        # window mode
        self._ctx = max(1, self.fe.n_frames(int(round(self.config.context_s * self.fe.sr))))
        self._hop = max(1, min(self._ctx, int(round(self.config.hop_s * self.fe.sr / self.fe.hop))))
        self._buf = np.zeros((0, self.fe.n_mels), np.float32)
        self._base = self._done = 0
        # detection and display
        self._top = RunningTop(self.config.smooth_s, self.step_s)
        self.decider = Decider(self.labels, self.config, sp.lag(), self.step_s, hold_s)
        self._keep = max(1, int(math.ceil(keep_s / self.step_s)))
        self._times = np.zeros(0, np.float64)
        self._probs = np.zeros((0, len(self.labels)), np.float32)
        self.level_db = -120.0  # RMS level of the last block fed, dBFS
        self.closed = False

    # -- audio in
    @property
    def heard_s(self) -> float:
        """Seconds of input fed so far."""
        return self._n_in / self.rate

    def feed(self, samples: np.ndarray) -> list[Detection]:
        """Mono samples at `rate` (float in [-1, 1], or int16) -> the detections that became final."""
        if self.closed:
            raise RuntimeError("this live stream is closed")
        x = np.asarray(samples).reshape(-1)
        x = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)
        if not np.all(np.isfinite(x)):
            raise InvalidSamplesError("the live samples contain NaN or infinity")
        if x.size:
            self.level_db = float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-12))
        self._n_in += x.size
        if self._rs is not None:
            x = self._rs.resample_chunk(x, last=False)
        return self._model_samples(x)

    def close(self) -> list[Detection]:
        """End of stream: flush the resampler and the last window; the detections still pending."""
        if self.closed:
            return []
        out: list[Detection] = []
        if self._rs is not None:
            out += self._model_samples(self._rs.resample_chunk(np.zeros(0, np.float32), last=True))
        if self._n_in == 0:
            self.closed = True
            raise EmptyAudioError("the stream holds no samples")
        if self._n_model < self.fe.win:  # shorter than one frame: zero-pad to one, as offline
            out += self._frames(self.fe.log_mel(np.pad(self._carry, (0, self.fe.win - len(self._carry)))))
        if not self.state_mode:
            out += self._tail_window()
        self.closed = True
        if self._steps == 0:
            raise EmptyAudioError("the stream is too short to analyse")
        return out + self.decider.close(float(self._times[-1]))

    # -- samples -> frames -> posteriors -> detections
    def _model_samples(self, x: np.ndarray) -> list[Detection]:
        if not x.size:
            return []
        self._n_model += x.size
        x = np.concatenate([self._carry, x])
        n = self.fe.n_frames(len(x))
        self._carry = x[n * self.fe.hop:]
        return self._frames(self.fe.log_mel(x)) if n else []

    def _frames(self, lm: np.ndarray) -> list[Detection]:
        with _limit_blas_threads(self.spotter.threads):
            probs = self._state_probs(lm) if self.state_mode else self._window_probs(lm)
        return self._posteriors_in(probs)

    def _state_probs(self, lm: np.ndarray) -> np.ndarray:
        x = np.concatenate([self._left, self._norm(lm)])
        k = len(x) // self.stack * self.stack
        self._left = x[k:]
        if not k:
            return np.zeros((0, len(self.labels)), np.float32)
        logits, self._state = self.spotter.model.frame_logits(stack_frames(x[:k], self.stack)[None], self._state)
        return softmax(logits[0])

    def _window(self, s: int, e: int, keep: int) -> np.ndarray:
        w = self.fe.finish(self._buf[None, s - self._base:e - self._base])
        logits, _ = self.spotter.model.frame_logits(w, keep_from=keep)
        return softmax(logits[0])

    def _window_probs(self, lm: np.ndarray) -> np.ndarray:
        """Window mode as `Spotter._window_probs`: the first full window reports all its frames, then each
        restart every `hop` frames reports its last `hop`."""
        ctx, hop = self._ctx, self._hop
        self._buf = np.concatenate([self._buf, lm])
        avail = self._base + len(self._buf)
        parts = []
        if self._done == 0 and avail >= ctx:
            parts.append(self._window(0, ctx, 0))
            self._done = ctx
        while self._done and self._done + hop <= avail:
            e = self._done + hop
            parts.append(self._window(e - ctx, e, ctx - hop))
            self._done = e
        if self._done:
            keep_from = max(self._base, self._done + 1 - ctx)
            self._buf = self._buf[keep_from - self._base:]
            self._base = keep_from
        return np.concatenate(parts) if parts else np.zeros((0, len(self.labels)), np.float32)

    def _tail_window(self) -> list[Detection]:
        avail = self._base + len(self._buf)
        if self._done >= avail:
            return []
        s = max(0, avail - self._ctx)
        return self._posteriors_in(self._window(s, avail, self._done - s))

    def _posteriors_in(self, probs: np.ndarray) -> list[Detection]:
        if not len(probs):
            return []
        idx = np.arange(self._steps, self._steps + len(probs))
        self._steps += len(probs)
        fe = self.fe
        times = ((idx * self.stack + self.stack - 1) * fe.hop + fe.win) / fe.sr
        probs = probs.astype(np.float32)
        self._times = np.concatenate([self._times, times])[-self._keep:]
        self._probs = np.concatenate([self._probs, probs])[-self._keep:]
        top, score = self._top(probs)
        return self.decider.step(times, top, score)

    # -- what a display shows
    def posteriors(self, seconds: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(times, probs (n, C)) of the last `seconds` (default: all kept) of steps."""
        if seconds is None or not len(self._times):
            return self._times.copy(), self._probs.copy()
        n = max(1, int(round(seconds / self.step_s)))
        return self._times[-n:].copy(), self._probs[-n:].copy()

    @property
    def pending(self) -> dict[str, Any] | None:
        """The keyword being decided right now (label, score so far, since), or None."""
        return self.decider.pending

    @property
    def decided_at(self) -> list[float]:
        """Stream time (s) at which each detection returned so far became final."""
        return list(self.decider.decided_at)
