"""The settings of spotting and what it finds: `StreamConfig`, `Detection`, and how a run maps to a word.

`StreamConfig` holds how posteriors are computed over a stream (vad, window or
state mode) and how `decider.Decider` turns them into detections (smoothing,
thresholds, minimum run, suppression). `detection_lag` and `word_span` map a run
of firing rows back to the word's span.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from audio_rnn.keywords.data import SILENCE, UNKNOWN

MODES = ("window", "state", "vad")


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class StreamConfig:
    """How posteriors are computed over a stream and turned into detections (defaults tuned on val streams)."""

    mode: str = "vad"  # "vad" (a voice-activity detector gates the clip model: one clip-like window per speech
    # segment; what the shipped models run), "window" (restart every hop_s on the last context_s: WINDOW_DEFAULTS)
    # or "state" (a stream-trained spotter's carried state)
    context_s: float = 1.0  # window and vad modes: seconds of audio each window sees (the training window)
    hop_s: float = 0.25  # window mode: restart stride = output lag bound (0.1 s: same accuracy, 2.5x slower);
    # vad mode: stride of the windows along a segment longer than context_s
    norm_s: float = 3.0  # state mode: running normalisation over this many past seconds
    smooth_s: float = 0.01  # posterior averaging window (vad: one decision per segment; window mode 0.5 s, as
    # RecognizeCommands' 500 ms)
    threshold: float = 0.6  # averaged keyword probability needed to fire (the checkpoints carry tuned values)
    min_s: float = 0.0  # the top label must stay above threshold this long (window mode: 0.2 s)
    suppress_s: float = 0.1  # no second detection within this gap after one (window mode: 0.5 s)
    block_s: float = 120.0  # audio decoded per block (memory ~ block_s, not file length; ~30 stretches a batch)
    segment_s: float = 4.0  # state mode: each block is cut into stretches of this length run side by side ...
    warm_s: float = 1.0  # ... each first hearing this much audio before it (0 segment_s: one exact pass)
    shifts_s: tuple[float, ...] = (0.0,)  # vad mode: window placements averaged (one: each word heard once;
    # five, -0.25..0.25 s, cost 3.3x the time for +0.3-0.9 points on validation streams)
    vad_aggressiveness: int = 3  # vad mode: webrtcvad's 0 (lenient) .. 3 (strict about what is speech)
    vad_gap_s: float = 0.2  # vad mode: a segment ends after this much non-speech
    vad_min_s: float = 0.1  # vad mode: shorter segments are not words
    max_segment_s: float = 5.0  # vad mode: longer speech is cut (bounds memory and latency)
    keyword_thresholds: dict[str, float] = field(default_factory=dict)  # per-keyword `threshold` overrides

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        object.__setattr__(self, "shifts_s", tuple(float(v) for v in self.shifts_s))  # a JSON list -> tuple
        object.__setattr__(self, "keyword_thresholds", {str(k): float(v) for k, v in self.keyword_thresholds.items()})
        if not (0 < self.hop_s <= self.context_s) and self.mode != "state":
            raise ValueError(f"need 0 < hop_s <= context_s, got {self.hop_s}, {self.context_s}")
        for name in ("norm_s", "smooth_s", "block_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.segment_s < 0 or self.warm_s < 0:
            raise ValueError("segment_s and warm_s must not be negative")
        for name, t in [("threshold", self.threshold), *self.keyword_thresholds.items()]:
            if not 0 <= t <= 1:
                raise ValueError(f"threshold of {name} must be in [0, 1], got {t}")
        if self.vad_aggressiveness not in (0, 1, 2, 3):
            raise ValueError(f"vad_aggressiveness must be 0-3, got {self.vad_aggressiveness}")
        if self.vad_gap_s <= 0 or self.vad_min_s < 0 or self.max_segment_s < self.context_s:
            raise ValueError("need vad_gap_s > 0, vad_min_s >= 0 and max_segment_s >= context_s")

    def thresholds(self, labels: list[str]) -> np.ndarray:
        """The firing threshold of each label: its `keyword_thresholds` entry, else `threshold`."""
        return np.array([self.keyword_thresholds.get(lab, self.threshold) for lab in labels], np.float32)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# a clip model gated by a voice-activity detector: each segment's rows are one classification, so no smoothing,
# no minimum run, and suppression only merges a word cut in two (tuned: `eval-streams --tune --mode vad`)
VAD_DEFAULTS = StreamConfig()  # a clip model gated by the VAD, before tuning
WINDOW_DEFAULTS = StreamConfig(mode="window", smooth_s=0.5, threshold=0.5, min_s=0.2, suppress_s=0.5)


@dataclass(frozen=True)
class Detection:
    """A keyword found in a stream: label, estimated word span in seconds, averaged probability."""

    label: str
    start: float
    end: float
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start": round(self.start, 3), "end": round(self.end, 3),
                "score": round(self.score, 4)}


# ----------------------------------------------------------------------------- detection


def default_config(ckpt: dict[str, Any]) -> StreamConfig:
    """The settings a checkpoint was tuned with: state mode and its `streaming.detection` for a spotter
    trained on streams; a clip model's tuned `spotting` settings (vad mode); else the window-mode defaults."""
    from audio_rnn.training import registry

    fields = set(StreamConfig.__dataclass_fields__)
    if registry.role(ckpt) == registry.STREAM:
        stream = ckpt["streaming"]
        tuned = {k: v for k, v in (stream.get("detection") or {}).items() if k in fields}
        return replace(replace(WINDOW_DEFAULTS, mode="state", norm_s=float(stream.get("norm_s", 3.0))), **tuned)
    if ckpt.get("spotting"):
        tuned = registry.section(ckpt, registry.Spotting).settings()
        return replace(mode_defaults(tuned["mode"]), **tuned)
    return WINDOW_DEFAULTS


def mode_defaults(mode: str) -> StreamConfig:
    """The built-in settings of a clip model in `mode` (window or vad) before any tuning."""
    return VAD_DEFAULTS if mode == "vad" else WINDOW_DEFAULTS


def with_sensitivity(c: StreamConfig, sensitivity: float) -> StreamConfig:
    """`c` with its threshold at 1 - sensitivity, and every per-keyword threshold moved by the same amount."""
    if not 0 <= sensitivity <= 1:
        raise ValueError(f"sensitivity must be in [0, 1], got {sensitivity}")
    delta = (1 - sensitivity) - c.threshold
    return replace(c, threshold=round(1 - sensitivity, 4),
                   keyword_thresholds={k: round(min(1.0, max(0.0, t + delta)), 4)
                                       for k, t in c.keyword_thresholds.items()})


def detection_lag(c: StreamConfig, trained: bool = False, frame_s: float = 0.025,
                  hit_after_s: float = 0.3) -> tuple[float, float]:
    """(start, end) offsets from a detection's high-posterior run [a, b] to the word: start = b - s, end = a - e
    (`word_span`); in vad mode the run is the word, so start = a - s, end = b - e.

    `frame_s` (the checkpoint's analysis frame) and `hit_after_s` (how long after a word's end a stream-trained
    spotter was taught to fire: its `streaming` config) come from the checkpoint (`Spotter.lag`). Window mode:
    a window scores the word once the word is wholly inside it, so the run spans word end .. word start +
    context, shifted by half the smoothing; measured on validation streams the run starts 0.03 s and ends
    0.08 s earlier than that (medians), which the offsets include.
    """
    if c.mode == "vad":  # the run is the speech segment itself: (start, end) = (a - frame length, b)
        return (frame_s, 0.0)
    if c.mode == "window":
        return (c.context_s + c.smooth_s / 2 - 0.08, c.smooth_s / 2 - 0.03)
    if trained:  # stream-trained: the run starts about 0.25 s before the word ends (validation streams,
        # medians) and lasts until `hit_after_s` after it; words last about 0.5 s
        return (hit_after_s + c.smooth_s / 2 + 0.5, c.smooth_s / 2 - 0.25)
    return (c.smooth_s + 0.6, c.smooth_s / 2)


def word_span(a: float, b: float, config: StreamConfig, lag: tuple[float, float]) -> tuple[float, float]:
    """(start, end) of the word behind a run of firing steps [a, b] (see `detection_lag`), rounded to ms."""
    if config.mode == "vad":
        start, end = max(a - lag[0], 0.0), b - lag[1]
    else:
        start, end = max(b - lag[0], 0.0), a - lag[1]
    return round(start, 3), round(max(end, start + 0.05), 3)
