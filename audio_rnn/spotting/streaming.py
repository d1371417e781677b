"""Streaming keyword spotting over long recordings: per-frame posteriors decoded in blocks, then detections.

Inference is pure numpy (no torch import): importing torch alone costs
~520 MB of resident memory with this build, so a numpy port of the keyword
network (`network.NumpyKWS`) and of the MFCC front-end (`frontend.FrontEnd`)
keeps a 2-hour file well under 500 MB and starts fast. `Spotter` reads the
recording in blocks, runs the network over it and hands the posteriors to
`detection`; this module also holds the `spot` command.

Two ways to run the unidirectional network over a stream (`StreamConfig.mode`):

* ``state``: the network listens frame by frame with carried recurrent state and
  causal running normalisation (past `norm_s` seconds). This is how the shipped
  spotter (`pretrained/spotter`, trained by `spotting.train` on long synthetic streams
  with a target for every 20 ms step) runs. For speed, a file is cut into
  stretches of `segment_s` that run side by side as one batch, each starting from
  zero state `warm_s` earlier (`segment_s=0`: one exact pass, as for live audio).
* ``window``: for clip models (`keywords.train`, trained on 1 s clips): the network is
  restarted every `hop_s` on the last `context_s` seconds (a sliding-window
  classifier with a stride); each restart reports the running posteriors of its
  last `hop_s` frames. Every window is featurised exactly like a training clip.

Measured on validation streams (`benchmarks/stream_modes.py`): clip models lose
their way with carried state (34-39% of digits found; their state drifts beyond
the 1 s they were trained on), so they run in windows (1 s every 0.25 s: 84.8%);
the stream-trained spotter in state mode finds 92.9% at 0.032 false alarms per
word (92.3% in one exact pass) and passes each frame through the network once
instead of four times.

Detections come from the posteriors as in TensorFlow speech_commands'
RecognizeCommands (`detection`).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from typing import Any, Iterable, Iterator

import numpy as np

from audio_rnn.errors import AudioError, CheckpointError, EmptyAudioError
from audio_rnn.spotting.detection import (Detection, StreamConfig, decide, default_config, detect_posteriors,
                                          detection_lag, top_scores)
from audio_rnn.spotting.frontend import FrontEnd, RunningNorm, stack_frames
from audio_rnn.spotting.network import load_numpy_model, softmax, spotter_path


# ----------------------------------------------------------------------------- posteriors over a stream


def _limit_blas_threads(n: int | None):
    """Context limiting BLAS threads (oversubscribed BLAS threads are ~20x slower on a loaded machine)."""
    import contextlib

    if not n:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(n, user_api="blas")
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn/librosa
        return contextlib.nullcontext()


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
        self.trained_on_streams = bool(stream)  # a `train-spot` model: per-frame targets, carried state
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

    # -- blocks of samples -> blocks of log-mel frames, exactly as for the whole signal
    def _log_mel_blocks(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        fe = self.front
        carry = np.zeros(0, np.float32)
        total = 0
        for b in blocks:
            x = np.concatenate([carry, np.asarray(b, dtype=np.float32).reshape(-1)])
            total += len(b)
            n = fe.n_frames(len(x))
            if n:
                yield fe.log_mel(x)
            carry = x[n * fe.hop:]
        if total == 0:
            raise EmptyAudioError("the recording holds no samples")
        if total < fe.win:  # shorter than one frame: zero-pad to one, as features.MFCC does
            yield fe.log_mel(np.pad(carry, (0, fe.win - len(carry))))

    def _window_probs(self, lm_blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Window mode: every `hop` frames, rerun the network on the last `context` frames.

        The first window [0, context) reports all its frames; window [e - context, e)
        then reports frames [e - hop, e); a last window ends at the stream's last frame.
        """
        fe, cfg = self.front, self.config
        ctx = max(1, fe.n_frames(int(round(cfg.context_s * fe.sr))))
        hop = max(1, min(ctx, int(round(cfg.hop_s * fe.sr / fe.hop))))
        batch = 200  # windows per network call: bounds memory (~40 MB of gate activations)
        buf = np.zeros((0, fe.n_mels), np.float32)
        base = 0  # stream index of buf[0]
        done = 0  # frames reported so far

        def run(s: int, e: int, keep: int) -> np.ndarray:
            logits, _ = self.model.frame_logits(fe.finish(buf[None, s - base:e - base]), keep_from=keep)
            return softmax(logits[0])

        for lm in lm_blocks:
            buf = np.concatenate([buf, lm])
            avail = base + len(buf)
            if done == 0 and avail >= ctx:
                yield run(0, ctx, 0)
                done = ctx
            ends = list(range(done + hop, avail + 1, hop)) if done else []
            for i in range(0, len(ends), batch):
                chunk = ends[i:i + batch]
                wins = np.stack([buf[e - ctx - base:e - base] for e in chunk])
                logits, _ = self.model.frame_logits(fe.finish(wins), keep_from=ctx - hop)
                yield softmax(logits).reshape(-1, logits.shape[-1])
            if ends:
                done = ends[-1]
            if done:
                keep_from = max(base, done + 1 - ctx)  # room for the tail window
                buf = buf[keep_from - base:]
                base = keep_from
        avail = base + len(buf)
        if done < avail:  # a stream shorter than one window, or the frames after the last stride
            s = max(0, avail - ctx)
            yield run(s, avail, done - s)

    def _state_steps(self, lm_blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Causal features per recurrent step: running normalisation, then `stack` frames side by side."""
        fe = self.front
        norm = RunningNorm(fe, int(round(self.config.norm_s * fe.sr / fe.hop)))
        left = np.zeros((0, fe.dim), np.float32)
        for lm in lm_blocks:
            if len(lm):
                x = np.concatenate([left, norm(lm)])
                k = len(x) // self.stack * self.stack
                left = x[k:]
                if k:
                    yield stack_frames(x[:k], self.stack)

    def _state_probs(self, lm_blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """State mode: the network runs over the stream with carried state.

        With `segment_s` = 0 it is one exact pass, step by step. Otherwise each block is
        cut into stretches of `segment_s` that run side by side as one batch, each starting
        from zero state `warm_s` earlier (its outputs there are dropped): one matrix product
        per step serves the whole batch, which is what makes hours of audio fast.
        """
        cfg = self.config
        step_s = self.stack * self.front.hop / self.front.sr
        if cfg.segment_s <= 0:
            state = None
            for x in self._state_steps(lm_blocks):
                logits, state = self.model.frame_logits(x[None], state)
                yield softmax(logits[0])
            return
        seg = max(1, int(round(cfg.segment_s / step_s)))
        warm = int(round(cfg.warm_s / step_s))
        # stretches start at multiples of `seg` steps from the stream's start, whatever the block size
        buf = np.zeros((0, self.model.n_in), np.float32)  # up to `warm` steps already reported, then pending ones
        h = 0  # how many rows of buf are warm-up context

        def run(starts: list[int], n: int) -> np.ndarray:
            groups: dict[int, list[int]] = {}
            for a in starts:
                groups.setdefault(min(warm, a), []).append(a)
            out = np.empty((len(starts), n, self.model.n_classes), np.float32)
            pos = {a: i for i, a in enumerate(starts)}
            for w, group in groups.items():
                logits, _ = self.model.frame_logits(np.stack([buf[a - w:a + n] for a in group]), keep_from=w)
                for a, lg in zip(group, softmax(logits)):
                    out[pos[a]] = lg
            return out.reshape(-1, self.model.n_classes)

        for x in self._state_steps(lm_blocks):
            buf = np.concatenate([buf, x])
            k = (len(buf) - h) // seg
            if k:
                yield run([h + i * seg for i in range(k)], seg)
                end = h + k * seg
                keep = min(warm, end)
                buf, h = buf[end - keep:], keep
        if len(buf) > h:
            yield run([h], len(buf) - h)

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
        fe = self.front
        lm_blocks = self._log_mel_blocks(self._blocks(source, sr))
        gen = self._window_probs(lm_blocks) if self.config.mode == "window" else self._state_probs(lm_blocks)
        stack = self.stack if self.config.mode == "state" else 1
        n = 0
        with _limit_blas_threads(self.threads):
            for p in gen:
                idx = np.arange(n, n + len(p))
                n += len(p)
                yield ((idx * stack + stack - 1) * fe.hop + fe.win) / fe.sr, p.astype(np.float32)

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

    def detect(self, source: Any, sr: int | None = None) -> list[Detection]:
        """Keyword detections in a recording (or in a `(times, probs)` pair already computed)."""
        if isinstance(source, tuple) and len(source) >= 2:
            return detect_posteriors(source[0], source[1], self.labels, self.config, lag=self.lag())
        step = self.front.hop / self.front.sr * (self.stack if self.config.mode == "state" else 1)
        tts = top_scores(self.iter_posteriors(source, sr), self.config.smooth_s, step)
        if not len(tts[0]):
            raise EmptyAudioError("the recording is too short to analyse")
        return decide(*tts, self.labels, self.config, lag=self.lag())

    def describe(self) -> str:
        """One line on what listens: the network and how it runs over the stream."""
        m, c = self.model, self.config
        net = f"{m.cell.upper()} {m.layers}x{m.hidden}"
        if c.mode == "window":
            return f"clip model ({net}) restarted on the last {c.context_s:g} s every {c.hop_s:g} s"
        step = self.stack * self.front.hop * 1000 // self.front.sr
        kind = "stream-trained spotter" if self.trained_on_streams else "clip model"
        return f"{kind} ({net}) with carried state, one step per {step} ms"

    def lag(self) -> tuple[float, float]:
        return detection_lag(self.config, self.trained_on_streams)


# ----------------------------------------------------------------------------- module-level API for the app


def posteriors(source: Any, model: str | os.PathLike | None = None, config: StreamConfig | None = None,
               sr: int | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(times, probs (T, C), labels) for a path/bytes/waveform; see `Spotter.posteriors`."""
    return Spotter(model, config).posteriors(source, sr)


def detect(source: Any, model: str | os.PathLike | None = None, config: StreamConfig | None = None,
           sr: int | None = None) -> list[Detection]:
    """Detections in a path/bytes/waveform, or in a `(times, probs)` pair from `posteriors`; see `Spotter.detect`."""
    return Spotter(model, config).detect(source, sr)


# ----------------------------------------------------------------------------- CLI


def configure_spot(p) -> None:
    p.add_argument("file", metavar="FILE", help="recording of any length (wav, flac, ogg, mp3, m4a, webm, ...); "
                                                "- reads live audio from standard input (see --raw)")
    p.add_argument("--model", help="digits (default), commands, or a keyword checkpoint folder/file; a shipped "
                                   "name is its stream-trained spotter (with --mode window: its clip recognizer)")
    p.add_argument("--json", action="store_true", help="one detection per line: label, start, end, score")
    p.add_argument("--mode", choices=("window", "state"), default=None,
                   help="window: restart a clip model on the last second every --hop; state: carried state "
                        "(default: state for a stream-trained spotter, window for a clip model)")
    p.add_argument("--hop", type=float, default=None, help="window mode stride in seconds (default 0.25)")
    p.add_argument("--threshold", type=float, default=None, help="default: the model's tuned value")
    p.add_argument("--smooth", type=float, default=None, help="averaging window, s (default: the model's)")
    p.add_argument("--suppress", type=float, default=None, help="s between detections (default: the model's)")
    p.add_argument("--min-duration", type=float, default=None, help="s above threshold (default: the model's)")
    p.add_argument("--segment", type=float, default=None,
                   help="state mode: seconds per stretch run side by side; 0 = one exact pass (default 4)")
    from audio_rnn.spotting.spot_stdin import configure_live

    configure_live(p)


def config_overrides(args) -> dict[str, Any]:
    """StreamConfig fields set on the command line (the rest come from the model's tuned defaults)."""
    names = {"mode": "mode", "hop": "hop_s", "threshold": "threshold", "smooth": "smooth_s", "suppress": "suppress_s",
             "min_duration": "min_s", "segment": "segment_s"}
    return {f: getattr(args, a) for a, f in names.items() if getattr(args, a, None) is not None}


def make_spotter(args) -> "Spotter":
    """A Spotter for `--model` with the command line's settings over the model's defaults (bad ones: one line)."""
    over = config_overrides(args)
    model, base = args.model, None
    if over.get("mode") == "window":  # windows: a clip model's defaults (a shipped name: its clip recognizer)
        base = StreamConfig()
        model = str(spotter_path(model, window=True))
    try:
        return Spotter(model, base, **over)
    except ValueError as exc:
        raise AudioError(f"bad setting: {exc}") from None


def run_spot(args) -> int:
    from audio_rnn.audio.decode import probe
    from audio_rnn.spotting.spot_stdin import check_live_args, run_live

    if check_live_args(args):
        return run_live(args, make_spotter(args))

    probe(args.file)  # a missing or non-audio file fails fast, before the model loads
    spotter = make_spotter(args)
    try:
        dets = spotter.detect(args.file)
    except AudioError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:  # decoder failures on odd input: still one line
        raise AudioError(f"{args.file}: cannot decode ({type(exc).__name__}: {exc})") from None
    if args.json:
        for d in dets:
            print(json.dumps(d.to_dict()))
    else:
        if not dets:
            print("no keywords found")
        for d in dets:
            print(f"{d.start:9.2f} - {d.end:9.2f} s  {d.label:<8} {d.score:.3f}")
    sys.stdout.flush()
    return 0
