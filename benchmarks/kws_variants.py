"""Keyword recognizer variants side by side on real speakers, at one training budget each.

    .venv/bin/python benchmarks/kws_variants.py --data ../shared/data/speech_commands [--minutes 6] [--json]

Every variant trains with `keywords.train.train` on the share's training speakers for the same wall-clock
budget (one thread), chooses its epoch on half of the held-out speakers (hashed by speaker) and is scored
on the other half (12 classes: the ten commands, `_silence_`, `_unknown_`), with a binomial 95% interval.
Variants: the GRU baseline (2x128, SpecAugment 2 masks, speed perturbation 0.6), no speed perturbation,
stronger SpecAugment (3 masks, 6 rows, 20 frames), a wider GRU (2x256), an LSTM, a plain tanh RNN.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = {
    "gru 2x128 (baseline)": ({}, {}),
    "no speed perturbation": ({}, {"speed_prob": 0.0}),
    "stronger SpecAugment": ({}, {"spec_masks": 3, "spec_freq": 6, "spec_time": 20}),
    "wider: gru 2x256": ({"hidden": 256}, {}),
    "lstm 2x128": ({"cell": "lstm"}, {}),
    "rnn 2x128": ({"cell": "rnn"}, {}),
}


def report_half(speaker: str) -> bool:
    """Half of the held-out speakers report; the other half chooses the epoch (a stable hash of the id)."""
    return hashlib.sha1(speaker.encode()).digest()[0] % 2 == 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "speech_commands"))
    ap.add_argument("--minutes", type=float, default=6.0, help="training budget per variant")
    ap.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from audio_rnn.keywords.data import VOCABULARIES, load_any
    from audio_rnn.keywords.recognize import Recognizer
    from audio_rnn.keywords.train import TrainConfig, train
    from audio_rnn.audio.features import FeatureConfig

    labels = list(VOCABULARIES["commands"])
    clips = load_any(a.data, labels)
    clips = [replace(c, split="test") if c.split == "val" and report_half(c.speaker) else c for c in clips]
    test = [c for c in clips if c.split == "test"]
    speakers = {c.speaker for c in test if c.label != "_silence_"}
    names = [n for n in VARIANTS if not a.only or n in a.only.split(",")]
    rows = []
    for name in names:
        dims, over = VARIANTS[name]
        tc = replace(TrainConfig(epochs=60, patience=60, max_minutes=a.minutes, pitch_prob=0.2, real_repeat=6,
                                 unknown_ratio=4.0, seed=0), **over)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as d:
            _, cfg = train(clips, d, labels, {"hidden": 128, "layers": 2, **dims}, tc, FeatureConfig(deltas=True),
                           progress=False)
            rec = Recognizer(d)
            preds = [r.label for r in rec.classify_waves([c.wave for c in test])]
            t = time.perf_counter()
            rec.classify_waves([c.wave for c in test[:200]])
            ms = (time.perf_counter() - t) / 200 * 1000
        acc = sum(p == c.label for p, c in zip(preds, test)) / len(test)
        half = 1.96 * math.sqrt(acc * (1 - acc) / len(test))
        rows.append({"variant": name, "accuracy": round(acc, 4), "ci95": round(half, 4),
                     "params": cfg["n_params"], "epochs": cfg["training"]["epochs_run"],
                     "best_epoch": cfg["training"]["best_epoch"], "minutes": round((time.perf_counter() - t0) / 60, 1),
                     "classify_ms_per_clip": round(ms, 2)})
        if not a.json:
            r = rows[-1]
            print(f"{name}: {100 * acc:.1f}% ± {100 * half:.1f} on {len(test)} clips of {len(speakers)} speakers; "
                  f"{r['params']:,} parameters, {r['epochs']} epochs (best {r['best_epoch']}), "
                  f"{r['classify_ms_per_clip']} ms/clip", flush=True)
    if a.json:
        print(json.dumps({"test_clips": len(test), "test_speakers": len(speakers), "minutes": a.minutes, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
