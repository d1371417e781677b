"""Live spotting: audio fed as it arrives, detections returned as soon as they are final.

`LiveSpotter.feed(samples)` resamples whatever audio has arrived to the
model's rate (a streaming soxr resampler) and pushes it through the same
`runner.FrameStream` and `runner.StreamRunner` that `Spotter` runs over a file,
so live and offline posteriors cannot drift apart. A stream-trained spotter
runs one exact pass with carried state (`Spotter.detect` with `segment_s=0`);
a clip model runs in windows or on the speech segments a voice-activity
detector finds, as offline. Detections come from `decider.Decider`, as files' do: by
default early (a keyword is announced once its run has lasted `min_s + hold_s`,
0.2-0.3 s after the word ends), or with `hold_s=None` exactly `Spotter.detect`'s
detections, final ~0.9 s after the word ends; in vad mode a segment's rows come
at once when it ends, so its detections are final from the start. `pending`
names the word being decided.
"""

from __future__ import annotations

import math
import os
from dataclasses import replace
from typing import Any

import numpy as np

from audio_rnn.errors import EmptyAudioError, InvalidSamplesError, SampleRateError
from audio_rnn.spotting.detection import Detection
from audio_rnn.spotting.streaming import Spotter
from audio_rnn.training.threads import limit_blas_threads


HOLD_S = 0.2  # early decisions: 0.2-0.3 s after the word's end, scores within ~0.01 of the run's peak


class LiveSpotter:
    """One live stream through a spotter: `feed(samples) -> [Detection]`, `posteriors()`, `close()`."""

    def __init__(self, spotter: Spotter | str | os.PathLike | None = None, rate: int | None = None,
                 keep_s: float = 10.0, hold_s: float | None = HOLD_S, **overrides: Any):
        """`spotter`: a loaded Spotter (shared safely between streams: it holds no stream state) or a model
        for `Spotter`; `rate`: the input's sample rate (default: the model's); `keep_s`: seconds of
        posteriors kept for `posteriors()`; `hold_s`: announce a keyword once its run has lasted
        `min_s + hold_s` (None: only final detections, exactly `Spotter.detect`'s); `overrides`: StreamConfig fields
        (a new Spotter only)."""
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
        self._n_in = 0  # input samples fed
        self._frames = sp.frame_stream()
        # carried state runs one exact pass step by step (stretches side by side need the audio ahead)
        self._runner = sp.runner(replace(self.config, segment_s=0) if self.config.mode == "state" else self.config)
        self.step_s = self._runner.step_s
        if self.config.mode == "vad":
            hold_s = None  # a segment's rows arrive together once it ends: final decisions cost nothing more
        # detection and display
        self.decider = sp.decider(hold_s)  # the one decider, as files use it
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
        """End of stream: flush the resampler, the frames and the runner; the detections still pending."""
        if self.closed:
            return []
        out: list[Detection] = []
        if self._rs is not None:
            out += self._model_samples(self._rs.resample_chunk(np.zeros(0, np.float32), last=True))
        self.closed = True
        if self._n_in == 0:
            raise EmptyAudioError("the stream holds no samples")
        with limit_blas_threads(self.spotter.threads):
            probs = self._runner.push(*self._frames.flush())
            out += self._posteriors_in(np.concatenate([probs, self._runner.flush()]))
        if self._runner.rows == 0:
            raise EmptyAudioError("the stream is too short to analyse")
        return out + self.decider.close(float(self._times[-1]))

    # -- samples -> frames -> posteriors -> detections
    def _model_samples(self, x: np.ndarray) -> list[Detection]:
        if not x.size:
            return []
        with limit_blas_threads(self.spotter.threads):
            return self._posteriors_in(self._runner.push(*self._frames.push(x)))

    def _posteriors_in(self, probs: np.ndarray) -> list[Detection]:
        if not len(probs):
            return []
        times = self._runner.times(self._runner.rows - len(probs), len(probs))
        self._times = np.concatenate([self._times, times])[-self._keep:]
        self._probs = np.concatenate([self._probs, probs])[-self._keep:]
        return self.decider.feed(times, probs)

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
