"""Train-your-own keywords: time and held-out accuracy, fine-tuning the shipped model vs a small new model.

    .venv/bin/python benchmarks/finetune_accuracy.py [--words lights,music] [--examples 5] [--json]

The user's examples are espeak-ng recordings in training voices (5 per word by
default, as a user would record); the test set is the same words in held-out
voices (`synth_speech.TEST_VARIANTS`), other words (should be `_unknown_`) and
noise (should be `_silence_`). Both modes run in the same process on the same
data, with the app's default settings, so their times and accuracies compare.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TRAIN_VOICES = [("", 150, 50), ("m1", 170, 40), ("f1", 140, 60), ("m3", 160, 35), ("f2", 180, 70),
                ("klatt", 130, 45), ("m7", 165, 55), ("f3", 150, 65)]
TEST_VOICES = [("m6", 155, 50), ("f4", 145, 62), ("klatt6", 160, 45), ("aunty", 150, 55), ("david", 140, 40),
               ("steph2", 170, 60)]
OTHER_WORDS = ("table", "seven", "window", "coffee")


def speak(word: str, variant: str, speed: int, pitch: int, accent: str = "en-us") -> np.ndarray:
    from audio_rnn.keywords.synth_speech import SynthItem, render

    return render(SynthItem("x.wav", word, word, accent, variant, speed, pitch, "train"))


def test_set(words: list[str]) -> tuple[list[np.ndarray], list[str]]:
    from audio_rnn.keywords.data import silence_clip

    waves, labels = [], []
    for w in words:
        for v in TEST_VOICES:
            waves.append(speak(w, *v))
            labels.append(w)
    for w in OTHER_WORDS:
        for v in TEST_VOICES[:3]:
            waves.append(speak(w, *v))
            labels.append("_unknown_")
    rng = np.random.default_rng(7)
    for _ in range(6):
        waves.append(silence_clip(rng))
        labels.append("_silence_")
    return waves, labels


def run(mode: str, examples: dict, test: tuple, base: str | None) -> dict:
    from audio_rnn.keywords.finetune import FinetuneConfig, train
    from audio_rnn.keywords.recognize import Recognizer

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = train(examples, Path(tmp) / "m", FinetuneConfig(mode=mode), base=base)
        seconds = time.perf_counter() - t0
        pred = [r.label for r in Recognizer(res.folder).classify_waves(test[0])]
    truth = test[1]
    kw = [i for i, t in enumerate(truth) if not t.startswith("_")]
    return {"mode": res.mode, "seconds": round(seconds, 1), "epochs": res.epochs,
            "accuracy": round(float(np.mean([p == t for p, t in zip(pred, truth)])), 3),
            "keyword_accuracy": round(float(np.mean([pred[i] == truth[i] for i in kw])), 3),
            "n_test": len(truth)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", default="lights,music", help="comma-separated keywords")
    ap.add_argument("--examples", type=int, default=5, help="training recordings per word (max 8)")
    ap.add_argument("--base", help="checkpoint to fine-tune (default: the shipped model)")
    ap.add_argument("--modes", default="finetune,scratch")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    words = [w.strip() for w in args.words.split(",") if w.strip()]
    examples = {w: [speak(w, *v) for v in TRAIN_VOICES[: args.examples]] for w in words}
    test = test_set(words)
    rows = [run(m, examples, test, args.base) for m in args.modes.split(",")]
    for r in rows:
        print(json.dumps(r) if args.json else "  ".join(f"{k}={v}" for k, v in r.items()))
    if len(rows) == 2:
        print(json.dumps({"time_ratio": round(rows[0]["seconds"] / rows[1]["seconds"], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
