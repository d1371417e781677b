"""RNN vs LSTM vs GRU keyword recognizers: parameters, leave-one-speaker-out accuracy on FSDD, training time.

One run, every cell under identical conditions: for each FSDD speaker, train on
the other four speakers plus the espeak-ng training voices (and silence), then
test on the held-out speaker's 500 clean clips. To make the comparison fair and
affordable, the augmented feature sets (one per epoch draw) are computed once and
shared by all cells and folds; a fold simply drops its held-out speaker's rows.
The lecture's claim under test: gated cells (LSTM/GRU) learn the word across the
one-second window where the plain tanh RNN struggles.

    .venv/bin/python benchmarks/kws_cells.py --synth runs/synth [--epochs 8] [--hidden 64] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audio_rnn.audio.augment import AugmentConfig, augment_speech, spec_augment  # noqa: E402
from audio_rnn.keywords.data import LABELS, SILENCE, SR, WINDOW, fit_window, load_fsdd, load_synth, silence_clip  # noqa: E402
from audio_rnn.audio.features import MFCC, FeatureConfig  # noqa: E402
from audio_rnn.keywords.models import KeywordRNN, KWSDims  # noqa: E402
from audio_rnn.keywords.train import featurize  # noqa: E402


def draws(clips, n_draws: int, n_silence: int, seed: int, mfcc: MFCC):
    """`n_draws` augmented feature sets of all clips (+ fresh silence each): list of (feats, labels)."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    idx = {lab: i for i, lab in enumerate(LABELS)}
    out = []
    for _ in tqdm(range(n_draws), desc="augment + features"):
        waves = [augment_speech(c.wave, SR, WINDOW, rng, AugmentConfig()) for c in clips]
        waves += [silence_clip(rng) for _ in range(n_silence)]
        ys = [idx[c.label] for c in clips] + [idx[SILENCE]] * n_silence
        out.append((featurize(mfcc, np.stack(waves)), torch.tensor(ys)))
    return out


def train_fold(cell: str, sets, keep: torch.Tensor, epochs: int, hidden: int, layers: int, pooling: str,
               seed: int, lr: float = 3e-3, batch: int = 64) -> tuple[KeywordRNN, float]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = KeywordRNN(KWSDims(cell=cell, hidden=hidden, layers=layers, pooling=pooling))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    n = int(keep.sum())
    steps = epochs * ((n + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps + 1, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    rows = torch.nonzero(keep).squeeze(1)
    t = time.perf_counter()
    for e in range(epochs):
        feats, ys = sets[e % len(sets)]
        model.train()
        order = rows[torch.from_numpy(rng.permutation(n))]
        for i in range(0, n, batch):
            b = order[i:i + batch]
            loss = loss_fn(model(spec_augment(feats[b], rng)), ys[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
    return model.eval(), time.perf_counter() - t


@torch.no_grad()
def accuracy(model: KeywordRNN, feats: torch.Tensor, ys: torch.Tensor) -> float:
    return float((model(feats).argmax(-1) == ys).float().mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fsdd", default=str(ROOT.parent / "shared" / "data" / "fsdd" / "recordings"))
    ap.add_argument("--synth", default=str(ROOT / "runs" / "synth"), help="synth-speech set (train voices are used)")
    ap.add_argument("--cells", default="rnn,lstm,gru")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--draws", type=int, default=4, help="augmented feature sets shared by all runs")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--pooling", default="attention")
    ap.add_argument("--speakers", default="", help="comma-separated folds (default: all five speakers)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    mfcc = MFCC(FeatureConfig()).eval()
    fsdd = load_fsdd(args.fsdd, progress=True)
    synth = [c for c in load_synth(args.synth, splits=["train"], progress=True)] if args.synth else []
    clips = fsdd + synth
    sets = draws(clips, args.draws, n_silence=400, seed=args.seed, mfcc=mfcc)
    speaker = np.array([c.speaker if c.source == "fsdd" else "" for c in clips] + [""] * 400)
    folds = [s for s in args.speakers.split(",") if s] or sorted({c.speaker for c in fsdd})
    idx = {lab: i for i, lab in enumerate(LABELS)}
    results = {}
    for cell in args.cells.split(","):
        accs, secs, n_params = {}, [], 0
        for spk in folds:
            keep = torch.from_numpy(speaker != spk)
            model, dt = train_fold(cell, sets, keep, args.epochs, args.hidden, args.layers, args.pooling, args.seed)
            n_params = model.n_params()
            test = [c for c in fsdd if c.speaker == spk]
            feats = featurize(mfcc, np.stack([fit_window(c.wave) for c in test]))
            accs[spk] = round(accuracy(model, feats, torch.tensor([idx[c.label] for c in test])), 4)
            secs.append(dt)
            print(json.dumps({"cell": cell, "heldout": spk, "accuracy": accs[spk], "train_s": round(dt, 1)}),
                  file=sys.stderr)
        worst = min(accs, key=accs.get)
        results[cell] = {"params": n_params, "loso_mean": round(float(np.mean(list(accs.values()))), 4),
                         "loso_worst": accs[worst], "worst_speaker": worst, "per_speaker": accs,
                         "train_s_per_fold": round(float(np.mean(secs)), 1), "train_s_total": round(sum(secs), 1)}
    meta = {"epochs": args.epochs, "hidden": args.hidden, "layers": args.layers, "pooling": args.pooling,
            "threads": args.threads, "train_clips_per_fold": int((speaker != folds[0]).sum()),
            "load_average_end": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps({"results": results, "settings": meta}))
    else:
        print(f"| cell | params | LOSO mean | LOSO worst (speaker) | train s / fold |")
        print("|---|---:|---:|---:|---:|")
        for cell, r in results.items():
            print(f"| {cell} | {r['params']:,} | {100 * r['loso_mean']:.1f}% | {100 * r['loso_worst']:.1f}% "
                  f"({r['worst_speaker']}) | {r['train_s_per_fold']:.0f} |")
        print(f"settings: {meta}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
