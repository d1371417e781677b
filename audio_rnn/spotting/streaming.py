"""`Spotter`: keyword spotting over recordings of any length, decoded in blocks, in pure numpy.

Importing torch alone costs ~520 MB of resident memory with this build, so a numpy
port of the keyword network (`network.NumpyKWS`) and of the MFCC front-end
(`frontend.FrontEnd`) keeps a 2-hour file well under 500 MB and starts fast.
`Spotter` reads the recording in blocks, `runner` turns them into posterior rows
in one of three modes (`StreamConfig.mode`), and `decider.Decider` turns the rows
into detections, as `LiveSpotter` does for a microphone:

* ``vad`` (the shipped clip models' mode): webrtcvad finds speech and the clip model
  classifies each segment once, in a one-second window centred on it, as a clip;
* ``window``: the clip model restarted every `hop_s` on the last `context_s` seconds;
* ``state``: a stream-trained spotter listening frame by frame with carried state.

Which hears best, and how fast, is measured in docs/benchmarks.md (`benchmarks/det_curves.py`,
`benchmarks/stream_speed.py`). The `spot` command around it is `spot_cli`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Iterable, Iterator

import numpy as np

from audio_rnn.errors import CheckpointError, EmptyAudioError
from audio_rnn.spotting.decider import Decider
from audio_rnn.spotting.detection import Detection, StreamConfig, default_config, detection_lag, with_sensitivity
from audio_rnn.spotting.frontend import FrontEnd
from audio_rnn.spotting.network import load_numpy_model
from audio_rnn.spotting.runner import FrameStream, StreamRunner
from audio_rnn.training import registry
from audio_rnn.training.threads import limit_blas_threads


# ----------------------------------------------------------------------------- posteriors over a stream


class Spotter:
    """A loaded keyword model that turns recordings of any length into posteriors and detections."""

    def __init__(self, model: str | os.PathLike | None = None, config: StreamConfig | None = None,
                 threads: int | None = 1, **overrides: Any):
        """`model`: a checkpoint (default: the shipped spotter); `config`: all settings (default: the
        checkpoint's tuned ones); `overrides`: StreamConfig fields to change from those defaults."""
        self.model, self.ckpt = load_numpy_model(model)
        self.labels: list[str] = [str(x) for x in self.ckpt["labels"]]
        self.front = FrontEnd(self.ckpt["features"])
        stream = self.ckpt.get("streaming") or {}
        self.trained_on_streams = registry.role(self.ckpt) == registry.STREAM  # per-frame targets, carried state
        self.stack = int(stream.get("stack", 1))
        if self.front.dim * self.stack != self.model.n_in:
            raise CheckpointError(f"features give {self.front.dim * self.stack} values per step but the model "
                                  f"takes {self.model.n_in}")
        if config is None:
            config = default_config(self.ckpt)
        if overrides:
            config = replace(config, **overrides)
        if self.trained_on_streams and config.mode != "state":
            raise CheckpointError("this spotter was trained on streams: it runs in state mode only")
        if config.mode == "state" and self.model.pooling != "last":
            raise CheckpointError(f"state mode needs a model with last-state pooling; this one pools by "
                                  f"{self.model.pooling} over everything heard so far (use window mode)")
        if self.trained_on_streams:
            config = replace(config, norm_s=float(stream.get("norm_s", config.norm_s)))  # what it was trained on
        self.config = config
        self.threads = threads
        self.sample_rate = self.front.sr
        self.window_s = float(self.ckpt.get("window_seconds") or 1.0)

    def frame_stream(self) -> FrameStream:
        """Samples -> log-mel frames (and speech flags in vad mode) for one stream."""
        return FrameStream(self.front, self.config.vad_aggressiveness if self.config.mode == "vad" else None)

    def runner(self, config: StreamConfig | None = None) -> StreamRunner:
        """Frames -> posterior rows for one stream (the loop `LiveSpotter` runs too)."""
        return StreamRunner.create(self.model, self.front, config or self.config, self.labels, self.stack)

    def _blocks(self, source: Any, sr: int | None) -> Iterable[np.ndarray]:
        if isinstance(source, np.ndarray):
            from audio_rnn.audio.decode import resample

            x = np.asarray(source, dtype=np.float32).reshape(-1)
            if not np.all(np.isfinite(x)):
                from audio_rnn.errors import InvalidSamplesError

                raise InvalidSamplesError("the samples contain NaN or infinity")
            x = resample(x, int(sr or self.sample_rate), self.sample_rate)
            step = int(self.config.block_s * self.sample_rate)
            return (x[i:i + step] for i in range(0, max(1, len(x)), step))
        from audio_rnn.audio.decode import read_blocks

        return read_blocks(source, sr=self.sample_rate, block_seconds=self.config.block_s)

    def iter_posteriors(self, source: Any, sr: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (times (n,), probs (n, C)) block by block; times are the end of the audio each row has heard."""
        frames, run = self.frame_stream(), self.runner()
        with limit_blas_threads(self.threads):
            for block in self._blocks(source, sr):
                p = run.push(*frames.push(block))
                if len(p):
                    yield run.times(run.rows - len(p), len(p)), p
            if frames.total == 0:
                raise EmptyAudioError("the recording holds no samples")
            p = run.push(*frames.flush())
            p = np.concatenate([p, run.flush()])
            if len(p):
                yield run.times(run.rows - len(p), len(p)), p

    def posteriors(self, source: Any, sr: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(times (T,), probs (T, C), labels) for a path, bytes, file-like or waveform (at `sr`, default model rate).

        One row per recurrent step (10 ms; 20 ms for a stream-trained spotter that stacks 2 frames); row t is the model's belief having heard audio up to `times[t]` seconds.
        """
        parts = list(self.iter_posteriors(source, sr))
        if not parts:
            raise EmptyAudioError("the recording is too short to analyse")
        times = np.concatenate([t for t, _ in parts])
        probs = np.concatenate([p for _, p in parts])
        return times, probs, list(self.labels)

    def decider(self, hold_s: float | None = None, config: StreamConfig | None = None) -> Decider:
        """A fresh `Decider` for one stream at this spotter's (or `config`'s) settings, step and lag: the one
        way files, microphones and tuning turn posterior rows into detections."""
        config = config or self.config
        return Decider(self.labels, config, self.lag(config), self.step_s, hold_s)

    def detect(self, source: Any, sr: int | None = None) -> list[Detection]:
        """Keyword detections in a recording (or in a `(times, probs)` pair already computed)."""
        blocks = [source[:2]] if isinstance(source, tuple) and len(source) >= 2 else self.iter_posteriors(source, sr)
        d, out, last = self.decider(), [], None
        for times, probs in blocks:
            if len(times):
                out += d.feed(times, probs)
                last = float(times[-1])
        if last is None:
            raise EmptyAudioError("the recording is too short to analyse")
        return out + d.close(last)

    @property
    def sensitivity(self) -> float:
        """1 - threshold: higher finds more keywords and costs more false alarms."""
        return round(1 - self.config.threshold, 4)

    def with_sensitivity(self, sensitivity: float) -> "Spotter":
        """This loaded spotter at another sensitivity (shares the network; a Spotter holds no stream state)."""
        import copy

        out = copy.copy(self)
        out.config = with_sensitivity(self.config, sensitivity)
        return out

    @property
    def validation_curve(self) -> list[dict[str, Any]]:
        """What each threshold cost on the validation streams it was tuned on (`eval-streams --tune --save-tuned`):
        [{threshold, found_right_pct, fa_per_word, fa_per_hour}], low to high; [] if never tuned."""
        tuned = self.ckpt.get("streaming") if self.trained_on_streams else self.ckpt.get("spotting")
        if not tuned or (not self.trained_on_streams and tuned.get("mode") != self.config.mode):
            return []
        return list(tuned.get("curve") or [])

    def expected(self) -> dict[str, Any] | None:
        """The validation point nearest this spotter's threshold, or None (see `validation_curve`)."""
        curve = self.validation_curve
        if not curve:
            return None
        return min(curve, key=lambda r: abs(r["threshold"] - self.config.threshold))

    @property
    def keywords(self) -> list[str]:
        """The labels that are words to find (not _silence_ or _unknown_)."""
        return [lab for lab in self.labels if lab not in ("_silence_", "_unknown_")]

    @property
    def step_s(self) -> float:
        """Seconds between posterior rows."""
        return self.front.hop / self.front.sr * (self.stack if self.config.mode == "state" else 1)

    def describe(self) -> str:
        """One line on what listens: the network and how it runs over the stream."""
        m, c = self.model, self.config
        net = f"{m.cell.upper()} {m.layers}x{m.hidden}"
        if c.mode == "window":
            return f"clip model ({net}) restarted on the last {c.context_s:g} s every {c.hop_s:g} s"
        if c.mode == "vad":
            how = (f"a {c.context_s:g} s window centred on it" if len(c.shifts_s) == 1 else
                   f"{len(c.shifts_s)} placements of a {c.context_s:g} s window averaged")
            return f"clip model ({net}) on each speech segment a voice-activity detector finds, {how}"
        step = self.stack * self.front.hop * 1000 // self.front.sr
        kind = "stream-trained spotter" if self.trained_on_streams else "clip model"
        return f"{kind} ({net}) with carried state, one step per {step} ms"

    def lag(self, config: StreamConfig | None = None) -> tuple[float, float]:
        """How detections map back to word spans under `config` (default: this spotter's settings)."""
        stream = self.ckpt.get("streaming") or {}
        return detection_lag(config or self.config, self.trained_on_streams, self.front.win / self.front.sr,
                             float(stream.get("hit_after_s", 0.3)))
