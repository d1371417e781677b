"""RNN vs LSTM vs GRU on the ABC corpus: parameters, validation bits/char and training time, one run each.

Every cell trains with the same settings (2 layers, same width, same steps,
batch, BPTT length, learning-rate schedule and seed), one after the other in
this process, so the three rows are comparable.

    .venv/bin/python benchmarks/gen_cells.py [--steps 300] [--hidden 256] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", default="rnn,lstm,gru")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--bptt", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="keep the checkpoints here (default: a temp folder)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from audio_rnn.music.train import TrainGenConfig, train

    rows = []
    with tempfile.TemporaryDirectory(prefix="gen_cells_") as tmp:
        base = Path(args.out or tmp)
        for cell in args.cells.split(","):
            cfg = TrainGenConfig(cell=cell, hidden=args.hidden, batch=args.batch, bptt=args.bptt, steps=args.steps,
                                 lr=args.lr, dropout=0.1, eval_every=10**9, threads=args.threads, seed=args.seed)
            r = train(cfg, base / cell, progress=not args.json, log=lambda *a: print(*a, file=sys.stderr))
            rows.append({"cell": cell, "params": r["params"], "val_bpc": r["best_val_bpc"],
                         "train_seconds": r["train_seconds"], "steps": r["steps"],
                         "chars_per_second": r["chars_per_second"]})
    if args.json:
        print(json.dumps({"settings": vars(args), "rows": rows}))
        return 0
    print(f"{args.steps} steps x {args.batch} streams x {args.bptt} chars, 2 layers x {args.hidden}, "
          f"{args.threads} thread(s)\n")
    print("| cell | parameters | validation bits/char | training time (s) |")
    print("|------|-----------:|---------------------:|------------------:|")
    for r in rows:
        print(f"| {r['cell']} | {r['params']:,} | {r['val_bpc']:.3f} | {r['train_seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
