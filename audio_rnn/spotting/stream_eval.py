"""Long test streams with known word times, and the scorer for the spotter on them.

`make-streams` strings held-out words into long recordings: real FSDD digits
by speakers the model never trained on (their takes split into a `val` half
for tuning and a `test` half for reporting) and espeak-ng digits and other
words in held-out voices (`synth_speech.VAL_VARIANTS` / `TEST_VARIANTS`),
separated by pauses, over continuous background noise at a chosen SNR. Each
stream is a 16 kHz wav beside a JSON truth file listing every word's span.

`eval-streams` runs the spotter and matches detections to words: a detection
counts for a word when its centre lies within +-`tolerance` (750 ms) of the
word's span. A keyword word is found-and-right when a detection with its label
is matched to it, wrong when only other labels are; every other detection (on
silence, on non-keyword words, or a second one on the same word) is a false alarm.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from audio_rnn.errors import DataError

SR = 16000
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
UNKNOWN = "_unknown_"
# everyday words the recognizer never saw in training (its _unknown_ words come from synth_speech.UNKNOWN_WORDS)
NOVEL_WORDS = (
    "hello", "please", "number", "call", "the", "and", "okay", "today", "water", "music", "window", "people",
    "morning", "computer", "listen", "yellow", "coffee", "thanks", "station", "minute", "open", "close",
    "table", "garden", "paper", "orange", "maybe", "later", "pizza", "button",
)
# homophones of digits: the same sound cannot be a false alarm
HOMOPHONES = frozenset({"won", "ate", "for", "fore", "to", "too", "nein", "nine-teen"})
NOISES = ("white", "pink", "brown", "hum", "room", "babble")


@dataclass(frozen=True)
class StreamSpec:
    """What one call of `make-streams` builds."""

    split: str = "test"  # "val" (tuning) or "test" (reporting)
    streams: int = 4
    minutes: float = 2.0
    keyword_fraction: float = 0.6
    fsdd_fraction: float = 0.5  # of the digits, how many are real FSDD recordings
    gap_s: tuple[float, float] = (0.6, 2.0)
    snr_db: tuple[float, float] = (10.0, 30.0)
    gain_db: tuple[float, float] = (-12.0, 0.0)
    seed: int = 0
    speech: bool = True  # False: background only (false alarms per hour with nobody speaking)


# ----------------------------------------------------------------------------- word sources


def fsdd_takes(fsdd: str | Path, speakers: Sequence[str], split: str) -> list[tuple[Path, str, str]]:
    """(path, digit, speaker) of held-out speakers' takes: 0-24 for 'val', 25-49 for 'test'."""
    from audio_rnn.keywords.data import FSDD_NAME, fsdd_files

    out = []
    for p, label, spk in fsdd_files(fsdd):
        if spk not in speakers:
            continue
        take = int(FSDD_NAME.match(p.name).group(3))  # type: ignore[union-attr]
        if (take < 25) == (split == "val"):
            out.append((p, label, spk))
    if not out:
        raise DataError(f"no FSDD recordings of speakers {list(speakers)} in {fsdd}")
    return out


def _trimmed(x: np.ndarray) -> np.ndarray:
    from audio_rnn.keywords.synth_speech import trim

    x = trim(np.asarray(x, np.float32), SR)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return (x / peak * 0.7).astype(np.float32) if peak > 0 else x


def held_out_variants(split: str) -> list[str]:
    """espeak-ng voice variants kept out of training, installed here, for a split."""
    from audio_rnn.keywords.synth_speech import TEST_VARIANTS, VAL_VARIANTS, installed_variants

    pool = sorted((VAL_VARIANTS if split == "val" else TEST_VARIANTS) & installed_variants())
    if not pool:
        raise DataError("espeak-ng has none of the held-out voice variants")
    return pool


def is_homophone(word: str, accent: str, _cache: dict = {}) -> bool:
    """Whether espeak-ng says `word` exactly like a digit in `accent` (then it cannot be a non-keyword)."""
    from audio_rnn.keywords.synth_speech import phonemes

    if word in HOMOPHONES:
        return True
    if accent not in _cache:
        _cache[accent] = {phonemes(d, accent) for d in DIGITS}
    key = (word, accent)
    if key not in _cache:
        _cache[key] = phonemes(word.replace("-", ""), accent) in _cache[accent]
    return bool(_cache[key])


def pick_unknown(accent: str, rng: np.random.Generator) -> str:
    """A random non-keyword word (training unknowns or novel words) that is no digit homophone in `accent`."""
    from audio_rnn.keywords.synth_speech import UNKNOWN_WORDS

    pool = (*UNKNOWN_WORDS, *NOVEL_WORDS)
    while True:
        word = pool[int(rng.integers(len(pool)))]
        if not is_homophone(word, accent):
            return word


def speak(word: str, accent: str, variant: str, rng: np.random.Generator) -> np.ndarray:
    """One espeak-ng word at a random rate and pitch, trimmed, 16 kHz."""
    from audio_rnn.keywords.synth_speech import SynthItem, render

    item = SynthItem("", word, word, accent, variant, int(rng.integers(110, 221)), int(rng.integers(20, 86)), "")
    return render(item)


def background(n: int, kind: str, rng: np.random.Generator, words: list[np.ndarray] | None = None) -> np.ndarray:
    """Unit-RMS background of `n` samples: coloured noise, hum, room tone, or babble (reversed words)."""
    from audio_rnn.audio.augment import colored_noise, hum

    if kind in ("white", "pink", "brown"):
        return colored_noise(n, kind, rng)
    if kind == "hum":
        y = hum(n, SR, rng) + 0.2 * colored_noise(n, "pink", rng)
    elif kind == "room":
        y = colored_noise(n, "brown", rng) + 0.5 * colored_noise(n, "pink", rng) + 0.2 * hum(n, SR, rng)
    else:  # babble: several overlapping time-reversed words (speech-like, never a keyword)
        y = 0.3 * colored_noise(n, "pink", rng)
        pool = words or [colored_noise(SR // 2, "pink", rng)]
        for _ in range(max(1, 6 * n // SR)):
            w = pool[int(rng.integers(len(pool)))][::-1]
            at = int(rng.integers(0, max(1, n - len(w))))
            seg = w[: n - at]
            y[at:at + len(seg)] += seg / (np.sqrt(np.mean(seg**2)) + 1e-9) * 0.3
    y = np.asarray(y, np.float64)
    return (y / (np.sqrt(np.mean(y**2)) + 1e-12)).astype(np.float32)


# ----------------------------------------------------------------------------- building streams


def build_stream(spec: StreamSpec, index: int, fsdd: list[tuple[Path, str, str]], variants: list[str],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """One stream: (16 kHz wave, truth dict with every word's label/word/start/end/source)."""
    from audio_rnn.keywords.data import _load
    from audio_rnn.keywords.synth_speech import ACCENTS

    total = int(spec.minutes * 60 * SR)
    pieces: list[tuple[int, np.ndarray]] = []
    words: list[dict[str, Any]] = []
    t = int(rng.uniform(0.5, 1.5) * SR)
    while True:
        if rng.random() < spec.keyword_fraction:
            if rng.random() < spec.fsdd_fraction:
                path, label, spk = fsdd[int(rng.integers(len(fsdd)))]
                x, word, source = _trimmed(_load(path)), label, f"fsdd:{path.stem}"
            else:
                accent, variant = ACCENTS[int(rng.integers(len(ACCENTS)))], variants[int(rng.integers(len(variants)))]
                label = DIGITS[int(rng.integers(10))]
                x, word, source = speak(label, accent, variant, rng), label, f"espeak:{accent}+{variant}"
        else:
            accent, variant = ACCENTS[int(rng.integers(len(ACCENTS)))], variants[int(rng.integers(len(variants)))]
            word = pick_unknown(accent, rng)
            x, label, source = speak(word, accent, variant, rng), UNKNOWN, f"espeak:{accent}+{variant}"
        if t + len(x) + SR // 2 > total:
            break
        x = x * np.float32(10 ** (rng.uniform(*spec.gain_db) / 20))
        pieces.append((t, x))
        words.append({"label": label, "word": word, "start": round(t / SR, 3), "end": round((t + len(x)) / SR, 3),
                      "source": source})
        t += len(x) + int(rng.uniform(*spec.gap_s) * SR)
    kind = NOISES[index % len(NOISES)]
    wave, snr = mix(total, pieces, kind, float(rng.uniform(*spec.snr_db)), rng)
    truth = {"sample_rate": SR, "duration": round(total / SR, 3), "noise": kind, "snr_db": round(snr, 2),
             "split": spec.split, "words": words}
    return wave, truth


def mix(total: int, pieces: list[tuple[int, np.ndarray]], noise: str, snr_db: float,
        rng: np.random.Generator, bed: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Words placed at their sample offsets over `noise` (or the unit-RMS `bed` of recorded background) at
    `snr_db` below the words' RMS; (wave, snr)."""
    speech = np.zeros(total, np.float32)
    for at, x in pieces:
        speech[at:at + len(x)] += x[: max(0, total - at)]
    active = np.concatenate([x for _, x in pieces]) if pieces else np.full(1, 0.1, np.float32)
    speech_rms = float(np.sqrt(np.mean(np.square(active, dtype=np.float64))))
    if bed is None:
        bed = background(total, noise, rng, [x for _, x in pieces[:20]])
    bg = bed[:total] * np.float32(speech_rms * 10 ** (-snr_db / 20))
    return np.clip(speech + bg, -1, 1).astype(np.float32), snr_db


def make_streams(out: str | Path, spec: StreamSpec, fsdd: str | Path, speakers: Sequence[str],
                 progress: bool = True) -> Path:
    """Write `spec.streams` streams as `stream_NNN.wav` + `stream_NNN.json` and `manifest.json`; deterministic by seed."""
    import soundfile as sf
    from tqdm import tqdm

    from audio_rnn.keywords.synth_speech import espeak_available

    if not espeak_available():
        raise DataError("espeak-ng is not installed (apt-get install espeak-ng)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    takes = fsdd_takes(fsdd, speakers, spec.split)
    variants = held_out_variants(spec.split)
    rows = []
    for i in tqdm(range(spec.streams), desc="streams", disable=not progress, unit="stream"):
        rng = np.random.default_rng([spec.seed, i, 0 if spec.split == "val" else 1])
        wave, truth = build_stream(spec, i, takes, variants, rng)
        name = f"stream_{i:03d}"
        sf.write(str(out / f"{name}.wav"), wave, SR, subtype="PCM_16")
        truth["file"] = f"{name}.wav"
        (out / f"{name}.json").write_text(json.dumps(truth, indent=1) + "\n")
        rows.append({"file": f"{name}.wav", "truth": f"{name}.json", "duration": truth["duration"],
                     "words": len(truth["words"]), "noise": truth["noise"], "snr_db": truth["snr_db"]})
    manifest = {"split": spec.split, "speakers": list(speakers), "voices": variants, "seed": spec.seed,
                "spec": {k: v for k, v in spec.__dict__.items()}, "streams": rows}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return out / "manifest.json"


# ----------------------------------------------------------------------------- scoring


@dataclass
class Score:
    """Counts over one or more streams; percentages and rates as properties."""

    keywords: int = 0
    others: int = 0  # non-keyword words spoken
    right: int = 0
    wrong: int = 0
    false_alarms: int = 0
    fa_on_words: int = 0  # false alarms on non-keyword words
    seconds: float = 0.0

    def add(self, o: "Score") -> "Score":
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(o, k))
        return self

    def summary(self) -> dict[str, Any]:
        words = self.keywords + self.others
        kw = max(1, self.keywords)
        return {"keywords": self.keywords, "other_words": self.others, "hours": round(self.seconds / 3600, 4),
                "found_right_pct": round(100 * self.right / kw, 2), "wrong_pct": round(100 * self.wrong / kw, 2),
                "missed_pct": round(100 * (self.keywords - self.right - self.wrong) / kw, 2),
                "false_alarms": self.false_alarms, "fa_on_other_words": self.fa_on_words,
                "fa_per_word": round(self.false_alarms / words, 4) if words else None,
                "fa_per_hour": round(self.false_alarms / max(1e-9, self.seconds / 3600), 2)}


def _centres(detections: Iterable[Any]) -> list[tuple[str, float]]:
    """(label, centre) of detections (objects or JSON rows), sorted by time."""
    return sorted(((d.label, (d.start + d.end) / 2) if hasattr(d, "label") else (d["label"], (d["start"] + d["end"]) / 2)
                   for d in detections), key=lambda x: x[1])


def near(c: float, w: dict[str, Any], tolerance: float) -> bool:
    """Whether time `c` lies within +-tolerance of word `w`'s span."""
    return w["start"] - tolerance <= c <= w["end"] + tolerance


def match(detections: Iterable[Any], words: Sequence[dict[str, Any]], tolerance: float = 0.75
          ) -> tuple[dict[int, str], list[tuple[str, float]]]:
    """({word index: 'right' | 'wrong'}, false alarms as (label, centre)) of detections against truth words.

    Right-label matches are made first (nearest word wins), then remaining
    detections take a still-unmatched keyword as a wrong answer; each word takes
    at most one detection; all other detections are false alarms.
    """
    taken: dict[int, str] = {}
    left, fas = [], []

    def dist(c: float, w: dict[str, Any]) -> float:
        return abs(c - (w["start"] + w["end"]) / 2)

    for lab, c in _centres(detections):  # pass 1: right labels
        cands = [i for i, w in enumerate(words) if i not in taken and w["label"] == lab and near(c, w, tolerance)]
        if cands:
            taken[min(cands, key=lambda i: dist(c, words[i]))] = "right"
        else:
            left.append((lab, c))
    for lab, c in left:  # pass 2: wrong labels on unmatched keywords; the rest are false alarms
        cands = [i for i, w in enumerate(words) if i not in taken and w["label"] != UNKNOWN and near(c, w, tolerance)]
        if cands:
            taken[min(cands, key=lambda i: dist(c, words[i]))] = "wrong"
        else:
            fas.append((lab, c))
    return taken, fas


def score(detections: Iterable[Any], words: Sequence[dict[str, Any]], seconds: float,
          tolerance: float = 0.75) -> Score:
    """Counts of `match`: found-and-right, wrong, false alarms (and those on non-keyword words)."""
    taken, fas = match(detections, words, tolerance)
    n_kw = sum(w["label"] != UNKNOWN for w in words)
    fa_words = sum(any(w["label"] == UNKNOWN and near(c, w, tolerance) for w in words) for _, c in fas)
    return Score(keywords=n_kw, others=len(words) - n_kw, right=sum(v == "right" for v in taken.values()),
                 wrong=sum(v == "wrong" for v in taken.values()), false_alarms=len(fas), fa_on_words=fa_words,
                 seconds=float(seconds))


def load_streams(folders: str | Path | Sequence[str | Path]) -> list[tuple[Path, dict[str, Any]]]:
    """(wav path, truth) for every stream of one or more `make-streams` folders."""
    out = []
    for folder in [folders] if isinstance(folders, (str, Path)) else folders:
        folder = Path(folder)
        man = folder / "manifest.json"
        if not man.is_file():
            raise DataError(f"no manifest.json in {folder} (make it with `make-streams`)")
        rows = json.loads(man.read_text())["streams"]
        out += [(folder / r["file"], json.loads((folder / r["truth"]).read_text())) for r in rows]
    return out


def evaluate(folder: str | Path | Sequence[str | Path], spotter: Any, tolerance: float = 0.75, progress: bool = True
             ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(overall summary, per-stream summaries) of a spotter on a streams folder."""
    from tqdm import tqdm

    from audio_rnn.spotting.by_source import SourceTally, found_right_by_source

    total, sources = Score(), SourceTally(tolerance)
    per = []
    for wav, truth in tqdm(load_streams(folder), desc="streams", disable=not progress, unit="stream"):
        dets = spotter.detect(str(wav))
        s = score(dets, truth["words"], truth["duration"], tolerance)
        total.add(s)
        sources.add(dets, truth["words"], truth["duration"])
        per.append({"file": wav.name, "noise": truth.get("noise"), "snr_db": truth.get("snr_db"), **s.summary()})
    summary = total.summary()
    summary["by_source"] = sources.summary()
    summary["found_right_by_source"] = found_right_by_source(summary["by_source"])
    return summary, per


def cache_posteriors(folder: str | Path | Sequence[str | Path], spotter: Any, progress: bool = True) -> list[tuple[Any, dict[str, Any]]]:
    """[((times, probs), truth)] for every stream of a folder: compute once, score many settings."""
    from tqdm import tqdm

    return [(spotter.posteriors(str(wav))[:2], truth)
            for wav, truth in tqdm(load_streams(folder), desc="posteriors", disable=not progress, unit="stream")]


def tune(cache: list[tuple[Any, dict[str, Any]]], spotter: Any, grid: dict[str, Sequence[Any]],
         max_fa_per_word: float = 0.05, tolerance: float = 0.75) -> list[dict[str, Any]]:
    """Score every detection setting of `grid` on cached posteriors; rows sorted best first.

    Best = most found-and-right among settings with at most `max_fa_per_word` false alarms per word.
    """
    import itertools

    from audio_rnn.spotting.detection import detect_posteriors

    keys = list(grid)
    rows = []
    for values in itertools.product(*(grid[k] for k in keys)):
        cfg = replace(spotter.config, **dict(zip(keys, values)))
        total = Score()
        for (times, probs), truth in cache:
            total.add(score(detect_posteriors(times, probs, spotter.labels, cfg, lag=spotter.lag(cfg)), truth["words"],
                            truth["duration"], tolerance))
        rows.append({**dict(zip(keys, values)), **total.summary()})
    rows.sort(key=lambda r: ((r["fa_per_word"] or 0) > max_fa_per_word, -r["found_right_pct"], r["fa_per_word"] or 0))
    return rows


# ----------------------------------------------------------------------------- CLI


TUNED_KEYS = ("threshold", "smooth_s", "min_s", "suppress_s")


def tune_grid(mode: str) -> dict[str, list[Any]]:
    """The detection settings `eval-streams --tune` searches for a spotter in `mode`."""
    if mode == "vad":  # one classification per segment: the threshold is the whole trade-off
        return {"threshold": [round(0.2 + 0.05 * i, 2) for i in range(16)], "suppress_s": [0.1, 0.3]}
    return {"threshold": [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], "smooth_s": [0.1, 0.2, 0.35, 0.5, 0.75],
            "min_s": [0.0, 0.05, 0.1, 0.2, 0.3], "suppress_s": [0.5, 1.0]}


def threshold_curve(rows: Sequence[dict[str, Any]], best: dict[str, Any]) -> list[dict[str, Any]]:
    """The validation trade-off at the best row's other settings: one point per threshold, low to high."""
    others = [k for k in TUNED_KEYS if k != "threshold" and k in best]
    pts = [r for r in rows if all(r.get(k) == best[k] for k in others)]
    return [{"threshold": r["threshold"], "found_right_pct": r["found_right_pct"], "fa_per_word": r["fa_per_word"],
             "fa_per_hour": r["fa_per_hour"]} for r in sorted(pts, key=lambda r: r["threshold"])]


def save_tuned(model: str | None, mode: str | None, best: dict[str, Any], curve: list[dict[str, Any]],
               streams: Sequence[str]) -> Path:
    """Store tuned detection settings as a checkpoint's defaults: `streaming.detection` of a stream-trained
    spotter, or `spotting` (mode, settings, validation curve) of a clip model."""
    from audio_rnn.training import checkpoint
    from audio_rnn.spotting.network import spotter_path

    folder = checkpoint.resolve(spotter_path(model, mode))
    path = folder / checkpoint.CONFIG if folder.is_dir() else folder.with_suffix(".json")
    cfg = json.loads(path.read_text())
    tuned = {k: best[k] for k in TUNED_KEYS if k in best}
    if cfg.get("streaming"):
        cfg["streaming"]["detection"] = {**cfg["streaming"].get("detection", {}), **tuned}
        cfg["streaming"]["curve"] = curve
    else:
        if mode not in ("vad", "window"):
            raise DataError("--save-tuned on a clip model needs --mode vad or --mode window")
        cfg["spotting"] = {**(cfg.get("spotting") if (cfg.get("spotting") or {}).get("mode") == mode else {}),
                           "mode": mode, **tuned, "curve": curve, "tuned_on": [Path(f).name for f in streams]}
    checkpoint.write_json_atomic(path, cfg)
    return path


def configure_eval_streams(p) -> None:
    from audio_rnn.spotting.streaming import configure_spot

    p.add_argument("streams", metavar="DIR", nargs="+", help="folders written by make-streams (scored together)")
    p.add_argument("--tolerance", type=float, default=0.75, help="seconds around each word (default 0.75)")
    p.add_argument("--per-stream", action="store_true", help="also print one line per stream")
    p.add_argument("--tune", action="store_true", help="grid-search threshold/smoothing/min/suppression")
    p.add_argument("--save-tuned", action="store_true",
                   help="with --tune: store the best settings in the (stream-trained) model's config as its defaults")
    p.add_argument("--quiet", action="store_true")
    # the spotter's own settings (same flags as `spot`, minus the file)
    tmp = __import__("argparse").ArgumentParser(add_help=False)
    configure_spot(tmp)
    for a in tmp._actions:
        if a.dest not in ("file", "help"):
            p._add_action(a)


def run_eval_streams(args) -> int:
    from audio_rnn.spotting.streaming import make_spotter

    load_streams(args.streams)  # a clear error for a wrong folder before the model loads
    spotter = make_spotter(args)
    if args.save_tuned and not (args.tune and (spotter.trained_on_streams or args.mode in ("vad", "window"))):
        raise DataError("--save-tuned goes with --tune, and with a spotter trained by train-spot or a clip model "
                        "in --mode vad or --mode window")
    if args.tune:
        rows = tune(cache_posteriors(args.streams, spotter, not args.quiet), spotter, tune_grid(spotter.config.mode),
                    tolerance=args.tolerance)
        for r in rows[:15]:
            print(json.dumps(r))
        if args.save_tuned:
            path = save_tuned(args.model, args.mode, rows[0], threshold_curve(rows, rows[0]), args.streams)
            print(f"saved the best settings as defaults of {path}")
        return 0
    summary, per = evaluate(args.streams, spotter, args.tolerance, progress=not args.quiet)
    summary = {"streams": args.streams, "config": spotter.config.to_dict(), **summary}
    if args.per_stream:
        for r in per:
            print(json.dumps(r) if args.json else "  ".join(f"{k}={v}" for k, v in r.items()))
    if args.json:
        print(json.dumps(summary))
    else:
        from audio_rnn.spotting.by_source import format_rows

        s = summary
        print(f"{s['keywords']} keywords, {s['other_words']} other words, {s['hours'] * 60:.1f} min: "
              f"found-and-right {s['found_right_pct']}%, wrong {s['wrong_pct']}%, missed {s['missed_pct']}%, "
              f"false alarms {s['false_alarms']} ({s['fa_per_word'] if s['fa_per_word'] is not None else '-'}/word, "
              f"{s['fa_per_hour']}/hour)")
        print("by source:\n" + "\n".join(format_rows(s["by_source"])))
    sys.stdout.flush()
    return 0
