"""Sampling speed of the character model: one stream, and a batch, in characters per second.

    .venv/bin/python benchmarks/gen_speed.py [--model DIR] [--chars 3000] [--batch 16] [--threads 1] [--json]
Sampling runs without stopping at the end of a tune, so every stream writes exactly --chars characters.
The target is >= 2,000 characters/s for a single stream on this CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--chars", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs (the machine is shared)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from audio_rnn.music.generate import Generator

    gen = Generator(args.model)
    gen.sample(1, length=50, seed=0, stop_at_end=False)  # warm-up
    out = {"threads": args.threads, "params": gen.model.param_count(), "cell": gen.model.dims.cell,
           "hidden": gen.model.dims.hidden}
    for label, n, guard in (("single_stream", 1, False), ("single_stream_meter_guard", 1, True),
                            (f"batch_{args.batch}", args.batch, False)):
        rates = []
        for r in range(args.repeats):
            t0 = time.perf_counter()
            gen.sample(n, length=args.chars, seed=r, stop_at_end=False, meter_guard=guard)
            rates.append(n * args.chars / (time.perf_counter() - t0))
        out[f"{label}_chars_per_s"] = round(max(rates))
        out[f"{label}_chars_per_s_median"] = round(sorted(rates)[len(rates) // 2])
    out["load_average_1min"] = round(os.getloadavg()[0], 2)
    out["single_stream_meets_2000"] = out["single_stream_chars_per_s"] >= 2000
    print(json.dumps(out) if args.json else "\n".join(f"{k:<36} {v}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
