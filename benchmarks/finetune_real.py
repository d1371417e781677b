"""Train-your-own on real voices: 5 real examples per word, scored on real speakers never heard.

    .venv/bin/python benchmarks/finetune_real.py [--words yes,no] [--base digits] [--examples 5] [--seed N]
        [--takes DIR] [--test DIR ...] [--set FIELD=VALUE] [--json]   # --seed 0, 1, 2: take sets differ

The examples are Speech Commands clips by 5 different *training* speakers of
`--takes` (default ../shared/data/speech_commands; as five people would record
them); the test is every clip of the validation speakers (the fixed hash split)
of each `--test` folder, reported per folder: the new words must be recognised,
every other word must be rejected (`_unknown_`/`_silence_`), and the backgrounds
must be `_silence_`. Prints figures, never fails on them.

The shared-channel trap: `--takes` and `--test` of speech_commands_v0.01, an
older pipeline (quieter, cut looser) that no negative of train-own comes from,
is the wake-word case: takes, and the other words to reject, through one channel.
`--mic SEED` builds that case on any folder: one simulated laptop microphone
(band-pass, a room, its own hiss and hum at 12-20 dB SNR) colours the takes and
every test clip, never train-own's negatives. `--other-words N` gives training
N recordings of other words through the same channel (what the Train page's
optional box takes), by training speakers, never a test speaker's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SC = Path(os.environ.get("AUDIO_RNN_SPEECH_COMMANDS", ROOT.parent / "shared" / "data" / "speech_commands"))


def microphone(seed: int, sr: int = 16000):
    """One fixed simulated microphone and room (the same for every clip it colours): x -> x through it."""
    from scipy import signal

    from audio_rnn.audio.augment import add_noise, colored_noise, hum, room_impulse

    rng = np.random.default_rng(10_000 + seed)
    sos = signal.butter(2, [rng.uniform(150, 400), rng.uniform(2500, 3500)], btype="bandpass", fs=sr, output="sos")
    ir = room_impulse(sr, float(rng.uniform(0.2, 0.5)), rng)
    floor = colored_noise(10 * sr, str(rng.choice(["pink", "white", "brown"])), rng) + \
        float(rng.uniform(0.2, 1.0)) * hum(10 * sr, sr, rng)
    snr = float(rng.uniform(12, 20))

    def through(x: np.ndarray) -> np.ndarray:  # each call takes the next stretch of the noise floor (call order)
        y = signal.sosfilt(sos, signal.fftconvolve(x, ir)[: len(x)]).astype(np.float32)
        start = int(rng.integers(0, len(floor) - len(x)))
        return add_noise(y, floor[start:start + len(x)], snr)

    return through


def by_distinct_speakers(pool, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Up to `n` waves of `pool`, in `rng`'s order, each by a speaker not drawn before."""
    out, speakers = [], set()
    for i in rng.permutation(len(pool)):
        if pool[i].speaker not in speakers and len(out) < n:
            speakers.add(pool[i].speaker)
            out.append(pool[i].wave)
    return out


def other_words(clips, words: list[str], n: int, seed: int) -> list[np.ndarray]:
    """`n` recordings of words that are none of `words`, by distinct training speakers (of the take set `seed`)."""
    pool = [c for c in clips if c.split == "train" and c.label not in words and c.label != "_silence_"]
    return by_distinct_speakers(pool, n, np.random.default_rng(50_000 + seed))


def take_sets(clips, words: list[str], n: int, seed: int) -> dict[str, list[np.ndarray]]:
    """`n` takes of each word, each by another training speaker (the take set of `seed`)."""
    rng = np.random.default_rng(seed)
    return {w: by_distinct_speakers([c for c in clips if c.split == "train" and c.label == w], n, rng)
            for w in words}


def scores(rec, test, words: list[str]) -> dict[str, object]:
    """Keywords right, other words rejected, backgrounds as silence, and the threshold sweep, on `test`."""
    from audio_rnn.keywords.data import SILENCE, UNKNOWN

    results = rec.classify_waves([c.wave for c in test])
    preds = [r.label for r in results]
    truth = [c.label if c.label in words else (SILENCE if c.label == SILENCE else UNKNOWN) for c in test]
    kw = [(t, p) for t, p in zip(truth, preds) if t in words]
    other = [p for t, p in zip(truth, preds) if t == UNKNOWN]
    sil = [p for t, p in zip(truth, preds) if t == SILENCE]
    mean = lambda xs: round(float(np.mean(xs)), 4) if xs else None  # noqa: E731
    accepted = Counter(c.label for c, t, p in zip(test, truth, preds) if t == UNKNOWN and p not in (UNKNOWN, SILENCE))
    return {"keywords_right": mean([t == p for t, p in kw]), "n_keywords": len(kw),
            "other_words_rejected": mean([p in (UNKNOWN, SILENCE) for p in other]), "n_other": len(other),
            "silence_right": mean([p == SILENCE for p in sil]), "n_silence": len(sil),
            "test_speakers": len({c.speaker for c in test if c.label != SILENCE}),
            "accepted_by_word": dict(accepted.most_common(6)), "threshold_sweep": sweep(results, truth, words)}


def overrides(pairs: list[str]) -> dict[str, object]:
    """FIELD=VALUE pairs as FinetuneConfig keyword arguments, each value cast to the field's default's type."""
    from audio_rnn.keywords.finetune import FinetuneConfig

    out: dict[str, object] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        kind = type(getattr(FinetuneConfig(), key))
        out[key] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return out


def sweep(results, truth: list[str], words: list[str]) -> list[dict[str, float]]:
    """Keywords right and other words rejected at other keyword thresholds (the keyword_score rule): what the
    calibrated threshold traded, on these speakers."""
    probs = np.stack([[r.probs[w] for w in words] for r in results])
    best, top = probs.argmax(1), probs.max(1)
    is_kw = np.array([t in words for t in truth])
    idx = np.array([words.index(t) if t in words else -1 for t in truth])
    other = np.array([t not in words and t != "_silence_" for t in truth])
    return [{"threshold": float(t), "keywords_right": round(float(((best == idx) & (top >= t))[is_kw].mean()), 4),
             "other_words_rejected": round(float((top < t)[other].mean()), 4)}
            for t in np.round(np.arange(0.3, 0.91, 0.1), 2)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", default="yes,no", help="comma-separated words of the share")
    ap.add_argument("--base", default="digits", help="digits, commands or a checkpoint folder")
    ap.add_argument("--examples", type=int, default=5, help="examples per word, each by another speaker")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--takes", default=str(SC), help="Speech Commands folder the takes come from")
    ap.add_argument("--test", action="append", default=[], metavar="DIR",
                    help="Speech Commands folder whose validation speakers are tested (repeatable; "
                         "default: the v0.02 share)")
    ap.add_argument("--other-words", type=int, default=0, help="recordings of other words given to training")
    ap.add_argument("--mic", type=int, default=-1, help="a simulated microphone for takes and tests (-1: none)")
    ap.add_argument("--calibrate-folds", type=int, default=5, help="0: the threshold is not calibrated")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="a FinetuneConfig field for a side-by-side run (repeatable), e.g. --set pitch_prob=0.5")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch

    from audio_rnn.keywords.data import load_speech_commands_folder
    from audio_rnn.keywords.finetune import FinetuneConfig, train
    from audio_rnn.keywords.recognize import Recognizer

    torch.set_num_threads(1)
    words = [w.strip() for w in args.words.split(",") if w.strip()]
    tests = args.test or [str(SC)]
    folders = {d: load_speech_commands_folder(d, labels=None) for d in {args.takes, *tests}}
    examples = take_sets(folders[args.takes], words, args.examples, args.seed)
    others = other_words(folders[args.takes], words, args.other_words, args.seed)
    if args.mic >= 0:  # the takes and every test clip through one microphone; train-own's negatives are not
        mic = microphone(args.mic)
        examples = {w: [mic(x) for x in xs] for w, xs in examples.items()}
        others = [mic(x) for x in others]
        folders = {d: [replace(c, wave=mic(c.wave)) if c.split == "val" else c for c in cs]
                   for d, cs in folders.items()}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cfg = FinetuneConfig(seed=args.seed, calibrate_folds=args.calibrate_folds, **overrides(args.set))
        res = train(examples, tmp, cfg, base=args.base, others=others)
        seconds = time.perf_counter() - t0
        rec = Recognizer(tmp)
        by_folder = {Path(d).name: scores(rec, [c for c in folders[d] if c.split == "val"], words)
                     for d in tests}
    out = {"words": words, "base": args.base, "set": args.set, "seed": args.seed, "takes": Path(args.takes).name,
           "mic": args.mic, "other_words": args.other_words,
           "examples_per_word": args.examples, "seconds": round(seconds, 1), "mode": res.mode, "epochs": res.epochs,
           "calibration": res.calibration, "test": by_folder}
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:<22} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
