"""Keyword recognizer variants side by side on real speakers, at one training length each.

    .venv/bin/python benchmarks/kws_variants.py --data ../shared/data/speech_commands [--epochs 20] [--only A,B] [--json]

Every variant trains from scratch with `keywords.train.train` on the share's training speakers for the same
number of epochs (the one-cycle schedule runs to its end), one thread unless `--threads`. The held-out speakers (the fixed
speaker hash, 37 of 162) are split in two halves by another hash, A and B, and every epoch is scored on both
(12 classes: the ten commands, `_silence_`, `_unknown_`; arg-max decisions). Two figures per variant, both on
all held-out speakers:

- **best epoch, cross-fitted**: the epoch chosen on A is scored on B and the one chosen on B on A, pooled;
- **SWA**: the average of the last 5 epochs' weights, which needs no choosing.

The interval is a 95% bootstrap over speakers (clips of one speaker are not independent). Variants: the GRU
baseline (2x128, SpecAugment 2 masks, speed perturbation 0.6), no speed perturbation, stronger SpecAugment,
wider GRUs (2x192, 2x256), a CRNN (a causal convolution under the GRU), an LSTM, a plain tanh RNN.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = {
    "gru 2x128 (baseline)": ({}, {}),
    "no speed perturbation": ({}, {"speed_prob": 0.0}),
    "stronger SpecAugment": ({}, {"spec_masks": 3, "spec_freq": 6, "spec_time": 20}),
    "wider: gru 2x192": ({"hidden": 192}, {}),
    "wider: gru 2x256": ({"hidden": 256}, {}),
    "crnn: conv 128x5 + gru 2x128": ({"conv": 128, "conv_kernel": 5}, {}),
    "lstm 2x128": ({"cell": "lstm"}, {}),
    "rnn 2x128": ({"cell": "rnn"}, {}),
}
SWA_LAST = 5


def half_b(speaker: str) -> bool:
    """Which half a held-out speaker is in (a stable hash of the id, independent of the model split)."""
    return hashlib.sha1(speaker.encode()).digest()[0] % 2 == 1


def speaker_bootstrap(right: np.ndarray, speakers: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% interval of the accuracy when whole speakers are resampled."""
    rng = np.random.default_rng(seed)
    ids = np.unique(speakers)
    per = [right[speakers == s] for s in ids]
    sums, counts = np.array([p.sum() for p in per]), np.array([p.size for p in per])
    draws = rng.integers(0, len(ids), (n, len(ids)))
    accs = sums[draws].sum(1) / counts[draws].sum(1)
    lo, hi = np.percentile(accs, [2.5, 97.5])
    return float(lo), float(hi)


class EpochScores:
    """Per-epoch predictions on both held-out halves, and a running sum of the last epochs' weights (SWA)."""

    def __init__(self, feats, epochs: int):
        self.feats, self.epochs = feats, epochs
        self.preds: list[np.ndarray] = []
        self.avg: dict | None = None
        self.n_avg = 0

    def __call__(self, epoch: int, model) -> None:
        from audio_rnn.keywords.train import predict

        self.preds.append(predict(model, self.feats))
        if epoch > self.epochs - SWA_LAST:
            sd = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
            self.avg = sd if self.avg is None else {k: self.avg[k] + sd[k] for k in sd}
            self.n_avg += 1

    def swa_preds(self, model) -> np.ndarray:
        from audio_rnn.keywords.train import predict

        model.load_state_dict({k: v / self.n_avg for k, v in self.avg.items()})
        return predict(model.eval(), self.feats)


def crossfit(preds: list[np.ndarray], ys: np.ndarray, in_b: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Right/wrong per clip: clips of B judged at the epoch best on A, and the other way round."""
    acc = lambda p, m: float((p[m] == ys[m]).mean())  # noqa: E731
    best_a = int(np.argmax([acc(p, ~in_b) for p in preds]))
    best_b = int(np.argmax([acc(p, in_b) for p in preds]))
    right = np.where(in_b, preds[best_a] == ys, preds[best_b] == ys)
    return right, [best_a + 1, best_b + 1]


def run_variant(name: str, clips, held, labels, epochs: int, seed: int, threads: int = 1) -> dict:
    import torch

    from audio_rnn.audio.features import MFCC, FeatureConfig
    from audio_rnn.keywords.recognize import Recognizer
    from audio_rnn.keywords.train import TrainConfig, featurize, train
    from audio_rnn.keywords.data import fit_window

    dims, over = VARIANTS[name]
    fc = FeatureConfig(deltas=True)
    ys = np.array([labels.index(c.label) for c in held])
    spk = np.array([c.speaker for c in held])
    in_b = np.array([half_b(s) for s in spk])
    feats = featurize(MFCC(fc).eval(), np.stack([fit_window(c.wave) for c in held]))
    scores = EpochScores(feats, epochs)
    tc = replace(TrainConfig(epochs=epochs, patience=epochs, pitch_prob=0.2, real_repeat=6, unknown_ratio=4.0,
                             seed=seed), **over)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        model, cfg = train(clips, d, labels, {"hidden": 128, "layers": 2, **dims}, tc, fc, progress=False,
                           on_epoch=scores)
        minutes = (time.perf_counter() - t0) / 60
        torch.set_num_threads(1)  # classify is timed on one thread whatever the training used
        rec = Recognizer(d)
        waves = [c.wave for c in held[:200]]
        rec.classify_waves(waves[:8])
        t = time.perf_counter()
        rec.classify_waves(waves)
        ms = (time.perf_counter() - t) / len(waves) * 1000
    right, chosen = crossfit(scores.preds, ys, in_b)
    swa_right = scores.swa_preds(model) == ys
    torch.set_num_threads(threads)
    return {"variant": name, "crossfit_accuracy": round(float(right.mean()), 4),
            "crossfit_ci95": [round(v, 4) for v in speaker_bootstrap(right, spk)], "epochs_chosen": chosen,
            "swa_accuracy": round(float(swa_right.mean()), 4),
            "swa_ci95": [round(v, 4) for v in speaker_bootstrap(swa_right, spk)],
            "last_epoch_accuracy": round(float((scores.preds[-1] == ys).mean()), 4),
            "per_epoch": [round(float((p == ys).mean()), 4) for p in scores.preds],
            "params": cfg["n_params"], "epochs": epochs, "minutes": round(minutes, 1), "threads": threads,
            "classify_ms_per_clip": round(ms, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "speech_commands"))
    ap.add_argument("--epochs", type=int, default=20, help="training epochs per variant (the shipped rounds: 20)")
    ap.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch and rendering threads (the rendered windows do not depend on it)")
    ap.add_argument("--out", default="", help="also append each row as a JSON line to this file")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    from audio_rnn.keywords.data import VOCABULARIES, load_any

    labels = list(VOCABULARIES["commands"])
    clips = load_any(a.data, labels)
    held = [c for c in clips if c.split == "val"]
    # the trainer's own validation set is half A; half B is out of its sight
    clips = [replace(c, split="test") if c.split == "val" and half_b(c.speaker) else c for c in clips]
    names = [n for n in VARIANTS if not a.only or n in a.only.split(",")]
    n_speakers = len({c.speaker for c in held if c.label != "_silence_"})  # background files are not speakers
    rows = []
    for name in names:
        r = run_variant(name, clips, held, labels, a.epochs, a.seed, a.threads)
        rows.append(r)
        if a.out:
            with open(a.out, "a") as f:
                f.write(json.dumps(r) + "\n")
        if not a.json:
            lo, hi = r["crossfit_ci95"]
            print(f"{name}: best epoch {100 * r['crossfit_accuracy']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] "
                  f"(epochs {r['epochs_chosen']}), SWA {100 * r['swa_accuracy']:.1f}%, last "
                  f"{100 * r['last_epoch_accuracy']:.1f}% on {len(held)} clips of "
                  f"{n_speakers} speakers; {r['params']:,} parameters, {r['minutes']} min, "
                  f"{r['classify_ms_per_clip']} ms/clip", flush=True)
    if a.json:
        print(json.dumps({"held_out_clips": len(held), "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
