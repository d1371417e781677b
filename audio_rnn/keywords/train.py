"""Train the keyword recognizer: fresh augmentation every epoch, early stopping on unseen voices.

Clips are decoded once. Every epoch each training clip gets a new random draw of
the augmentation chain (speaker shift, placement in the 1 s window, room, noise,
level), silence clips are drawn anew, and the batch of one-second windows is
featurised in one go; the network then trains on the cached features with
SpecAugment masks. Validation uses speakers/voices absent from training
(held-out espeak-ng voices, Speech Commands' validation list, or a
speaker-hashed split of a user folder) with one fixed augmentation draw.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from audio_rnn.training import checkpoint, distributed
from audio_rnn.audio.augment import AugmentConfig, augment_speech, spec_augment
from audio_rnn.keywords.data import (LABELS, REAL_SOURCES, SILENCE, SR, UNKNOWN, WINDOW, Clip, fit_window, silence_clip,
                            silence_clips, level_and_cut, word_of)
from audio_rnn.errors import DataError
from audio_rnn.audio.features import MFCC, FeatureConfig
from audio_rnn.keywords.models import KeywordRNN, KWSDims
from audio_rnn.training.device import resolve_device
from audio_rnn.training.holdout import split_clips
from audio_rnn.training.loop import (RunConfig, Task, add_data_flags, add_run_flags, config_from_args, fit, log,
                                     save_trained, split_list, summary)


@dataclass(frozen=True)
class TrainConfig(RunConfig):
    """The run (`RunConfig`) and the keyword trainer's data mixing; saved in the checkpoint as `training`."""

    epochs: int = 30
    patience: int = 6
    batch_size: int = 64
    silence_fraction: float = 0.08  # share of each epoch that is freshly drawn silence/noise
    unknown_ratio: float = 1.5  # `_unknown_` clips per epoch relative to the mean keyword class
    label_smoothing: float = 0.05
    spec_augment: bool = True
    spec_masks: int = 2  # SpecAugment: pairs of one frequency and one time mask per example
    spec_freq: int = 4  # widest frequency mask (feature rows)
    spec_time: int = 10  # widest time mask (10 ms frames)
    speed_prob: float = 0.6  # share of speech clips resampled 0.85-1.35x (pitch and formants move: like VTLP)
    pitch_prob: float = 0.0  # share of speech clips pitch-shifted (formants kept): speaker F0 variety
    real_repeat: int = 1  # Speech Commands keyword clips per epoch (each a fresh augmentation draw)
    repeat_origin: str = ""  # real_repeat only for this data folder's clips (e.g. speech_commands); "": all
    cut_real: bool = True  # cut and level real word clips (`level_and_cut`) before placing them in the window


@dataclass
class EpochPlan:
    """One epoch's items before any audio work: source clip (-1: fresh silence), label, and its own seed.

    Every item carries a seed drawn from the epoch's generator, so any subset of the
    epoch (one rank's shard under DDP) can be rendered alone with the same result.
    """

    sources: np.ndarray  # index into the clip list, or -1 for a freshly drawn silence clip
    ys: np.ndarray  # label indices
    seeds: np.ndarray  # one augmentation seed per item

    def __len__(self) -> int:
        return len(self.ys)


def epoch_plan(clips: Sequence[Clip], labels: Sequence[str], rng: np.random.Generator,
               tc: TrainConfig) -> EpochPlan:
    """Which clips an epoch uses: keywords, `_unknown_` capped at unknown_ratio x a keyword class, fresh silence."""
    idx = {lab: i for i, lab in enumerate(labels)}
    by_label: dict[str, list[int]] = {}
    for i, c in enumerate(clips):
        by_label.setdefault(c.label, []).append(i)
    keyword_counts = [len(v) for k, v in by_label.items() if k not in (UNKNOWN, SILENCE)]
    mean_kw = float(np.mean(keyword_counts)) if keyword_counts else 100.0
    chosen: list[int] = []
    for lab, members in by_label.items():
        if lab == UNKNOWN and len(members) > tc.unknown_ratio * mean_kw:
            members = unknown_draw(clips, members, int(tc.unknown_ratio * mean_kw), rng)
        chosen.extend(members)
        if tc.real_repeat > 1 and lab not in (UNKNOWN, SILENCE):  # the rare real many-speaker keywords, again
            chosen.extend([i for i in members if clips[i].source == "speechcommands"
                           and tc.repeat_origin in ("", clips[i].origin)] * (tc.real_repeat - 1))
    ys = [idx[clips[i].label] for i in chosen]
    if SILENCE in idx:
        n_sil = int(round(len(chosen) * tc.silence_fraction / max(1e-6, 1 - tc.silence_fraction)))
        chosen += [-1] * n_sil
        ys += [idx[SILENCE]] * n_sil
    seeds = rng.integers(0, 2**63 - 1, size=len(chosen), dtype=np.int64)
    return EpochPlan(np.asarray(chosen, dtype=np.int64), np.asarray(ys, dtype=np.int64), seeds)


UNKNOWN_WORD_CAP = 4.0  # a word counts as at most this many times the median word's clips in `_unknown_`


def unknown_draw(clips: Sequence[Clip], members: Sequence[int], n: int, rng: np.random.Generator) -> list[int]:
    """`n` of the `_unknown_` clips, no word weighing more than `UNKNOWN_WORD_CAP` x the median word: 2,400
    clips of bed/cat/happy must not stand for every other word, while the words with few clips keep theirs."""
    words = [word_of(clips[i]) for i in members]
    _, inverse, counts = np.unique(words, return_inverse=True, return_counts=True)
    cap = UNKNOWN_WORD_CAP * float(np.median(counts))
    p = np.minimum(1.0, cap / counts[inverse])
    return [int(i) for i in rng.choice(np.asarray(members), n, replace=False, p=p / p.sum())]


def noise_beds(clips: Sequence[Clip]) -> list[np.ndarray]:
    """The recorded `_silence_` clips (real taps, dishes, bikes, rooms), used as noise beds for every other clip."""
    return [c.wave for c in clips if c.label == SILENCE and c.source in REAL_SOURCES]


def render(plan: EpochPlan, items: Sequence[int] | np.ndarray, clips: Sequence[Clip],
           aug: AugmentConfig, threads: int = 1, beds: Sequence[np.ndarray] = (), cut_real: bool = True) -> np.ndarray:
    """The augmented one-second windows (len(items), WINDOW) of the chosen plan items, in that order.

    Each item draws from its own seed, so `threads` > 1 gives the same windows, faster.
    `beds` are recorded backgrounds mixed into speech (see `noise_beds`).
    """
    def one(i: int) -> np.ndarray:
        r = np.random.default_rng(int(plan.seeds[i]))
        src = int(plan.sources[i])
        if src < 0:
            return silence_clip(r)
        c = clips[src]
        if c.label == SILENCE:
            return _silence_like(c.wave, r)
        cut = cut_real and c.source == "speechcommands"
        return augment_speech(level_and_cut(c.wave) if cut else c.wave, SR, WINDOW, r, aug, beds)

    items = [int(i) for i in items]
    out = np.zeros((len(items), WINDOW), np.float32)
    if threads > 1 and len(items) > 64:  # numpy/scipy/soxr release the GIL: items render side by side
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as ex:
            for k, w in enumerate(ex.map(one, items, chunksize=32)):
                out[k] = w
    else:
        for k, i in enumerate(items):
            out[k] = one(i)
    return out


def epoch_set(clips: Sequence[Clip], labels: Sequence[str], rng: np.random.Generator, tc: TrainConfig,
              aug: AugmentConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One whole epoch's augmented windows (N, WINDOW) and label indices (plan + render of every item)."""
    plan = epoch_plan(clips, labels, rng, tc)
    return render(plan, range(len(plan)), clips, aug or AugmentConfig(p_pitch=tc.pitch_prob),
                  beds=noise_beds(clips), cut_real=tc.cut_real), plan.ys


def _silence_like(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A recorded background clip in a window at a random level."""
    from audio_rnn.audio.augment import gain, random_place

    return gain(random_place(x, WINDOW, rng), float(rng.uniform(-20, 6)))


@torch.no_grad()
def featurize(mfcc: MFCC, waves: np.ndarray, batch: int = 512) -> torch.Tensor:
    """MFCC features (N, T, dim) of equal-length windows, in batches."""
    return torch.cat([mfcc(torch.from_numpy(waves[i:i + batch])) for i in range(0, len(waves), batch)])


def val_set(clips: Sequence[Clip], labels: Sequence[str], seed: int, n_silence: int = 150,
            aug: AugmentConfig = AugmentConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Fixed validation windows: one augmentation draw per clip (Speech Commands clips as recorded), plus silence.

    Speech Commands clips are already real one-second recordings in real rooms, so they
    are scored as they are: the condition users bring.
    """
    rng = np.random.default_rng(seed)
    idx = {lab: i for i, lab in enumerate(labels)}
    waves = [fit_window(c.wave) if c.source == "speechcommands" else augment_speech(c.wave, SR, WINDOW, rng, aug)
             for c in clips]
    ys = [idx[c.label] for c in clips]
    if SILENCE in idx:
        sil = silence_clips(n_silence, seed + 1, "val")
        waves += [c.wave for c in sil]
        ys += [idx[SILENCE]] * len(sil)
    return np.stack(waves).astype(np.float32), np.asarray(ys, dtype=np.int64)


class Validation:
    """The fixed validation windows of held-out speakers, featurised once, and how a model scores on them."""

    def __init__(self, model: KeywordRNN, mfcc: MFCC, clips: Sequence[Clip], labels: Sequence[str], seed: int):
        x, self.ys = val_set(clips, labels, seed)
        self.origins = np.asarray([c.origin or c.source for c in clips] + ["silence"] * (len(self.ys) - len(clips)))
        self.feats, self.model = featurize(mfcc, x), model
        self.by_origin: dict[str, float] = {}

    def scores(self) -> tuple[float, float]:
        """(accuracy, mean over data folders of balanced accuracy: what selects the epoch)."""
        pred = predict(self.model, self.feats)
        per = origin_scores(pred, self.ys, self.origins)
        self.by_origin = {k: v for k, v in per.items() if k != "selection"}
        return float((pred == self.ys).mean()), per["selection"]


@torch.no_grad()
def predict(model: KeywordRNN, feats: torch.Tensor, batch: int = 512) -> np.ndarray:
    """Predicted label indices of a feature batch (N, T, dim)."""
    model.eval()
    dev = next(model.parameters()).device
    return torch.cat([model(feats[i:i + batch].to(dev)).argmax(-1).cpu()
                      for i in range(0, len(feats), batch)]).numpy()


def accuracy(model: KeywordRNN, feats: torch.Tensor, ys: np.ndarray, batch: int = 512) -> float:
    return float((predict(model, feats, batch) == ys).mean())


def balanced_accuracy(pred: np.ndarray, ys: np.ndarray) -> float:
    """Mean per-class recall over the classes present: a rare real keyword counts as much as `_unknown_`."""
    return float(np.mean([(pred[ys == k] == k).mean() for k in np.unique(ys)]))


def origin_scores(pred: np.ndarray, ys: np.ndarray, origins: np.ndarray) -> dict[str, float]:
    """Balanced accuracy per data folder of the validation speakers, and their mean as "selection".

    Each folder counts equally, so 260 v0.01 speakers cannot outvote 37 v0.02 ones: a model is chosen
    for paying on every source, not on the largest.
    """
    per = {str(o): balanced_accuracy(pred[origins == o], ys[origins == o]) for o in np.unique(origins)}
    return {**{k: round(v, 4) for k, v in per.items()}, "selection": float(np.mean(list(per.values())))}


def train(clips: Sequence[Clip], out: str | Path, labels: Sequence[str] = LABELS, dims: dict[str, Any] | None = None,
          tc: TrainConfig = TrainConfig(), fc: FeatureConfig = FeatureConfig(), meta: dict[str, Any] | None = None,
          progress: bool = True, save_every: int = 0, resume: bool = False,
          init: dict[str, Any] | None = None, device: str = "cpu",
          on_epoch: Callable[[int, KeywordRNN], None] | None = None) -> tuple[KeywordRNN, dict[str, Any]]:
    """Train on `clips`, save the best (validation) model to `out`; returns (model, config).

    `on_epoch(epoch, model)` is called on the main process after each epoch's validation (benchmarks
    score other held-out speakers there); the model is back in training mode afterwards.

    `device` ("cpu", "cuda") runs the network there (data and features stay on the CPU); under
    torchrun with cuda each process uses cuda:LOCAL_RANK and the ranks talk over nccl.

    Under torchrun each rank trains on its shard of every epoch (DDP); rank 0 evaluates, logs and
    saves. `save_every` > 0 writes a resumable state to out/resume every that many steps and at
    each epoch end; `resume` continues from it (same seed: the same losses as an unbroken run).
    """
    labels = _checked_labels(clips, labels)
    ctx = distributed.context()  # torchrun: this rank's place in the job; else one process
    torch.manual_seed(tc.seed)
    rng = np.random.default_rng(tc.seed)
    train_clips, val_clips, _ = split_clips(clips, tc.seed)
    mfcc = MFCC(fc).eval()
    model_dims = KWSDims(**{"n_in": fc.dim, "n_classes": len(labels), **(dims or {})})
    model = KeywordRNN(model_dims)
    if init is not None:  # fine-tune: start from a compatible checkpoint's weights
        checkpoint.load_state(model, init, "initial model")
    dev = ctx.device if ctx.is_distributed else resolve_device(device)  # torchrun + cuda: cuda:LOCAL_RANK
    model.to(dev)
    data = _EpochData(train_clips, labels, tc, mfcc, ctx, rng)
    validation = _announce(model, ctx, data, val_clips, mfcc, labels, tc)
    task = _KeywordTask(model, distributed.wrap(model, ctx), data, validation, tc, dev, on_epoch)
    fitted = fit(task, tc, out, save_every=save_every, resume=resume, progress=progress)
    model, sel = task.model, fitted.selection
    config = {
        "kind": "kws", "labels": labels, "features": fc.to_dict(), "model": model_dims.to_dict(),
        "window_seconds": WINDOW / SR, "n_params": model.n_params(),
        "training": {**asdict(tc), **(meta or {}), **summary(sel, fitted.history, device),
                     "best_val_balanced": round(sel.best_score, 4),
                     "best_val_accuracy": (sel.best_info or {}).get("val_accuracy"),
                     "weight_average": fitted.weight_average, "n_train_clips": len(train_clips),
                     "n_val_clips": len(val_clips)},
    }
    save_trained(out, model, config, ctx.is_main)
    distributed.barrier(ctx)
    return model, config


def _checked_labels(clips: Sequence[Clip], labels: Sequence[str]) -> list[str]:
    """The model's labels, once every clip's label is among them (a stray folder name is one clear error)."""
    labels = list(labels)
    bad = sorted({c.label for c in clips} - set(labels))
    if bad:
        raise DataError(f"clip labels {bad[:5]} are not model labels {labels}")
    return labels


def _announce(model: KeywordRNN, ctx, data: "_EpochData", val_clips: Sequence[Clip], mfcc: MFCC,
              labels: Sequence[str], tc: TrainConfig) -> "Validation | None":
    """The main process says what it trains and on what, and builds the validation set (None elsewhere)."""
    if not ctx.is_main:
        return None
    d = model.dims
    print(f"model: {d.cell} x{d.layers} hidden {d.hidden} {'bi' if d.bidirectional else 'uni'}directional, "
          f"pooling {d.pooling}: {model.n_params():,} parameters", file=sys.stderr)
    print(f"data: {len(data.clips)} training clips, {len(val_clips)} validation clips "
          f"({len({c.speaker for c in val_clips})} validation speakers/voices)"
          + (f", {ctx.world_size} processes ({ctx.backend})" if ctx.is_distributed else ""), file=sys.stderr)
    if data.beds:
        print(f"noise beds: {len(data.beds)} recorded backgrounds mixed into speech", file=sys.stderr)
    return Validation(model, mfcc, val_clips, labels, tc.seed + 1000)


class _EpochData:
    """Each epoch's training windows, featurised: fresh augmentation of this rank's share of the epoch."""

    def __init__(self, clips: Sequence[Clip], labels: Sequence[str], tc: TrainConfig, mfcc: MFCC, ctx,
                 rng: np.random.Generator):
        self.clips, self.labels, self.tc, self.mfcc, self.ctx, self.rng = clips, labels, tc, mfcc, ctx, rng
        self.aug = AugmentConfig(p_pitch=tc.pitch_prob, p_speed=tc.speed_prob)
        self.beds = noise_beds(clips)

    def rank_rng(self, epoch: int) -> np.random.Generator:
        """SpecAugment draws: the run's generator, or one stream per rank under DDP."""
        if not self.ctx.is_distributed:
            return self.rng
        return np.random.default_rng([self.tc.seed, epoch, self.ctx.rank])

    def epoch_size(self) -> int:
        """Items in every epoch (the plan's length does not depend on the draw)."""
        return len(epoch_plan(self.clips, self.labels, np.random.default_rng(0), self.tc))

    def draw(self, gen_rng: np.random.Generator) -> tuple[EpochPlan, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(plan, this rank's item order, its features, its labels) of one epoch drawn from `gen_rng`."""
        plan = epoch_plan(self.clips, self.labels, gen_rng, self.tc)
        order = torch.from_numpy(gen_rng.permutation(len(plan)))
        mine = distributed.shard(order, self.ctx)  # this rank's part (all of it in one process)
        x = render(plan, mine.numpy(), self.clips, self.aug, torch.get_num_threads(), self.beds, self.tc.cut_real)
        return plan, mine, featurize(self.mfcc, x), torch.from_numpy(plan.ys[mine.numpy()])


class _KeywordTask(Task):
    """The keyword trainer for `fit`: fresh augmented windows every epoch, SpecAugment, one-cycle schedule."""

    name = "train-kws"

    def __init__(self, model: KeywordRNN, net, data: "_EpochData", validation: "Validation | None", tc: TrainConfig,
                 dev, on_epoch: Callable[[int, KeywordRNN], None] | None):
        self.model, self.net, self.data, self.validation, self.tc, self.dev = model, net, data, validation, tc, dev
        self.on_epoch = on_epoch
        self.opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
        n_per_epoch = -(-data.epoch_size() // tc.batch_size)  # the whole epoch's batches (all processes)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.opt, max_lr=tc.lr,
                                                         total_steps=int(tc.epochs) * n_per_epoch + 10, pct_start=0.15)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=tc.label_smoothing)
        self.rng = self.aug_rng = data.rng
        self.feats = self.yt = None

    def rngs(self) -> dict[str, Any]:
        return {"rng": self.rng, "aug": self.aug_rng}

    def begin_epoch(self, epoch: int) -> None:
        self.aug_rng = self.data.rank_rng(epoch)  # SpecAugment's draws (one stream per process under DDP)

    def batches(self, epoch: int) -> list[int]:
        _, mine, self.feats, self.yt = self.data.draw(self.rng)
        return list(range(0, len(mine), self.tc.batch_size))

    def loss(self, i: int, step: int, total: int) -> tuple[torch.Tensor, float]:
        tc, b = self.tc, slice(i, i + self.tc.batch_size)
        xb = spec_augment(self.feats[b], self.aug_rng, tc.spec_freq, tc.spec_time, tc.spec_masks) \
            if tc.spec_augment else self.feats[b]
        return self.loss_fn(self.net(xb.to(self.dev)), self.yt[b].to(self.dev)), len(xb)

    def validate(self, train_loss: float) -> tuple[float, dict[str, Any]]:
        plain, balanced = self.validation.scores()
        return balanced, {"loss": round(train_loss, 4), "val_accuracy": round(plain, 4),
                          "val_balanced": round(balanced, 4), "val_by_origin": self.validation.by_origin}

    def on_eval(self, row: dict[str, Any], best: bool) -> None:
        log(json.dumps(row))
        if self.on_epoch is not None:
            with torch.no_grad():
                self.on_epoch(row["epoch"], self.model.eval())


# ----------------------------------------------------------------------------- CLI


def configure_train_kws(p) -> None:
    p.add_argument("--data", action="append", required=True,
                   help="data folder, repeatable: FSDD recordings, a synth-speech set (manifest.jsonl), "
                        "Speech Commands root, or root/<label>/*.wav")
    p.add_argument("--out", required=True, help="checkpoint folder to write")
    p.add_argument("--labels", default="default",
                   help="'default' or 'digits' (digits + _silence_ + _unknown_), 'commands' (yes no up down left "
                        "right on off stop go + _silence_ + _unknown_), 'auto' (folder names + _silence_ + "
                        "_unknown_) or a comma-separated list")
    add_data_flags(p, "comma-separated espeak-ng words left out of training (e.g. homophones of a keyword)")
    p.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="gru")
    p.add_argument("--hidden", type=int, default=KWSDims.hidden)
    p.add_argument("--layers", type=int, default=KWSDims.layers)
    p.add_argument("--bidirectional", action="store_true", help="look ahead too (cannot stream)")
    p.add_argument("--pooling", choices=("last", "mean", "attention"), default=KWSDims.pooling)
    p.add_argument("--dropout", type=float, default=KWSDims.dropout)
    add_conv_flags(p)
    p.add_argument("--n-mfcc", type=int, default=FeatureConfig.n_mfcc, help="MFCCs per frame")
    p.add_argument("--deltas", action="store_true", help="append delta and delta-delta features")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--weight-decay", type=float, default=TrainConfig.weight_decay)
    p.add_argument("--patience", type=int, default=TrainConfig.patience)
    p.add_argument("--unknown-ratio", type=float, default=TrainConfig.unknown_ratio,
                   help="_unknown_ clips per epoch relative to the mean keyword class")
    p.add_argument("--real-repeat", type=int, default=TrainConfig.real_repeat,
                   help="Speech Commands keyword clips appear this many times per epoch (fresh augmentation each)")
    p.add_argument("--no-cut-real", dest="cut_real", action="store_false",
                   help="keep real Speech Commands clips whole (as recorded) instead of cut to the word and levelled")
    p.add_argument("--repeat-origin", default=TrainConfig.repeat_origin,
                   help="repeat only the clips of the data folder with this name (e.g. speech_commands: weight "
                        "v0.02 over v0.01); default: every Speech Commands folder")
    p.add_argument("--no-spec-augment", dest="spec_augment", action="store_false",
                   help="train without SpecAugment's frequency and time masks")
    p.add_argument("--pitch-prob", type=float, default=TrainConfig.pitch_prob,
                   help="share of speech clips pitch-shifted each epoch (-3..+5 semitones, formants kept)")
    p.add_argument("--swa", type=int, default=TrainConfig.swa,
                   help="also try the average weights of the last N epochs (kept if validation accuracy is no worse)")
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    add_run_flags(p, device_help="where the network trains: cpu or cuda (under torchrun: cuda:LOCAL_RANK per "
                                 "process, nccl)")
    p.add_argument("--init", help="start from this keyword checkpoint's weights (same labels; its dims are used)")
    p.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation report")
    p.add_argument("--synth-test", help="espeak-ng test set for the report (default: synthesise test voices)")
    from audio_rnn.training.resume import add_arguments

    add_arguments(p)  # --save-every N, --resume (runs unchanged under torchrun: DDP, rank 0 logs and saves)


def add_conv_flags(p) -> None:
    """--conv/--conv-kernel: a causal convolution under the recurrent stack (a CRNN; 0 channels: none)."""
    p.add_argument("--conv", type=int, default=KWSDims.conv,
                   help="channels of a causal 1-D convolution under the recurrent stack (a CRNN; 0: none)")
    p.add_argument("--conv-kernel", type=int, default=KWSDims.conv_kernel,
                   help="its width in frames (this frame and the ones before)")


def _labels(spec: str, clips_dirs: Sequence[str]) -> list[str]:
    from audio_rnn.keywords.data import VOCABULARIES

    if spec == "default":
        return list(LABELS)
    if spec in VOCABULARIES:
        return list(VOCABULARIES[spec])
    if spec == "auto":
        names = sorted({p.name for d in clips_dirs for p in Path(d).iterdir() if p.is_dir()
                        and p.name not in (SILENCE, UNKNOWN, "_background_noise_")})
        if not names:
            raise DataError("--labels auto needs root/<label>/ folders")
        return names + [SILENCE, UNKNOWN]
    names = [s.strip() for s in spec.split(",") if s.strip()]
    return names + [lab for lab in (SILENCE, UNKNOWN) if lab not in names]


def run_train_kws(args) -> int:
    from audio_rnn.keywords.data import load_training_clips

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    resolve_device(args.device)
    ctx = distributed.setup(device=args.device)  # under torchrun: gloo on CPU, nccl on GPU; no-op otherwise
    labels = _labels(args.labels, args.data)
    holdout, excluded = split_list(args.holdout_speakers), split_list(args.exclude_words)
    clips = load_training_clips(args.data, labels, holdout, excluded, progress=not args.quiet,
                                val_speakers=split_list(args.val_speakers))
    init = None
    fc = FeatureConfig(n_mfcc=args.n_mfcc, deltas=args.deltas)
    if args.init:
        init, init_cfg = checkpoint.load(args.init, kind="kws")
        if list(init_cfg.get("labels", [])) != labels:
            raise DataError(f"--init model has labels {init_cfg.get('labels')}, training needs {labels}")
        init_dims = KWSDims.from_dict(init_cfg["model"])  # older checkpoints have no convolution keys
        args.cell, args.hidden, args.layers, args.bidirectional, args.pooling, args.dropout, args.conv, \
            args.conv_kernel = (getattr(init_dims, k) for k in ("cell", "hidden", "layers", "bidirectional",
                                                                "pooling", "dropout", "conv", "conv_kernel"))
        fc = FeatureConfig.from_dict(init_cfg["features"])  # the features its weights were trained on
    tc = config_from_args(TrainConfig, args)
    dims = {"cell": args.cell, "hidden": args.hidden, "layers": args.layers, "bidirectional": args.bidirectional,
            "pooling": args.pooling, "dropout": args.dropout, "conv": args.conv, "conv_kernel": args.conv_kernel}
    meta = {"data": [str(d) for d in args.data], "holdout_speakers": holdout,
            "val_speakers": split_list(args.val_speakers), "init": args.init,
            "exclude_words": sorted(excluded),
            "command": "audio-rnn train-kws " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else ""}
    try:
        _, config = train(clips, args.out, labels, dims, tc, fc=fc, meta=meta, progress=not args.quiet,
                          save_every=args.save_every, resume=args.resume, init=init, device=args.device)
    finally:
        distributed.cleanup()
    if not ctx.is_main:
        return 0
    print(f"saved {args.out} (best epoch {config['training']['best_epoch']}, validation accuracy "
          f"{config['training']['best_val_accuracy']:.3f}, {config['training']['train_seconds']:.0f} s)")
    if not args.no_eval:
        _report(args, labels, holdout, config)
    return 0


def _report(args, labels: Sequence[str], holdout: Sequence[str], config: dict[str, Any]) -> None:
    """The held-out report of a shipped vocabulary (report.json, confusions): FSDD and espeak-ng test voices
    for digits, and the validation speakers of every Speech Commands folder trained on, pooled."""
    import tempfile

    from audio_rnn.keywords.data import is_speech_commands_folder
    from audio_rnn.keywords.evaluate import (DEFAULT_FSDD, add_real, real_suite, summary_lines, synth_test_set,
                                             target_suite, vocabulary, write_report)
    from audio_rnn.keywords.recognize import Recognizer

    vocab = vocabulary(labels)
    if vocab is None:
        return
    fsdd_dirs = [d for d in args.data if Path(d).name == "recordings" or (Path(d) / "recordings").is_dir()]
    fsdd = fsdd_dirs[0] if fsdd_dirs else (str(DEFAULT_FSDD) if holdout else None)
    rec = Recognizer(args.out)
    report: dict[str, Any] = {"targets": {}, "conditions": {}, "pass": {}}
    if vocab == "digits":
        with tempfile.TemporaryDirectory() as tmp:
            synth = args.synth_test or synth_test_set(Path(tmp) / "synth_test")
            report = target_suite(rec, fsdd if holdout else None, holdout, synth, progress=not args.quiet)
    sc = [d for d in args.data if is_speech_commands_folder(Path(d))]
    if sc:  # the real speakers kept out of training (the validation 20% by speaker hash)
        add_real(report, real_suite(rec, sc, progress=not args.quiet), labels)
    report["training"] = {k: v for k, v in config["training"].items() if k != "history"}
    report["n_params"] = config["n_params"]
    write_report(report, args.out)
    print("\n".join(summary_lines(report)))
