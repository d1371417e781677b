"""Train-your-own on real voices: 5 real examples per word, scored on real speakers never heard.

    .venv/bin/python benchmarks/finetune_real.py [--words yes,no] [--base digits] [--examples 5] [--seed N]
        [--set FIELD=VALUE] [--json]     # run --seed 0, 1, 2: the take sets differ by several points

The examples are Speech Commands clips by 5 different *training* speakers of
../shared/data/speech_commands (as five people would record them); the test is
every clip of the share's validation speakers (the fixed 20%): the new words
must be recognised, every other word must be rejected (`_unknown_`/`_silence_`),
and the backgrounds must be `_silence_`. Prints figures, never fails on them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SC = Path(os.environ.get("AUDIO_RNN_SPEECH_COMMANDS", ROOT.parent / "shared" / "data" / "speech_commands"))


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
    ap.add_argument("--calibrate-folds", type=int, default=5, help="0: the threshold is not calibrated")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="a FinetuneConfig field for a side-by-side run (repeatable), e.g. --set pitch_prob=0.5")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch

    from audio_rnn.keywords.data import SILENCE, UNKNOWN, load_speech_commands_folder
    from audio_rnn.keywords.finetune import FinetuneConfig, train
    from audio_rnn.keywords.recognize import Recognizer

    torch.set_num_threads(1)
    words = [w.strip() for w in args.words.split(",") if w.strip()]
    clips = load_speech_commands_folder(SC, labels=None)
    rng = np.random.default_rng(args.seed)
    examples: dict[str, list[np.ndarray]] = {}
    for w in words:
        pool = [c for c in clips if c.split == "train" and c.label == w]
        speakers: set[str] = set()
        examples[w] = []
        for i in rng.permutation(len(pool)):
            if pool[i].speaker not in speakers and len(examples[w]) < args.examples:
                speakers.add(pool[i].speaker)
                examples[w].append(pool[i].wave)
    test = [c for c in clips if c.split == "val"]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cfg = FinetuneConfig(seed=args.seed, calibrate_folds=args.calibrate_folds, **overrides(args.set))
        res = train(examples, tmp, cfg, base=args.base)
        seconds = time.perf_counter() - t0
        rec = Recognizer(tmp)
        results = rec.classify_waves([c.wave for c in test])
        preds = [r.label for r in results]
    truth = [c.label if c.label in words else (SILENCE if c.label == SILENCE else UNKNOWN) for c in test]
    kw = [(t, p) for t, p in zip(truth, preds) if t in words]
    other = [p for t, p in zip(truth, preds) if t == UNKNOWN]
    sil = [p for t, p in zip(truth, preds) if t == SILENCE]
    out = {
        "words": words, "base": args.base, "set": args.set, "seed": args.seed, "examples_per_word": args.examples,
        "seconds": round(seconds, 1),
        "mode": res.mode, "epochs": res.epochs, "calibration": res.calibration,
        "keywords_right": round(float(np.mean([t == p for t, p in kw])), 4), "n_keywords": len(kw),
        "other_words_rejected": round(float(np.mean([p in (UNKNOWN, SILENCE) for p in other])), 4),
        "n_other": len(other),
        "silence_right": round(float(np.mean([p == SILENCE for p in sil])), 4), "n_silence": len(sil),
        "test_speakers": len({c.speaker for c in test if c.label != SILENCE}),
    }
    out["threshold_sweep"] = sweep(results, truth, words)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:<22} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
