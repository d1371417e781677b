"""Keyword model capacity at the 1,349-speaker scale: trained variants side by side, against a baseline peer.

Each variant is trained from scratch by the same command, with only its network flag changed (15 epochs, the
shipped commands model's recipe, one thread):

    audio-rnn train-kws --labels commands --data ../shared/data/speech_commands \\
        --data ../shared/data/speech_commands_v0.01 --data runs/synth_cmd --out runs/sweep/NAME \\
        --epochs 15 --patience 15 --real-repeat 3 --repeat-origin speech_commands --unknown-ratio 4 --swa 5 \\
        --pitch-prob 0.2 --deltas --threads 1 --seed 5 --no-eval  [--hidden 256 | --layers 3 | --cell lstm |
        --conv 64 | --no-spec-augment]

then compared here:

    .venv/bin/python benchmarks/kws_capacity.py runs/sweep/base runs/sweep/wide256 ... [--json]

The first folder is the peer. Per variant: parameters, seconds per epoch, the milliseconds `classify` spends on
one 1 s clip alone and per clip in a batch of 64 (in process, one thread, medians; the target is 5 ms a clip),
and on the validation speakers of each
Speech Commands folder (as recorded, the way `classify` reads files): 12-class accuracy, keywords named right,
other words rejected. The validation speakers chose each run's epoch, so every figure is optimistic by the same
rule; the per-epoch curve (`--curves`) shows whether a variant was still climbing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
DATA = [ROOT.parent / "shared" / "data" / "speech_commands", ROOT.parent / "shared" / "data" / "speech_commands_v0.01"]


def clip_ms(rec, batch: int = 1, repeats: int = 15) -> float:
    """Median milliseconds per 1 s clip (features and network) when `batch` clips are classified in one call."""
    waves = list(np.random.default_rng(0).normal(0, 0.05, (batch, 16000)).astype(np.float32))
    rec.classify_waves(waves)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        rec.classify_waves(waves)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000 / batch)


def variant(folder: str, val_sets: dict[str, list]) -> dict:
    """One trained run: its size, cost and validation figures per folder."""
    import torch

    from audio_rnn.keywords.recognize import Recognizer
    from kws_origins import rates

    rec = Recognizer(folder)
    t = rec.config["training"]
    d = rec.model.dims
    row = {"run": Path(folder).name, "net": f"{d.cell} {d.layers}x{d.hidden}" + (f" conv{d.conv}" if d.conv else "")
           + ("" if t.get("spec_augment", True) else " no-SpecAugment"),
           "params": rec.model.n_params(), "epochs": t["epochs_run"], "best_epoch": t["best_epoch"],
           "s_per_epoch": round(t["train_seconds"] / max(1, t["epochs_run"]), 1), "clip_ms": round(clip_ms(rec), 2),
           "batch_clip_ms": round(clip_ms(rec, batch=64), 2)}
    for name, clips in val_sets.items():
        probs = torch.softmax(rec.logits([c.wave for c in clips]), -1).numpy()
        true = np.array([rec.labels.index(c.label) for c in clips])
        r = rates(probs.argmax(1), true, rec.labels)
        row[name] = {"accuracy": r["accuracy"], "keywords": r["keywords"], "others_rejected": r["others_rejected"],
                     "_right": probs.argmax(1) == true}
    row["curve"] = [(h["epoch"], h["val_by_origin"]) for h in t["history"]]
    return row


def speaker_interval(right: np.ndarray, peer: np.ndarray, speakers: list[str], n: int = 2000,
                     seed: int = 0) -> tuple[float, float]:
    """95% interval of the accuracy difference (points) against the peer on the same clips, resampling speakers
    (one speaker's clips are not independent)."""
    names, idx = np.unique(speakers, return_inverse=True)
    diff = np.bincount(idx, right.astype(float) - peer.astype(float), len(names))
    count = np.bincount(idx, minlength=len(names)).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), (n, len(names)))
    means = diff[draws].sum(1) / count[draws].sum(1) * 100
    return round(float(np.percentile(means, 2.5)), 1), round(float(np.percentile(means, 97.5)), 1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="trained checkpoint folders; the first is the peer")
    p.add_argument("--data", action="append", help="Speech Commands folders (validation split); default: both")
    p.add_argument("--curves", action="store_true", help="also print each run's per-epoch validation by folder")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    import torch

    from audio_rnn.keywords.data import VOCABULARIES, load_speech_commands_folder

    torch.set_num_threads(1)
    labels = list(VOCABULARIES["commands"])
    val_sets = {Path(d).name: [c for c in load_speech_commands_folder(str(d), labels) if c.split == "val"]
                for d in (args.data or DATA)}
    rows = [variant(r, val_sets) for r in args.runs]
    peer = rows[0]
    for r in rows:
        r["vs_peer"] = {"params_x": round(r["params"] / peer["params"], 2),
                        "clip_ms_x": round(r["clip_ms"] / peer["clip_ms"], 2),
                        "batch_clip_ms_x": round(r["batch_clip_ms"] / peer["batch_clip_ms"], 2)}
        for name, clips in val_sets.items():
            r["vs_peer"][f"{name}_points"] = round(r[name]["accuracy"] - peer[name]["accuracy"], 1)
            r["vs_peer"][f"{name}_95pct"] = speaker_interval(r[name]["_right"], peer[name]["_right"],
                                                             [c.speaker for c in clips])
    for r in rows:
        for name in val_sets:
            del r[name]["_right"]
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        figures = "  ".join(f"{name}: {r[name]['accuracy']}% (kw {r[name]['keywords']}, "
                            f"rej {r[name]['others_rejected']})" for name in val_sets)
        print(f"{r['net']:>28} {r['params']:>8,} params {r['s_per_epoch']:>6} s/epoch {r['clip_ms']:>5} ms/clip ({r['batch_clip_ms']} in a batch of 64) "
              f"best epoch {r['best_epoch']}/{r['epochs']}  {figures}  vs peer {r['vs_peer']}")
        if args.curves:
            for epoch, by in r["curve"]:
                print(f"{'':>30} epoch {epoch:>2}: " + "  ".join(f"{k} {v}" for k, v in by.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
