"""Train a streaming keyword spotter: a unidirectional GRU that runs over hours of audio with carried state.

The clip recognizer (`keywords.train`) learns one label per 1 s window, so spotting
with it means rerunning it on overlapping windows. This trainer instead builds
long synthetic streams from the training clips (words with random gaps over
continuous noise, exactly like `make-streams` but from training speakers and
voices only) and teaches the network a label for every frame:

* shortly before a keyword word ends until `hit_after_s` after it: the keyword;
* the first part of every word (it may still become any word): no target;
* the rest of a non-keyword word and its tail: `_unknown_`; everything else: `_silence_`.

Backgrounds are drawn noise (coloured, hum, room, babble) or, for a share
`real_bg_prob` of the streams, a continuous bed spliced from recorded
backgrounds (the `_silence_` clips of Speech Commands: taps, dishes, bikes).

Features are computed by the spotter's own numpy front-end with causal running
normalisation (`frontend.CausalFeatures`), so training and inference see the
same numbers; `stack` consecutive frames are concatenated so the recurrence runs
at 20 ms. Training is truncated BPTT: every batch row is one continuous stream
and its state is carried (detached) from chunk to chunk, so the network learns
to run indefinitely. Model selection scores detections on validation streams
built from held-out voices.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from audio_rnn.audio.augment import AugmentConfig, gain, pitch_shift, reverb, speed
from audio_rnn.keywords.data import LABELS, REAL_SOURCES, SILENCE, SR, UNKNOWN, VOCABULARIES, Clip
from audio_rnn.errors import DataError
from audio_rnn.audio.features import FeatureConfig
from audio_rnn.keywords.models import KeywordRNN, KWSDims
from audio_rnn.keywords.train import add_conv_flags
from audio_rnn.training.loop import (RunConfig, Task, add_data_flags, add_run_flags, config_from_args, fit, log,
                                     save_trained, split_list, summary)

IGNORE = -100  # frames without a target (the start of a word: it may still become anything)


@dataclass(frozen=True)
class SpotTrainConfig(RunConfig):
    """The run (`RunConfig`), stream synthesis and targets; saved in the checkpoint as `training`."""

    epochs: int = 40
    patience: int = 8
    streams: int = 64  # streams per epoch = batch rows (each one continuous)
    stream_s: float = 60.0
    chunk_s: float = 2.0  # truncated-BPTT length; state is carried across chunks
    keyword_fraction: float = 0.6
    gap_s: tuple[float, float] = (0.05, 1.5)
    snr_db: tuple[float, float] = (5.0, 35.0)
    real_bg_prob: float = 0.5  # streams over a bed of recorded backgrounds (when the data has any)
    gain_db: tuple[float, float] = (-15.0, 0.0)
    pitch_prob: float = 0.3
    hit_before_s: float = 0.15  # keyword target starts this long before the word ends
    hit_after_s: float = 0.3  # ... and lasts this long after it
    onset_ignore_s: float = 0.25  # no target for a non-keyword word's first part
    label_smoothing: float = 0.05
    val_streams: int = 16


@dataclass(frozen=True)
class StreamingConfig:
    """How a streaming checkpoint's frames are made from the front-end's; saved as `streaming`."""

    norm_s: float = 3.0  # causal running normalisation window
    stack: int = 2  # frames concatenated per recurrent step (2: the GRU runs at 20 ms)
    hit_before_s: float = 0.15
    hit_after_s: float = 0.3
    detection: dict[str, float] = field(default_factory=dict)  # tuned spotter settings (threshold, smooth_s, ...)


# ----------------------------------------------------------------------------- streams


def word_pool(clips: Sequence[Clip], labels: Sequence[str]) -> dict[str, list[np.ndarray]]:
    """Trimmed, peak-normalised waves by label (keywords and `_unknown_`), and recorded backgrounds under
    `_silence_` (real `_silence_` clips, untrimmed: they become continuous beds)."""
    from audio_rnn.streams.synth import trimmed_word

    pool: dict[str, list[np.ndarray]] = {}
    for c in clips:
        if c.label == SILENCE:
            if c.source in REAL_SOURCES and c.wave.size > SR // 10:
                pool.setdefault(SILENCE, []).append(c.wave)
            continue
        if c.label not in labels:
            raise DataError(f"clip label {c.label!r} is not a model label {list(labels)}")
        x = trimmed_word(c.wave)
        if len(x) >= SR // 20:
            pool.setdefault(c.label, []).append(x)
    keywords = [k for k in pool if k not in (UNKNOWN, SILENCE)]
    if not keywords:
        raise DataError("no keyword clips to build training streams from")
    return pool


def n_words(pool: dict[str, list[np.ndarray]]) -> int:
    """Spoken words in a pool (recorded backgrounds not counted)."""
    return sum(len(v) for k, v in pool.items() if k != SILENCE)


def _word(x: np.ndarray, rng: np.random.Generator, cfg: SpotTrainConfig, aug: AugmentConfig) -> np.ndarray:
    """One spoken word with a fresh speaker/room/level draw (noise comes later, for the whole stream)."""
    y = x
    if rng.random() < aug.p_speed:
        y = speed(y, float(rng.uniform(*aug.speed_range)))
    if rng.random() < cfg.pitch_prob:
        y = pitch_shift(y, SR, float(rng.uniform(-3, 5)))
    if rng.random() < aug.p_reverb:
        n = len(y)
        y = reverb(np.pad(y, (0, SR // 4)), SR, float(rng.uniform(*aug.rt60_range)), rng)[: n + SR // 4]
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    y = y / peak * 0.7 if peak > 0 else y
    return gain(y, float(rng.uniform(*cfg.gain_db))).astype(np.float32)


def render_stream(pool: dict[str, list[np.ndarray]], seconds: float, rng: np.random.Generator,
                  cfg: SpotTrainConfig, aug: AugmentConfig = AugmentConfig()) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """(16 kHz wave, words [{label, start, end}]) of one stream: words, random gaps, one background at one SNR."""
    from audio_rnn.streams.synth import NOISES, mix, recorded_bed

    total = int(seconds * SR)
    keywords = sorted(k for k in pool if k not in (UNKNOWN, SILENCE))
    pieces: list[tuple[int, np.ndarray]] = []
    words: list[dict[str, Any]] = []
    t = int(rng.uniform(0.2, 1.5) * SR)
    while True:
        if UNKNOWN not in pool or rng.random() < cfg.keyword_fraction:
            label = keywords[int(rng.integers(len(keywords)))]
        else:
            label = UNKNOWN
        src = pool[label][int(rng.integers(len(pool[label])))]
        x = _word(src, rng, cfg, aug)
        if t + len(x) + SR // 4 > total:
            break
        pieces.append((t, x))
        words.append({"label": label, "start": t / SR, "end": (t + len(x)) / SR})
        t += len(x) + int(rng.uniform(*cfg.gap_s) * SR)
    kind = NOISES[int(rng.integers(len(NOISES)))]
    bed = recorded_bed(total, pool[SILENCE], rng) if SILENCE in pool and rng.random() < cfg.real_bg_prob else None
    wave, _ = mix(total, pieces, kind, float(rng.uniform(*cfg.snr_db)), rng, bed)
    return wave, words


def step_times(n_steps: int, fe: Any, stack: int) -> np.ndarray:
    """Seconds of audio heard at each recurrent step (the end of its last stacked frame)."""
    last = np.arange(n_steps) * stack + stack - 1
    return (last * fe.hop + fe.win) / fe.sr


def frame_targets(words: Sequence[dict[str, Any]], times: np.ndarray, labels: Sequence[str],
                  sc: StreamingConfig, onset_ignore_s: float = 0.25) -> np.ndarray:
    """Target label index per step (IGNORE where undefined), from word spans; keyword hits win overlaps."""
    idx = {lab: i for i, lab in enumerate(labels)}
    y = np.full(len(times), idx[SILENCE], np.int64)
    for w in words:  # every word: its onset has no target; a non-keyword's body and tail are _unknown_
        s, e = w["start"], w["end"]
        if w["label"] == UNKNOWN:
            y[(times >= s) & (times < s + onset_ignore_s)] = IGNORE
            y[(times >= s + onset_ignore_s) & (times < e + sc.hit_after_s)] = idx[UNKNOWN]
        else:
            y[(times >= s) & (times < e - sc.hit_before_s)] = IGNORE
    for w in words:
        if w["label"] != UNKNOWN:
            e = w["end"]
            y[(times >= e - sc.hit_before_s) & (times < e + sc.hit_after_s)] = idx[w["label"]]
    return y


def stream_features(wave: np.ndarray, fe: Any, sc: StreamingConfig) -> np.ndarray:
    """(steps, dim * stack) causal features of a whole stream, as the spotter computes them block by block."""
    from audio_rnn.spotting.frontend import CausalFeatures, stack_frames

    lm = fe.log_mel(wave)
    x = CausalFeatures(fe, int(round(sc.norm_s * fe.sr / fe.hop)))(lm)
    return stack_frames(x, sc.stack)


def make_batch(pool: dict[str, list[np.ndarray]], n: int, seeds: Sequence[int], fe: Any, labels: Sequence[str],
               cfg: SpotTrainConfig, sc: StreamingConfig, aug: AugmentConfig, threads: int = 1
               ) -> tuple[np.ndarray, np.ndarray, list[list[dict[str, Any]]]]:
    """(features (n, steps, D), targets (n, steps), words per stream) of `n` streams, one seed each."""

    def one(seed: int):
        r = np.random.default_rng(seed)
        wave, words = render_stream(pool, cfg.stream_s, r, cfg, aug)
        x = stream_features(wave, fe, sc)
        y = frame_targets(words, step_times(len(x), fe, sc.stack), labels, sc, cfg.onset_ignore_s)
        return x, y, words

    if threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as ex:
            rows = list(ex.map(one, seeds))
    else:
        rows = [one(s) for s in seeds]
    steps = min(len(r[0]) for r in rows)
    return np.stack([r[0][:steps] for r in rows]), np.stack([r[1][:steps] for r in rows]), [r[2] for r in rows]


# ----------------------------------------------------------------------------- validation


DEFAULT_DETECTION = {"threshold": 0.5, "smooth_s": 0.3, "min_s": 0.1, "suppress_s": 0.5}


@torch.no_grad()
def stream_posteriors(model: KeywordRNN, feats: np.ndarray) -> np.ndarray:
    """(n, steps, C) posteriors of whole streams from zero state."""
    model.eval()
    dev = next(model.parameters()).device
    out = []
    for i in range(0, len(feats), 16):
        logits, _ = model.frame_logits(torch.from_numpy(feats[i:i + 16]).to(dev))
        out.append(torch.softmax(logits, -1).cpu().numpy())
    return np.concatenate(out)


def detection_score(probs: np.ndarray, words: Sequence[Sequence[dict[str, Any]]], times: np.ndarray,
                    labels: Sequence[str], detection: dict[str, float], seconds: float) -> dict[str, Any]:
    """Spotter summary (found-and-right %, wrong %, false alarms per word ...) of posteriors against truth."""
    from audio_rnn.streams.scoring import Score, score
    from audio_rnn.spotting.decider import detect_posteriors
    from audio_rnn.spotting.detection import WINDOW_DEFAULTS, detection_lag

    cfg = replace(replace(WINDOW_DEFAULTS, mode="state"), **detection)
    total = Score()
    for p, ws in zip(probs, words):
        dets = detect_posteriors(times, p, list(labels), cfg, lag=detection_lag(cfg, trained=True))
        total.add(score(dets, ws, seconds))
    return total.summary()


def val_metric(s: dict[str, Any]) -> float:
    """One number to pick the best epoch: found-and-right minus wrong minus false alarms (all per 100 words)."""
    return s["found_right_pct"] - s["wrong_pct"] - 100 * s["fa_per_word"]


# ----------------------------------------------------------------------------- training


def train(clips: Sequence[Clip], out: str | Path, labels: Sequence[str] = LABELS, dims: dict[str, Any] | None = None,
          tc: SpotTrainConfig = SpotTrainConfig(), fc: FeatureConfig = FeatureConfig(deltas=True),
          sc: StreamingConfig = StreamingConfig(), meta: dict[str, Any] | None = None, progress: bool = True,
          threads: int = 1, device: str = "cpu") -> tuple[KeywordRNN, dict[str, Any]]:
    """Train on streams built from `clips` (train split; val split for model selection), save the best to `out`.

    `device` ("cpu", "cuda") runs the network there; streams and features are always made on the CPU."""
    from audio_rnn.spotting.frontend import FrontEnd
    from audio_rnn.training.holdout import split_clips

    labels = list(labels)
    if SILENCE not in labels:
        raise DataError(f"a spotter needs a {SILENCE} label")
    train_clips, val_clips, _ = split_clips(clips, tc.seed)
    pool, val_pool = word_pool(train_clips, labels), word_pool(val_clips, labels)
    fe = FrontEnd(fc.to_dict())
    sc = StreamingConfig(norm_s=sc.norm_s, stack=sc.stack, hit_before_s=tc.hit_before_s, hit_after_s=tc.hit_after_s,
                         detection=dict(sc.detection or DEFAULT_DETECTION))
    torch.manual_seed(tc.seed)
    model, dev = _spot_model(labels, dims, fe, sc, device)
    print(f"spotter: {model.dims.cell} x{model.dims.layers} hidden {model.dims.hidden}, {fe.dim}x{sc.stack} inputs "
          f"per {sc.stack * fe.hop * 1000 // fe.sr} ms step: {model.n_params():,} parameters; "
          f"{n_words(pool)} training words, {n_words(val_pool)} validation words, "
          f"{len(pool.get(SILENCE, []))} recorded backgrounds", file=sys.stderr)
    validate = _validator(model, val_pool, fe, labels, tc, sc, threads)
    with _SpotTask(model, dev, pool, fe, labels, tc, sc, threads, validate) as task:
        fitted = fit(task, replace(tc, threads=threads), progress=progress)
    model, sel = task.model, fitted.selection
    swa_note = fitted.weight_average
    if swa_note:
        swa_note["val_found_right_pct"] = sel.averaged_info["val_found_right_pct"]
    config = {
        "kind": "kws", "labels": labels, "features": fc.to_dict(), "model": model.dims.to_dict(),
        "streaming": asdict(sc), "n_params": model.n_params(),
        "training": {**asdict(tc), **(meta or {}), **summary(sel, [{k: v for k, v in row.items() if k != "detection"}
                                                                  for row in fitted.history], device),
                     "best_val": sel.best_info["detection"],
                     "weight_average": swa_note, "n_train_words": n_words(pool), "n_val_words": n_words(val_pool),
                     "n_recorded_backgrounds": len(pool.get(SILENCE, []))},
    }
    save_trained(out, model, config)
    return model, config


def _spot_model(labels: Sequence[str], dims: dict[str, Any] | None, fe: Any, sc: StreamingConfig,
                device: str) -> tuple[KeywordRNN, Any]:
    """A fresh unidirectional last-state network for `sc.stack` stacked frames, on its device."""
    from audio_rnn.training.device import resolve_device

    model_dims = KWSDims(**{"n_in": fe.dim * sc.stack, "n_classes": len(labels), "pooling": "last",
                            **(dims or {})})
    if model_dims.pooling != "last" or model_dims.bidirectional:
        raise DataError("a streaming spotter needs a unidirectional model with last-state pooling")
    dev = resolve_device(device)
    return KeywordRNN(model_dims).to(dev), dev


def _validator(model: KeywordRNN, val_pool: dict[str, list[np.ndarray]], fe: Any, labels: Sequence[str],
               tc: SpotTrainConfig, sc: StreamingConfig, threads: int) -> Callable[[], tuple[float, dict[str, Any]]]:
    """The fixed validation streams of held-out voices, and a function scoring the model's detections on them."""
    vrng = np.random.default_rng([tc.seed, 10_000])
    vseeds = [int(s) for s in vrng.integers(0, 2**31, tc.val_streams)]
    vx, _, vwords = make_batch(val_pool, tc.val_streams, vseeds, fe, labels, tc, sc, AugmentConfig(), threads)
    vtimes = step_times(vx.shape[1], fe, sc.stack)

    def validate() -> tuple[float, dict[str, Any]]:
        vs = detection_score(stream_posteriors(model, vx), vwords, vtimes, labels, sc.detection, tc.stream_s)
        return val_metric(vs), vs

    return validate


class _SpotTask(Task):
    """The spotter trainer for `fit`: each epoch fresh streams (the next rendered while this one trains),
    trained in truncated-BPTT chunks with the recurrent state carried; scored by detection on held-out voices."""

    name = "train-spot"

    def __init__(self, model: KeywordRNN, dev: Any, pool: dict[str, list[np.ndarray]], fe: Any,
                 labels: Sequence[str], tc: SpotTrainConfig, sc: StreamingConfig, threads: int,
                 validate: Callable[[], tuple[float, dict[str, Any]]]):
        from concurrent.futures import ThreadPoolExecutor

        self.model = self.net = model
        self.dev, self.tc, self.validate_streams = dev, tc, validate
        self.chunk = max(1, int(round(tc.chunk_s / (sc.stack * fe.hop / fe.sr))))
        n_chunks = max(1, -(-(int(tc.stream_s * fe.sr / fe.hop) // sc.stack) // self.chunk))
        self.opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.opt, max_lr=tc.lr, total_steps=tc.epochs * n_chunks + 10,
                                                         pct_start=0.1)
        self.loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE, label_smoothing=tc.label_smoothing)
        self.rng = np.random.default_rng(tc.seed)
        self.draw = lambda seeds: make_batch(pool, tc.streams, seeds, fe, labels, tc, sc, AugmentConfig(), threads)
        self.prefetch = ThreadPoolExecutor(1)
        self.next = self.prefetch.submit(self.draw, self.seeds())
        self.xt = self.yt = self.state = None

    def __enter__(self) -> "_SpotTask":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.prefetch.shutdown(wait=True, cancel_futures=True)

    def seeds(self) -> list[int]:
        return [int(s) for s in self.rng.integers(0, 2**31, self.tc.streams)]

    def batches(self, epoch: int) -> list[int]:
        x, y, _ = self.next.result()
        if epoch < self.tc.epochs:
            self.next = self.prefetch.submit(self.draw, self.seeds())
        self.xt, self.yt, self.state = torch.from_numpy(x).to(self.dev), torch.from_numpy(y).to(self.dev), None
        return list(range(0, x.shape[1], self.chunk))

    def loss(self, i: int, step: int, total: int) -> tuple[torch.Tensor, float]:
        loss, self.state = chunk_loss(self.model, self.xt, self.yt, i, self.chunk, self.state, self.loss_fn)
        return loss, 1.0

    def validate(self, train_loss: float) -> tuple[float, dict[str, Any]]:
        metric, vs = self.validate_streams()
        return metric, {"loss": round(train_loss, 4), "val_found_right_pct": vs["found_right_pct"],
                        "val_wrong_pct": vs["wrong_pct"], "val_fa_per_word": vs["fa_per_word"],
                        "val_metric": round(metric, 2), "detection": vs}

    def on_eval(self, row: dict[str, Any], best: bool) -> None:
        log(json.dumps({k: v for k, v in row.items() if k != "detection"}))


def detach_state(state: Any) -> Any:
    """The carried state (tensors, in tuples, lists and dicts: an LSTM's (h, c), a CRNN's frames) cut from the graph."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, dict):
        return {k: detach_state(v) for k, v in state.items()}
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(v) for v in state)
    return state


def chunk_loss(model: KeywordRNN, xt: torch.Tensor, yt: torch.Tensor, i: int, chunk: int, state: Any,
               loss_fn) -> tuple[torch.Tensor, Any]:
    """Truncated BPTT: the loss of frames i..i+chunk from the carried state, and the new state cut from the graph."""
    logits, state = model.frame_logits(xt[:, i:i + chunk], state)
    y = yt[:, i:i + chunk]
    return loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)), detach_state(state)


# ----------------------------------------------------------------------------- CLI


def configure_train_spot(p) -> None:
    d = SpotTrainConfig()
    p.add_argument("--data", action="append", required=True,
                   help="FSDD folder, espeak-ng set (synth-speech), Speech Commands or root/<label>/ (repeatable)")
    p.add_argument("--out", required=True, help="checkpoint folder to write")
    p.add_argument("--labels", choices=sorted(VOCABULARIES), default="digits",
                   help="the vocabulary to spot: digits (default) or the ten Speech Commands commands")
    add_data_flags(p, "comma-separated espeak-ng non-keywords to leave out, e.g. 'tree' (how speakers who stop "
                      "'th' say 'three')")
    p.add_argument("--real-repeat", type=int, default=1,
                   help="Speech Commands keyword clips enter the word pool this many times (they are few)")
    p.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="gru")
    p.add_argument("--hidden", type=int, default=160)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.1)
    add_conv_flags(p)
    p.add_argument("--stack", type=int, default=StreamingConfig.stack, help="10 ms frames per recurrent step")
    p.add_argument("--norm-seconds", type=float, default=StreamingConfig.norm_s,
                   help="causal normalisation window (default %(default)s s)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--streams", type=int, default=d.streams, help="streams per epoch (the batch)")
    p.add_argument("--stream-seconds", type=float, default=d.stream_s)
    p.add_argument("--chunk-seconds", type=float, default=d.chunk_s, help="truncated BPTT length")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--patience", type=int, default=d.patience)
    p.add_argument("--val-streams", type=int, default=d.val_streams, help="validation streams (held-out voices)")
    p.add_argument("--pitch-prob", type=float, default=d.pitch_prob)
    p.add_argument("--swa", type=int, default=d.swa,
                   help="also try the weight average of the last N epochs (kept if validation agrees)")
    p.add_argument("--seed", type=int, default=d.seed)
    add_run_flags(p, threads_help="torch and rendering threads",
                  device_help="where the network trains: cpu or cuda (streams are made on the CPU)")


def run_train_spot(args) -> int:
    from audio_rnn.keywords.data import load_training_clips

    torch.set_num_threads(max(1, args.threads))
    from audio_rnn.training.device import resolve_device

    resolve_device(args.device)  # a bad --device fails before any data is loaded
    holdout, excluded = split_list(args.holdout_speakers), sorted(split_list(args.exclude_words))
    labels = list(VOCABULARIES[args.labels])
    clips = load_training_clips(args.data, labels, holdout, excluded, progress=not args.quiet,
                                val_speakers=split_list(args.val_speakers), keep_test=False)
    if args.real_repeat > 1:  # many real speakers, few clips each: heard as often as the plentiful sources
        clips += [c for c in clips if c.source == "speechcommands" and c.label not in (SILENCE, UNKNOWN)
                  ] * (args.real_repeat - 1)
    tc = config_from_args(SpotTrainConfig, args, stream_s="stream_seconds", chunk_s="chunk_seconds")
    sc = StreamingConfig(norm_s=args.norm_seconds, stack=args.stack)
    dims = {"cell": args.cell, "hidden": args.hidden, "layers": args.layers, "dropout": args.dropout,
            "conv": args.conv, "conv_kernel": args.conv_kernel}
    meta = {"data": [str(d) for d in args.data], "holdout_speakers": holdout, "exclude_words": excluded,
            "real_repeat": args.real_repeat,
            "command": "audio-rnn train-spot " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else ""}
    _, config = train(clips, args.out, labels, dims, tc, sc=sc, meta=meta, progress=not args.quiet,
                      threads=args.threads, device=args.device)
    t = config["training"]
    print(f"saved {args.out} (best epoch {t['best_epoch']}: validation streams found-and-right "
          f"{t['best_val']['found_right_pct']}%, false alarms {t['best_val']['fa_per_word']}/word; "
          f"{t['train_seconds']:.0f} s)")
    return 0
