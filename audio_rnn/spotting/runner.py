"""The one stream loop of every spotter: samples -> log-mel frames -> posterior rows, block by block.

`FrameStream` turns samples, in blocks of any size, into log-mel frames (and,
for `vad` mode, one speech flag per frame from webrtcvad), exactly as for the
whole signal. `StreamRunner.create` makes the runner that turns those frames into
posterior rows for the mode (`StreamConfig.mode`), one class each:

* `StateRunner`: a stream-trained spotter with carried state and causal running
  normalisation; offline, stretches of `segment_s` run side by side as a batch.
* `WindowRunner`: a clip model restarted every `hop_s` on the last `context_s`.
* `VadRunner`: a voice-activity detector only gates the clip model. Each speech
  segment is classified once, as a one-second clip would be, in the window centred
  on it (`shifts_s` may average more placements); long segments get a window every
  `hop_s`. Rows outside speech are `_silence_`.

`Spotter` (files) and `LiveSpotter` (microphones) both drive these two objects,
so the offline and live paths cannot drift apart; `step_times` is the one
formula for when a row has heard its audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from audio_rnn.errors import CheckpointError
from audio_rnn.spotting.detection import SILENCE, StreamConfig
from audio_rnn.spotting.frontend import FrontEnd, CausalFeatures, stack_frames
from audio_rnn.spotting.network import NumpyKWS, softmax

WINDOWS_PER_CALL = 200  # windows per network call: bounds memory (~40 MB of gate activations)
VAD_RATES = (8000, 16000, 32000, 48000)  # what webrtcvad accepts


# ----------------------------------------------------------------------------- samples -> frames


class RawFrames:
    """`n` analysis frames as their samples, their log-mel left to whoever needs it: a vad-mode stream computes
    the spectra of the frames its windows read, about a third of a dense recording's."""

    def __init__(self, x: np.ndarray, n: int):
        self.x, self.n = x, n  # x covers exactly the n frames: (n - 1) * hop + win samples

    def __len__(self) -> int:
        return self.n


class FrameStream:
    """Samples in blocks of any size -> (log-mel frames, speech flags or None), exactly as for the whole signal.

    With a voice-activity detector the frames come as `RawFrames` (samples; `VadRunner` takes the
    log-mel of what it classifies)."""

    def __init__(self, fe: FrontEnd, vad_aggressiveness: int | None = None):
        self.fe = fe
        self.carry = np.zeros(0, np.float32)  # samples not yet in a complete frame
        self.total = 0  # samples pushed
        self.vad = None
        if vad_aggressiveness is not None:
            if fe.sr not in VAD_RATES or fe.hop * 100 != fe.sr:
                raise CheckpointError(f"the voice-activity detector needs 10 ms frames at {VAD_RATES} Hz")
            import webrtcvad

            self.vad = webrtcvad.Vad(int(vad_aggressiveness))

    def push(self, samples: np.ndarray) -> tuple[np.ndarray | RawFrames, np.ndarray | None]:
        """Frames completed by these samples (float32 mono at the model's rate)."""
        x = np.concatenate([self.carry, np.asarray(samples, dtype=np.float32).reshape(-1)])
        self.total += np.asarray(samples).size
        n = self.fe.n_frames(len(x))
        self.carry = x[n * self.fe.hop:]
        return self._frames(x, n)

    def flush(self) -> tuple[np.ndarray | RawFrames, np.ndarray | None]:
        """End of stream: a recording shorter than one frame is zero-padded to one (as `features.MFCC` does)."""
        if 0 < self.total < self.fe.win:
            return self._frames(np.pad(self.carry, (0, self.fe.win - len(self.carry))), 1)
        return self._frames(self.carry[:0], 0)

    def _frames(self, x: np.ndarray, n: int) -> tuple[np.ndarray | RawFrames, np.ndarray | None]:
        if self.vad is None:
            return (self.fe.log_mel(x) if n else np.zeros((0, self.fe.n_mels), np.float32)), None
        x = x[: (n - 1) * self.fe.hop + self.fe.win] if n else x[:0]
        return RawFrames(x, n), (self._speech(x, n) if n else np.zeros(0, bool))

    def _speech(self, x: np.ndarray, n: int) -> np.ndarray:
        """One webrtcvad decision per frame, on the 10 ms at the frame's centre."""
        hop, off = self.fe.hop, (self.fe.win - self.fe.hop) // 2
        pcm = (np.clip(x[off:off + n * hop], -1.0, 1.0) * 32767).astype("<i2").tobytes()
        sr, b = self.fe.sr, 2 * hop
        try:  # the extension's own call: the Python wrapper's checks cost a fifth of the VAD's time
            from _webrtcvad import process

            handle, view = self.vad._vad, memoryview(pcm)
            return np.fromiter((process(handle, sr, view[i * b:(i + 1) * b], hop) for i in range(n)), bool, n)
        except (ImportError, AttributeError):  # another webrtcvad build: its public call
            is_speech = self.vad.is_speech
            return np.fromiter((is_speech(pcm[i * b:(i + 1) * b], sr) for i in range(n)), bool, n)


# ----------------------------------------------------------------------------- frames -> posteriors


def step_times(first: int, n: int, fe: FrontEnd, stack: int = 1) -> np.ndarray:
    """Seconds of audio heard by rows first..first+n-1 (one row per `stack` frames): the end of its last frame."""
    idx = np.arange(first, first + n)
    return ((idx * stack + stack - 1) * fe.hop + fe.win) / fe.sr


@dataclass
class _Segment:
    """A stretch of speech frames [a, b] and the window centres (frames) that classify it."""

    a: int
    b: int
    centres: list[float]
    probs: np.ndarray | None = None  # (len(centres), C) once classified


class StreamRunner:
    """Log-mel frames in, posterior rows out; `push` per block, `flush` at the end. One subclass per mode."""

    stack = 1

    def __init__(self, model: NumpyKWS, fe: FrontEnd, config: StreamConfig, labels: list[str]):
        self.model, self.fe, self.config, self.labels = model, fe, config, list(labels)
        self.rows = 0  # rows returned so far
        self._empty = np.zeros((0, model.n_classes), np.float32)
        self._ctx = max(1, fe.n_frames(int(round(config.context_s * fe.sr))))  # window length in frames
        self._hop = max(1, min(self._ctx, int(round(config.hop_s * fe.sr / fe.hop))))
        self._base = 0  # window / vad modes: index of the first frame held

    @staticmethod
    def create(model: NumpyKWS, fe: FrontEnd, config: StreamConfig, labels: list[str],
               stack: int = 1) -> "StreamRunner":
        """The runner of `config.mode`: `StateRunner`, `WindowRunner` or `VadRunner`."""
        if config.mode == "state":
            return StateRunner(model, fe, config, labels, stack)
        return (WindowRunner if config.mode == "window" else VadRunner)(model, fe, config, labels)

    @property
    def step_s(self) -> float:
        return self.stack * self.fe.hop / self.fe.sr

    def times(self, first: int, n: int) -> np.ndarray:
        return step_times(first, n, self.fe, self.stack)

    def push(self, lm: np.ndarray, speech: np.ndarray | None = None) -> np.ndarray:
        """Rows (n, C) made ready by these log-mel frames (and, in vad mode, their speech flags)."""
        out = self._push(lm, speech)
        self.rows += len(out)
        return out

    def flush(self) -> np.ndarray:
        """End of stream: the rows still held back (last stretch, tail window, open segment)."""
        out = self._flush()
        self.rows += len(out)
        return out

    def _push(self, lm: np.ndarray, speech: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def _flush(self) -> np.ndarray:
        raise NotImplementedError

    def _frames(self, s: int, length: int) -> np.ndarray:
        """Log-mel frames [s, s + length) of the stream (window and vad modes hold them differently)."""
        raise NotImplementedError

    def _windows(self, starts: list[int], length: int, keep: int) -> np.ndarray:
        """Running posteriors of frames keep.. of the windows [s, s + length), each featurised as a training clip."""
        out = []
        for i in range(0, len(starts), WINDOWS_PER_CALL):
            wins = np.stack([self._frames(s, length) for s in starts[i:i + WINDOWS_PER_CALL]])
            logits, _ = self.model.frame_logits(self.fe.finish(wins), keep_from=keep)
            out.append(softmax(logits).reshape(-1, logits.shape[-1]))
        return np.concatenate(out).astype(np.float32)


class StateRunner(StreamRunner):
    """A stream-trained spotter with carried state and causal running normalisation; offline, stretches of
    `segment_s` run side by side as a batch (`segment_s=0`: one exact pass, as live)."""

    def __init__(self, model: NumpyKWS, fe: FrontEnd, config: StreamConfig, labels: list[str], stack: int = 1):
        super().__init__(model, fe, config, labels)
        self.stack = stack
        self._norm = CausalFeatures(fe, int(round(config.norm_s * fe.sr / fe.hop)))
        self._left = np.zeros((0, fe.dim), np.float32)
        self._steps = np.zeros((0, model.n_in), np.float32)  # stretches: warm-up context, then pending steps
        self._warm_rows = 0
        self._state: dict[str, Any] | None = None

    def _push(self, lm: np.ndarray, speech: np.ndarray | None) -> np.ndarray:
        if not len(lm):
            return self._empty
        x = np.concatenate([self._left, self._norm(lm)])
        k = len(x) // self.stack * self.stack
        self._left = x[k:]
        if not k:
            return self._empty
        steps = stack_frames(x[:k], self.stack)
        if self.config.segment_s <= 0:  # one exact pass, step by step (live audio)
            logits, self._state = self.model.frame_logits(steps[None], self._state)
            return softmax(logits[0]).astype(np.float32)
        return self._stretches(steps, final=False)

    def _flush(self) -> np.ndarray:
        if self.config.segment_s <= 0:
            return self._empty
        return self._stretches(np.zeros((0, self.model.n_in), np.float32), final=True)

    def _stretches(self, steps: np.ndarray, final: bool) -> np.ndarray:
        """Stretches of `segment_s` side by side, each from zero state `warm_s` earlier (its outputs there dropped).

        Stretches start at multiples of `seg` steps from the stream's start, whatever the block size.
        """
        seg = max(1, int(round(self.config.segment_s / self.step_s)))
        warm = int(round(self.config.warm_s / self.step_s))
        buf, h = np.concatenate([self._steps, steps]), self._warm_rows
        out = []
        k = (len(buf) - h) // seg
        if k:
            out.append(self._run_stretches(buf, [h + i * seg for i in range(k)], seg, warm))
            end = h + k * seg
            h = min(warm, end)
            buf = buf[end - h:]
        if final and len(buf) > h:
            out.append(self._run_stretches(buf, [h], len(buf) - h, warm))
            buf, h = buf[len(buf):], 0
        self._steps, self._warm_rows = buf, h
        return np.concatenate(out) if out else self._empty

    def _run_stretches(self, buf: np.ndarray, starts: list[int], n: int, warm: int) -> np.ndarray:
        groups: dict[int, list[int]] = {}
        for a in starts:
            groups.setdefault(min(warm, a), []).append(a)
        out = np.empty((len(starts), n, self.model.n_classes), np.float32)
        pos = {a: i for i, a in enumerate(starts)}
        for w, group in groups.items():
            logits, _ = self.model.frame_logits(np.stack([buf[a - w:a + n] for a in group]), keep_from=w)
            for a, p in zip(group, softmax(logits)):
                out[pos[a]] = p
        return out.reshape(-1, self.model.n_classes)


class WindowRunner(StreamRunner):
    """A clip model restarted every `hop_s` on the last `context_s` seconds."""

    def __init__(self, model: NumpyKWS, fe: FrontEnd, config: StreamConfig, labels: list[str]):
        super().__init__(model, fe, config, labels)
        self._buf = np.zeros((0, fe.n_mels), np.float32)  # the recent log-mel frames, from frame _base on
        self._done = 0  # frames reported

    def _frames(self, s: int, length: int) -> np.ndarray:
        return self._buf[s - self._base:s - self._base + length]

    def _push(self, lm: np.ndarray, speech: np.ndarray | None) -> np.ndarray:
        return self._window_push(lm, final=False)

    def _flush(self) -> np.ndarray:
        return self._window_push(np.zeros((0, self.fe.n_mels), np.float32), final=True)

    def _window_push(self, lm: np.ndarray, final: bool) -> np.ndarray:
        """The first full window reports all its frames, then each restart every `hop` frames its last `hop`;
        at the end a last window reports the frames after the last stride (or a stream shorter than a window)."""
        ctx, hop = self._ctx, self._hop
        self._buf = np.concatenate([self._buf, lm])
        avail = self._base + len(self._buf)
        parts = []
        if self._done == 0 and avail >= ctx:
            parts.append(self._windows([0], ctx, 0))
            self._done = ctx
        ends = list(range(self._done + hop, avail + 1, hop)) if self._done else []
        if ends:
            parts.append(self._windows([e - ctx for e in ends], ctx, ctx - hop))
            self._done = ends[-1]
        if final and self._done < avail:
            s = max(0, avail - ctx)
            parts.append(self._windows([s], avail - s, self._done - s))
            self._done = avail
        if self._done:
            keep_from = max(self._base, self._done + 1 - ctx)  # room for the tail window
            self._buf = self._buf[keep_from - self._base:]
            self._base = keep_from
        return np.concatenate(parts) if parts else self._empty


class VadRunner(StreamRunner):
    """A voice-activity detector gates the clip model: each speech segment is classified as a one-second
    clip would be (the window at `shifts_s` around its centre, averaged); long segments get a window every
    `hop_s`. Rows outside speech are `_silence_`."""

    def __init__(self, model: NumpyKWS, fe: FrontEnd, config: StreamConfig, labels: list[str]):
        super().__init__(model, fe, config, labels)
        self._silence = np.zeros(model.n_classes, np.float32)
        if SILENCE in self.labels:
            self._silence[self.labels.index(SILENCE)] = 1.0
        self._shifts = [int(round(s * fe.sr / fe.hop)) for s in config.shifts_s] or [0]
        self._gap = max(1, int(round(config.vad_gap_s * fe.sr / fe.hop)))
        self._min = max(1, int(round(config.vad_min_s * fe.sr / fe.hop)))
        self._max = max(self._ctx, int(round(config.max_segment_s * fe.sr / fe.hop)))
        self._x = np.zeros(0, np.float32)  # samples of the frames held, from frame _base on
        self._held = 0  # frames held in _x
        self._open: list[int] | None = None  # [first, last] speech frame of the open segment
        self._queue: list[_Segment] = []  # closed segments, in order, waiting for their windows
        self._done = 0  # frames whose rows are out

    def _push(self, frames: RawFrames, speech: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        if speech is None or not isinstance(frames, RawFrames):
            raise ValueError("vad mode needs the raw frames and a speech flag per frame (FrameStream with a VAD)")
        return self._vad_push(frames, np.asarray(speech, bool), final=False)

    def _flush(self) -> np.ndarray:
        return self._vad_push(RawFrames(np.zeros(0, np.float32), 0), np.zeros(0, bool), final=True)

    def _frames(self, s: int, length: int) -> np.ndarray:
        """The log-mel of frames [s, s + length), computed now from the samples held."""
        hop = self.fe.hop
        a = (s - self._base) * hop
        return self.fe.log_mel(self._x[a:a + (length - 1) * hop + self.fe.win])

    def _hold(self, frames: RawFrames) -> None:
        """Append frames' samples (consecutive frames overlap by win - hop samples)."""
        if not frames.n:
            return
        tail = frames.x if not self._held else frames.x[self.fe.win - self.fe.hop:]
        self._x = np.concatenate([self._x, tail])
        self._held += frames.n

    def _vad_push(self, frames: RawFrames, speech: np.ndarray, final: bool) -> np.ndarray:
        start = self._base + self._held
        self._hold(frames)
        n = self._base + self._held
        for r0, r1 in _runs(speech, start):
            if self._open is not None and r0 - self._open[1] - 1 >= self._gap:
                self._close()
            if self._open is None:
                self._open = [r0, r1]
            else:
                self._open[1] = r1
            while self._open is not None and self._open[1] - self._open[0] + 1 > self._max:  # cut very long speech
                a = self._open[0]
                self._open = [a, a + self._max - 1]
                self._close()
                self._open = [a + self._max, r1] if r1 >= a + self._max else None
        if self._open is not None and (final or n - 1 - self._open[1] >= self._gap):
            self._close()
        self._classify(n, final)
        return self._rows_out(n)

    def _close(self) -> None:
        a, b = self._open
        self._open = None
        if b - a + 1 < self._min:
            return
        half = self._ctx / 2
        if b - a + 1 <= self._ctx:
            centres = [(a + b + 1) / 2]
        else:
            centres = list(np.arange(a + half, b + 1 - half, self._hop)) + [b + 1 - half]
        self._queue.append(_Segment(a, b, [float(c) for c in centres]))

    def _window_start(self, c: float, shift: int, n: int | None) -> int:
        s = int(round(c - self._ctx / 2)) + shift
        if n is not None:
            s = min(s, n - self._ctx)
        return max(0, s)

    def _classify(self, n: int, final: bool) -> None:
        """Classify every queued segment whose windows are all heard (all of them at the end of the stream)."""
        todo = []
        for seg in self._queue:
            if seg.probs is not None:
                continue
            last = max(self._window_start(c, d, None) for c in seg.centres for d in self._shifts) + self._ctx
            if last > n and not final:
                break
            todo.append(seg)
        if not todo:
            return
        length = min(self._ctx, n)
        starts = [self._window_start(c, d, n if final else None) for seg in todo for c in seg.centres
                  for d in self._shifts]
        probs = self._windows(starts, length, length - 1).reshape(-1, len(self._shifts), self.model.n_classes)
        probs = probs.mean(axis=1)  # the average over the shifted placements of each window
        i = 0
        for seg in todo:
            seg.probs, i = probs[i:i + len(seg.centres)], i + len(seg.centres)

    def _rows_out(self, n: int) -> np.ndarray:
        """Rows up to the first frame still undecided: classified segments get their posteriors, the rest silence."""
        parts = []
        while self._queue and self._queue[0].probs is not None:
            seg = self._queue.pop(0)
            parts.append(np.tile(self._silence, (seg.a - self._done, 1)))
            f = np.arange(seg.a, seg.b + 1) + 0.5
            nearest = np.abs(f[:, None] - np.asarray(seg.centres)[None, :]).argmin(axis=1)
            parts.append(seg.probs[nearest].astype(np.float32))
            self._done = seg.b + 1
        ready = min([s.a for s in self._queue] + ([self._open[0]] if self._open else []) + [n])
        if ready > self._done:
            parts.append(np.tile(self._silence, (ready - self._done, 1)))
            self._done = ready
        pending = [s.a for s in self._queue] + ([self._open[0]] if self._open else [])
        keep_from = max(self._base, min(pending + [self._done]) - self._ctx - max(map(abs, self._shifts)))
        drop = min(keep_from - self._base, self._held)
        self._x = self._x[drop * self.fe.hop:] if drop < self._held else self._x[:0]
        self._held -= drop
        self._base += drop
        return np.concatenate(parts) if parts else self._empty


def _runs(flags: np.ndarray, offset: int) -> list[tuple[int, int]]:
    """[(first, last)] frame indices of the runs of True in `flags`, counted from `offset`."""
    if not len(flags):
        return []
    d = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1
    return [(int(a) + offset, int(b) + offset) for a, b in zip(starts, ends)]
