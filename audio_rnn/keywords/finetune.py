"""Train your own keywords: a few examples per word become a keyword model in well under a minute.

Given at least 5 recordings of each of one or more words, the background
classes are added automatically: `_silence_` from the noise generator of
`audio_rnn.keywords.data` and the shipped recorded backgrounds, and `_unknown_` from real
words by real people (the shipped `word_bank`, Speech Commands cepstra) plus
espeak-ng words, none of them the user's. A shipped keyword model (`digits` or
`commands`) is fine-tuned with a new output layer (rows for labels it already
knows are kept), or, when there is none, a small GRU is trained from scratch.
The loss weighs every class equally, so a few hundred real `_unknown_` clips
teach rejection without drowning five examples of a word. Every epoch draws fresh
augmentations (`audio_rnn.audio.augment`), and training stops at a wall-clock budget.
Short leave-one-take-out runs score takes they never heard, the final model scores
a third of the other words it never heard, and the keyword threshold is chosen
on those scores: what the model will say to a new speaker, not to the takes it learnt.
The result is an ordinary `kws` checkpoint (safetensors + JSON) that
`classify --model` and `Recognizer` load.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from audio_rnn.errors import DataError
from audio_rnn.training import registry
from audio_rnn.training.loop import RunConfig, Task

MIN_WORDS = 1  # one wake word against everything else
MIN_EXAMPLES = 5
MAX_WORDS = 10
WORD_RE = re.compile(r"^[a-z0-9][a-z0-9_'-]{0,23}$")

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class FinetuneConfig(RunConfig):
    """The run (`RunConfig`: its time budget is the user's) and how to make and train the examples; saved in the
    checkpoint under `finetune`."""

    epochs: int = 40
    max_minutes: float | None = 35 / 60  # the training loop stops at this budget even if epochs remain
    weight_decay: float = 1e-4
    threads: int = 1
    mode: str = "auto"  # "finetune" the shipped model, "scratch" (small GRU), or "auto" (finetune if shipped)
    batch_size: int = 32
    base_lr_scale: float = 0.3  # fine-tune mode: the pretrained layers learn this much slower than the new head
    freeze_lower: bool = True  # fine-tune mode: fix the norm, any convolution, all but the top recurrent layer
    copies: int = 6  # augmented draws of each example, made once before training
    pitch_prob: float = 0.0  # share of those draws pitch-shifted (formants kept): other speakers' F0
    silence_share: float = 0.8  # silence clips relative to one keyword's clips
    unknown_ratio: float = 1.5  # unknown clips relative to one keyword's clips
    unknown_pool: int = 60  # distinct espeak-ng unknown clips synthesised once (a third kept out when calibrating)
    voiced_takes: int = 0  # espeak-ng renditions of each user word in other voices, beside the user's takes
    real_words: bool = True  # add the shipped real-word bank (Speech Commands cepstra) to `_unknown_`/`_silence_`
    # the takes' own background as noise beds and silence for all clips; off: on a simulated microphone (takes
    # and other words through one channel) and on real takes it cost 3-6 points of keywords at the same rejection
    channel: bool = False
    calibrate_folds: int = 5  # leave one take out: short runs that choose the keyword threshold (0: none)
    calibrate_budget_s: float = 7.0  # seconds of training per calibration run
    reject_aim: float = 0.92  # calibration: the share of held-out other real words the threshold must reject
    hidden: int = 64  # scratch mode only

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "finetune", "scratch"):
            raise ValueError(f"mode must be auto, finetune or scratch, got {self.mode!r}")
        if self.epochs < 1 or not (self.max_minutes or 0) > 0 or self.batch_size < 1 or self.copies < 1 or \
                self.calibrate_folds < 0 or self.calibrate_budget_s <= 0 or not 0.5 <= self.reject_aim < 1:
            raise ValueError(f"invalid training settings: {self}")
        if self.device != "cpu":
            raise ValueError("train-own trains on the CPU (a few seconds of examples; no device flag)")


@dataclass
class FinetuneResult:
    """What training produced: the checkpoint folder, labels, per-epoch history and clean accuracy."""

    folder: Path
    labels: list[str]
    mode: str
    seconds: float
    epochs: int
    history: list[dict[str, float]] = field(default_factory=list)
    train_accuracy: float = 0.0  # on the user's own, un-augmented examples + fresh background clips
    n_examples: dict[str, int] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None  # leave-one-take-out: threshold, held-out takes right, rejected

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["folder"] = str(self.folder)
        return d


# ----------------------------------------------------------------------------- examples


def clean_word(word: str) -> str:
    """A user's word as a label: lower-case, trimmed, spaces to underscores; raises DataError if unusable."""
    w = re.sub(r"\s+", "_", str(word).strip().lower())
    if w in ("_silence_", "_unknown_"):
        raise DataError(f"{w} is a reserved label; pick another word")
    if not WORD_RE.match(w):
        raise DataError(f"keyword {word!r} must be 1-24 letters, digits, _ ' or - (starting with a letter or digit)")
    return w


def check_examples(examples: Mapping[str, Sequence[np.ndarray]]) -> dict[str, list[np.ndarray]]:
    """Validate {word: [waves at 16 kHz]}: >= 1 distinct word with >= 5 usable recordings each."""
    out: dict[str, list[np.ndarray]] = {}
    for word, waves in examples.items():
        w = clean_word(word)
        if w in out:
            raise DataError(f"keyword {w!r} is given twice")
        good = [np.asarray(x, dtype=np.float32) for x in waves if np.size(x) and np.max(np.abs(x)) > 1e-4]
        if len(good) < MIN_EXAMPLES:
            raise DataError(f"keyword {w!r} has {len(good)} usable recordings; record at least {MIN_EXAMPLES} "
                            f"(silent or empty recordings do not count)")
        out[w] = good
    if len(out) < MIN_WORDS:
        raise DataError(f"give at least {MIN_WORDS} keywords (got {len(out)})")
    if len(out) > MAX_WORDS:
        raise DataError(f"at most {MAX_WORDS} keywords (got {len(out)})")
    return out


def word_core(x: np.ndarray, sr: int = 16000) -> np.ndarray:
    """The spoken part of a recording: its loudest second, with leading/trailing near-silence trimmed."""
    x = np.asarray(x, dtype=np.float32)
    a, b = core_bounds(x, sr)
    return x[a:b]


def core_bounds(x: np.ndarray, sr: int = 16000, above_floor: bool = False) -> tuple[int, int]:
    """[start, end) in `x` of `word_core`'s spoken part (the whole loudest second when trimming leaves < 50 ms).

    By share of the peak (`trim_bounds`), which keeps a noisy take whole: its channel stays around the word, as
    it will be at test time. `above_floor`: the part above the take's own noise floor (`active_bounds`), which
    still finds the background around a word through a hissing microphone (`channel_background`)."""
    from audio_rnn.audio.activity import active_bounds
    from audio_rnn.keywords.data import window_start
    from audio_rnn.keywords.synth_speech import trim_bounds

    base = max(0, window_start(x, sr)) if x.size > sr else 0
    end = min(x.size, base + sr) if x.size > sr else x.size
    a, b = (active_bounds if above_floor else trim_bounds)(x[base:end], sr)
    return (base + a, base + b) if b - a >= sr // 20 else (base, end)


def speak(texts: Sequence[str], seed: int) -> list[np.ndarray]:
    """espeak-ng says each text once, in a voice drawn for it (accent, variant, rate, pitch); deterministic."""
    from concurrent.futures import ThreadPoolExecutor

    from audio_rnn.keywords import synth_speech as ss

    if not ss.espeak_available():
        raise DataError("espeak-ng is needed to make the spoken examples (apt-get install espeak-ng)")
    rng = np.random.default_rng(seed)
    variants = ("", "m1", "m3", "f1", "f2", "f3", "m7", "klatt", "croak")
    items = [ss.SynthItem(f"{k}.wav", "", text, str(rng.choice(ss.ACCENTS)), variants[int(rng.integers(len(variants)))],
                          int(rng.integers(120, 200)), int(rng.integers(25, 80)), "train")
             for k, text in enumerate(texts)]
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(ss.render, items))


def unknown_waves(n: int, exclude: Sequence[str], seed: int) -> list[np.ndarray]:
    """`n` espeak-ng recordings of words that are none of `exclude`, in varied voices (deterministic)."""
    from audio_rnn.keywords import synth_speech as ss

    banned = {clean_word(w) for w in exclude}
    words = [w for w in (*ss.DIGITS, *ss.UNKNOWN_WORDS) if w not in banned and w.replace("-", "") not in banned]
    rng = np.random.default_rng(seed)
    return [x for x in speak([words[int(rng.integers(len(words)))] for _ in range(n)], seed) if x.size]


def voiced_words(words: Sequence[str], n: int, seed: int) -> dict[str, list[np.ndarray]]:
    """`n` espeak-ng renditions of each of the user's words (a label's underscores read as spaces): more voices
    than five takes of one person hold, so the model learns the word, not the speaker."""
    return {w: [x for x in speak([w.replace("_", " ")] * n, seed + 7919 * (i + 1)) if x.size]
            for i, w in enumerate(words)} if n > 0 else {}


@dataclass
class Spoken:
    """The material beside the takes: espeak-ng's other words (`_unknown_`) and renditions of the user's words,
    and what came through the user's own channel: its background (`room`) and other words (`others`)."""

    unknown: list[np.ndarray]
    words: dict[str, list[np.ndarray]] = field(default_factory=dict)
    room: list[np.ndarray] = field(default_factory=list)  # the takes' own background, a room recording
    others: list[np.ndarray] = field(default_factory=list)  # the user's recordings of other words

    def held_in(self) -> "Spoken":
        """The same material less every HOLDOUT-th espeak-ng other word (kept out to calibrate on)."""
        return Spoken([x for i, x in enumerate(self.unknown) if i % HOLDOUT], self.words, self.room, self.others)


def channel_background(waves: Sequence[np.ndarray], sr: int = 16000, min_s: float = 0.1) -> list[np.ndarray]:
    """The user's channel without the word: from each take, the stretches before and after its spoken part
    (room tone, hiss, the microphone's hum), kept when at least `min_s` long and not digital silence."""
    out = []
    for x in waves:
        x = np.asarray(x, dtype=np.float32)
        a, b = core_bounds(x, sr, above_floor=True)
        out += [p for p in (x[:a], x[b:]) if len(p) >= min_s * sr and np.any(p)]
    return out


# ----------------------------------------------------------------------------- model


def _base_model(mode: str, base: str | Path | None = None):
    """(model, config, mode) to start from: the `base` (default: shipped) checkpoint, or None for scratch."""
    from audio_rnn.errors import CheckpointError
    from audio_rnn.keywords.recognize import load_model

    if mode == "scratch":
        return None, None, "scratch"
    try:
        model, cfg = load_model(base)
        return model, cfg, "finetune"
    except CheckpointError:
        if mode == "finetune":
            raise
        return None, None, "scratch"


def build_model(labels: Sequence[str], mode: str, hidden: int = 64, base: str | Path | None = None):
    """A keyword network for `labels`: the shipped (or `base`) one with a new head (known rows copied), or a small GRU."""
    import torch

    from audio_rnn.audio.features import FeatureConfig
    from audio_rnn.keywords.models import KeywordRNN, KWSDims

    net, cfg, mode = _base_model(mode, base)
    if net is None:
        feats = FeatureConfig()
        dims = KWSDims(n_in=feats.dim, n_classes=len(labels), cell="gru", hidden=hidden, layers=1,
                       pooling="mean", dropout=0.1)
        return KeywordRNN(dims), feats, mode
    feats = FeatureConfig.from_dict(cfg["features"])
    old_labels = list(cfg["labels"])
    dims = KWSDims.from_dict({**cfg["model"], "n_classes": len(labels)})
    model = KeywordRNN(dims)
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("head.")}
    model.load_state_dict(state, strict=False)
    with torch.no_grad():
        for i, lab in enumerate(labels):
            if lab in old_labels:
                j = old_labels.index(lab)
                model.head.weight[i] = net.head.weight[j]
                model.head.bias[i] = net.head.bias[j]
    return model, feats, mode


# ----------------------------------------------------------------------------- training


def _pool(words: dict[str, list[np.ndarray]], spoken: Spoken, labels: list[str],
          cfg: FinetuneConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The training windows, augmented once with the recognizer's own epoch recipe (`keywords.train.epoch_set`).

    Waveform augmentation (speed, room, noise) costs tens of ms a clip, so
    `copies` draws are made up front and epochs vary the features with
    SpecAugment. The user's takes are repeated to weigh as much as the espeak-ng
    renditions of their words; the clean takes, placed in the window, are added too.
    """
    from audio_rnn.keywords.data import SILENCE, UNKNOWN, WINDOW, Clip
    from audio_rnn.keywords.train import TrainConfig, epoch_set

    clips = []
    for w, xs in words.items():
        voiced = spoken.words.get(w, [])
        clips += [Clip(x, w, "user", "user") for x in xs] * max(1, round(len(voiced) / len(xs)))
        clips += [Clip(x, w, "espeak", "espeak") for x in voiced]
    clips += [Clip(x, UNKNOWN, "espeak", "espeak") for x in spoken.unknown]
    n_take = max(len(xs) for xs in words.values())
    clips += [Clip(x, UNKNOWN, "user", "folder") for x in spoken.others] * max(1, round(2 * n_take / max(1, len(spoken.others))))
    # the user's room recording (and with `cfg.channel` the takes' background): silence examples and a noise
    # bed under every other clip (`noise_beds`)
    clips += [Clip(x, SILENCE, "user", "folder") for x in spoken.room]
    tc = TrainConfig(silence_fraction=cfg.silence_share / (len(words) + 1 + cfg.silence_share),
                     unknown_ratio=cfg.unknown_ratio, pitch_prob=cfg.pitch_prob)
    parts = [epoch_set(clips, labels, rng, tc) for _ in range(cfg.copies)]
    clean = [(_place(x, WINDOW, rng), labels.index(w)) for w, xs in words.items() for x in xs]
    xs = np.concatenate([p[0] for p in parts] + [np.stack([c[0] for c in clean])])
    ys = np.concatenate([p[1] for p in parts] + [np.asarray([c[1] for c in clean], dtype=np.int64)])
    return xs, ys


def _place(x: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """`x` at peak 0.7 at a random place in a window of `length` samples."""
    from audio_rnn.audio.augment import random_place

    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return random_place(x / peak * 0.7 if peak > 0 else x, length, rng)


@dataclass
class _Fitted:
    model: Any
    feats: Any
    mode: str
    history: list[dict[str, float]]
    n_real: int


def _fit(words: dict[str, list[np.ndarray]], labels: list[str], spoken: Spoken, cfg: FinetuneConfig,
         base: str | Path | None, say: Progress, span: tuple[float, float],
         bank_keep: np.ndarray | None = None) -> _Fitted:
    """One training run on `words` (+ silence and unknowns), within `cfg.max_minutes`; progress reported over
    `span`. `bank_keep` selects the real-word bank clips to train on (None: all of them)."""
    import torch

    from audio_rnn.audio.features import MFCC
    from audio_rnn.keywords.train import featurize
    from audio_rnn.training.loop import fit

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model, feats, mode = build_model(labels, cfg.mode, cfg.hidden, base)
    mfcc = MFCC(feats)
    check = _check_set(words, labels, mfcc, cfg.seed + 1)
    xs, ys = _pool(words, spoken, labels, cfg, rng)
    feats_all, ys, n_real = _with_bank(featurize(mfcc, xs, 64), ys, words, labels, mfcc, feats, cfg, bank_keep)
    task = _OwnTask(model, _optimizer(model, mode, cfg), feats_all, ys, check, len(labels), cfg, rng, say, span)
    fitted = fit(task, cfg, progress=False)
    return _Fitted(task.model, feats, mode, fitted.history, n_real)


class _OwnTask(Task):
    """Train-your-own for `fit`: the examples' features made once, class-balanced loss, SpecAugment, the last
    weights kept; each epoch scored on the clean examples and reported through `say`."""

    name = "train-own"
    keep = "last"
    clip = 5.0

    def __init__(self, model: Any, opt: Any, feats: Any, ys: np.ndarray, check: tuple[Any, np.ndarray],
                 n_labels: int, cfg: FinetuneConfig, rng: np.random.Generator, say: Progress,
                 span: tuple[float, float]):
        import torch

        self.model = self.net = model
        self.opt, self.feats, self.ys, self.check, self.cfg, self.rng = opt, feats, torch.from_numpy(ys).long(), \
            check, cfg, rng
        self.say, self.span = say, span
        counts = np.bincount(ys, minlength=n_labels).astype(np.float64)
        weight = np.where(counts > 0, counts.sum() / (n_labels * np.maximum(counts, 1)), 0.0)
        self.lossf = torch.nn.CrossEntropyLoss(weight=torch.tensor(weight, dtype=torch.float32), label_smoothing=0.05)

    def rngs(self) -> dict[str, Any]:
        return {"rng": self.rng}

    def batches(self, epoch: int) -> list[Any]:
        import torch

        order = torch.from_numpy(self.rng.permutation(len(self.ys)))
        return [order[i:i + self.cfg.batch_size] for i in range(0, len(order), self.cfg.batch_size)]

    def loss(self, idx: Any, step: int, total: int) -> tuple[Any, float]:
        from audio_rnn.audio.augment import spec_augment

        return self.lossf(self.model(spec_augment(self.feats[idx], self.rng)), self.ys[idx]), len(idx)

    def validate(self, train_loss: float) -> tuple[float, dict[str, Any]]:
        from audio_rnn.keywords.train import accuracy

        acc = accuracy(self.model, *self.check)
        return acc, {"loss": round(train_loss, 4), "accuracy": round(acc, 4)}

    def on_eval(self, row: dict[str, Any], best: bool) -> None:
        """Progress: the share of epochs done or of the time budget spent, whichever is further."""
        cfg, (a, b) = self.cfg, self.span
        frac = min(1.0, max(row["epoch"] / cfg.epochs, row["seconds"] / (cfg.max_minutes * 60)))
        self.say(a + (b - a) * frac, f"epoch {row['epoch']}/{cfg.epochs}: loss {row['loss']:.3f}, "
                                     f"accuracy {row['accuracy']:.2f}")


def _optimizer(model: Any, mode: str, cfg: FinetuneConfig) -> Any:
    """AdamW with the new head at `lr` and the pretrained body slower (fine-tune), the lower layers frozen."""
    import torch

    if mode == "finetune" and cfg.freeze_lower:
        top = f"_l{model.dims.layers - 1}"
        for n, p in model.named_parameters():
            if n.startswith(("norm.", "conv.")) or \
                    (n.startswith("rnn.") and not n.removesuffix("_reverse").endswith(top)):
                p.requires_grad_(False)
    head = [p for n, p in model.named_parameters() if n.startswith(("head.", "attn."))]
    body = [p for n, p in model.named_parameters() if not n.startswith(("head.", "attn.")) and p.requires_grad]
    body_lr = cfg.lr * (cfg.base_lr_scale if mode == "finetune" else 1.0)
    return torch.optim.AdamW([{"params": head, "lr": cfg.lr}, {"params": body, "lr": body_lr}],
                             weight_decay=cfg.weight_decay)


def _check_set(words: dict[str, list[np.ndarray]], labels: list[str], mfcc: Any, seed: int) -> tuple[Any, np.ndarray]:
    """The clean check set (features, labels): every training example, plus fresh background clips."""
    from audio_rnn.keywords.data import SILENCE, WINDOW, fit_window, silence_clip
    from audio_rnn.keywords.train import featurize

    check_rng = np.random.default_rng(seed)
    check_w = [fit_window(x, WINDOW) for w in words for x in words[w]]
    check_y = [labels.index(w) for w in words for _ in words[w]]
    for _ in range(max(2, len(words))):
        check_w.append(silence_clip(check_rng))
        check_y.append(labels.index(SILENCE))
    return featurize(mfcc, np.stack(check_w), 64), np.asarray(check_y)


def _with_bank(feats_all: Any, ys: np.ndarray, words: dict[str, list[np.ndarray]], labels: list[str], mfcc: Any,
               feats: Any, cfg: FinetuneConfig, bank_keep: np.ndarray | None) -> tuple[Any, np.ndarray, int]:
    """The training features and labels with the shipped real-word bank (real people's other words and real
    rooms) added as `_unknown_`/`_silence_`, when the bank fits the model's features; and how many were added."""
    import torch

    from audio_rnn.keywords import word_bank
    from audio_rnn.keywords.data import SILENCE, UNKNOWN

    bank = word_bank.load() if cfg.real_words else None
    if bank is None or not bank.fits(feats):
        return feats_all, ys, 0
    cep, bank_words = bank.select(exclude=list(words))
    if bank_keep is not None:
        cep, bank_words = cep[torch.from_numpy(bank_keep)], [w for w, k in zip(bank_words, bank_keep) if k]
    with torch.no_grad():
        feats_all = torch.cat([feats_all, mfcc.finish(cep.float())])
    ys = np.concatenate([ys, [labels.index(SILENCE if w == SILENCE else UNKNOWN) for w in bank_words]])
    return feats_all, ys, len(bank_words)


def keyword_scores(model: Any, feats: Any, waves_or_feats: Any, labels: list[str], cepstra: bool = False) -> np.ndarray:
    """(n, C) probabilities of a trained model for 16 kHz waves (each fit to the window) or for bank cepstra."""
    import torch

    from audio_rnn.audio.features import MFCC
    from audio_rnn.keywords.data import WINDOW, fit_window
    from audio_rnn.keywords.train import featurize

    mfcc = MFCC(feats)
    with torch.no_grad():
        f = mfcc.finish(waves_or_feats.float()) if cepstra else featurize(
            mfcc, np.stack([fit_window(x, WINDOW) for x in waves_or_feats]), 64)
        return torch.softmax(model(f), -1).numpy()


def choose_threshold(pos: Sequence[tuple[int, np.ndarray]], neg: Sequence[np.ndarray], keywords: Sequence[int],
                     reject_aim: float = FinetuneConfig.reject_aim,
                     also: Sequence[Sequence[np.ndarray]] = ()) -> dict[str, float]:
    """The keyword-score threshold for held-out scores: the most takes found among thresholds rejecting at least
    `reject_aim` of the other words `neg` and of every set in `also` (other words from another recording
    channel; the aim rounded down to whole words, so a set of 5 needs 4), the lowest such (new speakers score
    lower than held-out takes of known ones); if none does, the best balance of takes found and the worst set's
    rejection.

    A clip is a keyword when its best keyword's probability reaches the threshold (`recognize.decide`'s
    keyword_score rule): a take counts when that keyword is its own word, a negative when none reaches it.
    """
    kw = list(keywords)

    def rejected(scores: Sequence[np.ndarray], t: float) -> float:
        return float(np.mean([p[kw].max() < t for p in scores])) if len(scores) else 1.0

    def meets(scores: Sequence[np.ndarray], t: float) -> bool:  # the aim in whole words: 4 of 5 meets 0.92
        return round(rejected(scores, t) * len(scores)) >= np.floor(reject_aim * len(scores) + 1e-9)

    rows = []
    for t in np.round(np.arange(0.05, 0.96, 0.05), 2):
        found = float(np.mean([int(np.argmax(p[kw])) == kw.index(y) and p[kw].max() >= t for y, p in pos]))
        rows.append((float(t), found, rejected(neg, t), min([rejected(g, t) for g in also], default=1.0),
                     meets(neg, t) and all(meets(g, t) for g in also)))
    ok = [r for r in rows if r[4]]
    t, found, rej, rej_also, _ = (max(ok, key=lambda r: (r[1], -r[0])) if ok else
                                  max(rows, key=lambda r: (r[1] + min(r[2], r[3]), -r[0])))
    out = {"threshold": t, "heldout_takes_right": round(found, 4), "other_words_rejected": round(rej, 4),
           "trade_off": [{"threshold": r[0], "heldout_takes_right": round(r[1], 4),
                          "other_words_rejected": round(min(r[2], r[3]), 4)} for r in rows]}
    return {**out, "other_sets_rejected": round(rej_also, 4)} if also else out


HOLDOUT = 3  # every third real-word bank clip and espeak-ng other word is never trained on: negatives to calibrate on


def heldout_takes(words: dict[str, list[np.ndarray]], labels: list[str], spoken: Spoken, cfg: FinetuneConfig,
                  base: str | Path | None, say: Progress, k: int,
                  bank_keep: np.ndarray) -> tuple[list[tuple[int, np.ndarray]], list[np.ndarray]]:
    """Leave one take out: K short runs each train without take k of every word (and without every K-th of the
    user's own other words), then score what they did not hear: (label index, probabilities) per take, what the
    model will say to a take it never learnt; and the probabilities of the user's other words left out, what it
    will say to other words through the user's own microphone."""
    pos: list[tuple[int, np.ndarray]] = []
    own: list[np.ndarray] = []
    for i in range(k):
        train_words = {w: [x for j, x in enumerate(xs) if j % k != i] for w, xs in words.items()}
        held = [(w, x) for w, xs in words.items() for j, x in enumerate(xs) if j % k == i]
        left_out = [x for j, x in enumerate(spoken.others) if j % k == i]
        fold_spoken = replace(spoken, others=[x for j, x in enumerate(spoken.others) if j % k != i])
        span = (0.05 + 0.45 * i / k, 0.05 + 0.45 * (i + 1) / k)
        fit = _fit(train_words, labels, fold_spoken, replace(cfg, max_minutes=cfg.calibrate_budget_s / 60), base,
                   lambda f, m, i=i: say(f, f"calibrating {i + 1}/{k}: {m}"), span, bank_keep=bank_keep)
        probs = keyword_scores(fit.model, fit.feats, [x for _, x in held] + left_out, labels)
        pos += [(labels.index(w), p) for (w, _), p in zip(held, probs)]
        own += list(probs[len(held):])
    return pos, own


def fit_calibrated(words: dict[str, list[np.ndarray]], labels: list[str], spoken: Spoken, cfg: FinetuneConfig,
                   base: str | Path | None, say: Progress) -> tuple[_Fitted, dict[str, Any] | None]:
    """The final run and its keyword threshold (None without calibration folds or the real-word bank).

    The threshold must reject `cfg.reject_aim` of other words *as the saved model scores them*: a third of the
    real-word bank and a third of the espeak-ng other words are kept out of every run and scored by the final
    model (short calibration runs score other words higher than the longer final run does). The user's own
    other words, if given, are a third set, each scored by a leave-out run that did not hear it. Each set must
    meet the aim: they are different recording channels, and takes that share one with other words (the user's
    own microphone) are the hard case. The takes' side comes from leave-one-take-out runs.
    """
    import torch

    from audio_rnn.keywords import word_bank
    from audio_rnn.keywords.data import SILENCE

    k = min(cfg.calibrate_folds, min(len(v) for v in words.values()))
    bank = word_bank.load() if cfg.real_words else None
    if k < 2 or bank is None:
        say(0.07, "training on every example")
        return _fit(words, labels, spoken, cfg, base, say, (0.1, 0.98)), None
    cep, bank_words = bank.select(exclude=list(words))
    keep = np.arange(len(bank_words)) % HOLDOUT != 0
    train_spoken = spoken.held_in()
    pos, own = heldout_takes(words, labels, train_spoken, cfg, base, say, k, keep)
    say(0.5, "training on every example")
    fit = _fit(words, labels, train_spoken, cfg, base, say, (0.53, 0.98), bank_keep=keep)
    out = ~keep & np.array([w != SILENCE for w in bank_words])
    neg = list(keyword_scores(fit.model, fit.feats, cep[torch.from_numpy(out)], labels, cepstra=True))
    synth = list(keyword_scores(fit.model, fit.feats, spoken.unknown[::HOLDOUT], labels))
    keywords = [labels.index(w) for w in words]
    return fit, {**choose_threshold(pos, neg, keywords, cfg.reject_aim, also=[synth] + ([own] if own else [])),
                 "folds": k, "heldout_takes": len(pos), "negatives": len(neg), "synthetic_negatives": len(synth),
                 "own_other_words": len(own)}


def train(examples: Mapping[str, Sequence[np.ndarray]], out: str | Path, cfg: FinetuneConfig = FinetuneConfig(),
          progress: Progress | None = None, base: str | Path | None = None, room: Sequence[np.ndarray] = (),
          others: Sequence[np.ndarray] = ()) -> FinetuneResult:
    """Train a keyword model on {word: [16 kHz waves]} (+ automatic silence/unknown) and save it to `out`.

    With `cfg.calibrate_folds` >= 2 the keyword threshold is calibrated (`fit_calibrated`),
    and the accuracy reported is the estimate on held-out takes. `base` is the checkpoint to fine-tune
    (default: the shipped model); `progress(fraction, message)` is called as training goes. `room`: recordings
    of the user's room with nobody speaking; `others`: the user's recordings of words that are not keywords.
    Both (and, with `cfg.channel`, the background around the takes) make the negatives sound like the user's
    microphone, so the model learns the word, not the channel.
    """
    import torch

    from audio_rnn.training import checkpoint
    from audio_rnn.keywords.data import SILENCE, SR, UNKNOWN, WINDOW

    t_start = time.monotonic()
    say = progress or (lambda f, m: None)
    words = {w: [word_core(x, SR) for x in xs] for w, xs in check_examples(examples).items()}
    labels = [*words, SILENCE, UNKNOWN]
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, cfg.threads))
    try:
        say(0.0, "making spoken examples with espeak-ng" + (": other words, and yours in other voices"
                                                             if cfg.voiced_takes else ": other words"))
        checked = check_examples(examples)
        room_beds = [np.asarray(x, np.float32) for x in room] + \
            (channel_background([x for xs in checked.values() for x in xs], SR) if cfg.channel else [])
        spoken = Spoken(unknown_waves(cfg.unknown_pool, list(words), cfg.seed),
                        voiced_words(list(words), cfg.voiced_takes, cfg.seed), room_beds,
                        [word_core(np.asarray(x, np.float32), SR) for x in others])
        fit, calib = fit_calibrated(words, labels, spoken, cfg, base, say)
        config = {
            "kind": "kws",
            "model": fit.model.dims.to_dict(),
            "labels": labels,
            "features": fit.feats.to_dict(),
            "window_seconds": WINDOW / SR,
            "finetune": {**asdict(cfg), "mode_used": fit.mode, "examples": {w: len(v) for w, v in words.items()},
                         "base": str(base or "digits") if fit.mode == "finetune" else None,
                         "real_bank_clips": fit.n_real, "epochs_run": len(fit.history), "calibration": calib,
                         "channel_seconds": round(sum(len(x) for x in spoken.room) / SR, 2),
                         "other_words": len(spoken.others)},
        }
        if calib:  # a keyword wins when its probability reaches the calibrated threshold
            config["decision"] = asdict(registry.Decision(calib["threshold"], "keyword_score"))
        folder = checkpoint.save(out, fit.model.state_dict(), config)
        say(1.0, "saved")
        h = fit.history
        return FinetuneResult(Path(folder), labels, fit.mode, round(time.monotonic() - t_start, 2), len(h), h,
                              h[-1]["accuracy"] if h else 0.0, {w: len(v) for w, v in words.items()}, calib)
    finally:
        torch.set_num_threads(threads)


def zip_checkpoint(folder: str | Path) -> bytes:
    """The checkpoint folder's model.safetensors and config.json as zip bytes (for downloading)."""
    from audio_rnn.training.checkpoint import CONFIG, WEIGHTS

    folder = Path(folder)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in (WEIGHTS, CONFIG):
            z.write(folder / name, f"my_keywords/{name}")
    return buf.getvalue()


# ----------------------------------------------------------------------------- CLI


def configure_train_own(p) -> None:
    p.add_argument("--example", action="append", nargs="+", metavar=("WORD", "FILE"), required=True,
                   help="a keyword and at least 5 recordings of it; repeat for every word (one word: a wake word)")
    p.add_argument("--base", default="digits",
                   help="model to fine-tune: digits (default), commands, or a keyword checkpoint folder")
    p.add_argument("--out", required=True, help="checkpoint folder to write (the same as the app's Train page)")
    p.add_argument("--mode", choices=("auto", "finetune", "scratch"), default=FinetuneConfig.mode)
    p.add_argument("--budget", type=float, default=FinetuneConfig.max_minutes * 60, help="training seconds at most")
    p.add_argument("--calibrate-folds", type=int, default=FinetuneConfig.calibrate_folds,
                   help="leave-one-take-out runs that choose the keyword threshold (0: none; default %(default)s)")
    p.add_argument("--reject", type=float, default=FinetuneConfig.reject_aim, metavar="AIM",
                   help="calibration: the share of other real words the threshold must reject; lower finds more of "
                        "your words and lets more others through (default %(default)s)")
    p.add_argument("--voiced-takes", type=int, default=FinetuneConfig.voiced_takes, metavar="N",
                   help="espeak-ng renditions of each word in other voices, beside your takes (0: none; "
                        "default %(default)s); name each word as it is spoken")
    p.add_argument("--room", nargs="+", default=[], metavar="FILE",
                   help="recordings of your room with nobody speaking, on the takes' microphone (noise beds and "
                        "silence, so other words sound like your channel)")
    p.add_argument("--other-words", nargs="+", default=[], metavar="FILE",
                   help="recordings of words that are not keywords, said into the same microphone")
    p.add_argument("--channel", action="store_true",
                   help="also use the takes' own background as noise beds and silence (off by default: it cost "
                        "keywords in our measurements; --room and --other-words are the channel's better evidence)")
    p.add_argument("--seed", type=int, default=FinetuneConfig.seed)
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run_train_own(args) -> int:
    """`train-own`: decode the example files, fine-tune, save; one clear error line on bad input."""
    import json
    import sys

    from audio_rnn.audio.decode import load_audio
    from audio_rnn.errors import AudioError

    if not 0.5 <= args.reject < 1:
        raise DataError(f"--reject must be at least 0.5 and below 1 (got {args.reject:g})")
    def decoded(flag: str, files: Sequence[str]) -> list[np.ndarray]:
        try:
            return [load_audio(f, sr=16000, max_seconds=30.0) for f in files]
        except AudioError as exc:
            raise DataError(f"{flag}: {exc.one_line()}") from None

    examples: dict[str, list[np.ndarray]] = {}
    for group in args.example:
        if len(group) < 2:
            raise DataError(f"--example {group[0]} needs audio files after the word")
        word = clean_word(group[0])
        examples.setdefault(word, []).extend(decoded(f"--example {word}", group[1:]))
    cfg = FinetuneConfig(mode=args.mode, max_minutes=args.budget / 60, seed=args.seed, calibrate_folds=args.calibrate_folds,
                         reject_aim=args.reject, voiced_takes=max(0, args.voiced_takes), channel=args.channel)

    def say(frac: float, msg: str) -> None:
        if not args.json:
            print(f"[{100 * frac:3.0f}%] {msg}", file=sys.stderr)

    res = train(examples, args.out, cfg, progress=say, base=args.base, room=decoded("--room", args.room),
                others=decoded("--other-words", args.other_words))
    if args.json:
        print(json.dumps(res.to_dict()))
    else:
        c = res.calibration
        est = (f"on takes it did not train on {c['heldout_takes_right']:.0%} right and {c['other_words_rejected']:.0%} "
               f"of other real words rejected at threshold {c['threshold']:.2f}" if c
               else f"accuracy on your examples {res.train_accuracy:.2f} (not calibrated)")
        print(f"saved {res.folder}: labels {', '.join(res.labels)}; {res.mode} in {res.seconds:.1f} s, "
              f"{res.epochs} epochs; {est}")
    return 0
