"""Which way to run the keyword network over a stream: sliding windows with a stride vs carried state.

    .venv/bin/python benchmarks/stream_modes.py STREAMS_DIR [--model PATH] [--json]

For each way of computing posteriors (for a clip model: window mode with several
context/stride pairs and state mode with running normalisation over several
spans; for a stream-trained spotter: one exact pass vs stretches run side by
side with several lengths and warm-ups) the script
computes posteriors on every stream once, grid-searches the detection settings
on them (`scoring.tune`), and prints the best found-and-right rate with at
most 0.05 false alarms per word, with the network's speed on this machine.
Tune on validation streams (`make-streams --split val`), never on test streams.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WAYS = [
    ("window", dict(context_s=1.0, hop_s=0.1)),
    ("window", dict(context_s=1.0, hop_s=0.25)),
    ("window", dict(context_s=1.5, hop_s=0.5)),
    ("window", dict(context_s=2.0, hop_s=1.0)),
    ("window", dict(context_s=4.0, hop_s=3.0)),
    ("state", dict(norm_s=1.0)),
    ("state", dict(norm_s=3.0)),
]
# a stream-trained spotter (train-spot) runs in state mode only: exact one pass vs side-by-side stretches
STREAM_WAYS = [
    ("state", dict(segment_s=0.0)),
    ("state", dict(segment_s=1.0, warm_s=0.5)),
    ("state", dict(segment_s=2.0, warm_s=0.5)),
    ("state", dict(segment_s=2.0, warm_s=1.0)),
    ("state", dict(segment_s=4.0, warm_s=1.0)),
    ("state", dict(segment_s=8.0, warm_s=2.0)),
]
GRID = {"threshold": [0.5, 0.6, 0.7, 0.8, 0.9], "smooth_s": [0.2, 0.35, 0.5, 0.75], "min_s": [0.0, 0.1, 0.2],
        "suppress_s": [0.5, 1.0]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("streams", help="folder from make-streams (validation split)")
    p.add_argument("--model", default=None)
    p.add_argument("--max-fa-per-word", type=float, default=0.05)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from audio_rnn.training import checkpoint
    from audio_rnn.streams.scoring import cache_posteriors, load_streams, tune
    from audio_rnn.spotting.detection import default_config
    from audio_rnn.spotting.network import spotter_path
    from audio_rnn.spotting.streaming import Spotter

    minutes = sum(t["duration"] for _, t in load_streams(args.streams)) / 60
    rows = []
    base = default_config(checkpoint.load_config(checkpoint.resolve(args.model or spotter_path(None)), kind="kws"))
    for mode, kw in (STREAM_WAYS if base.mode == "state" else WAYS):
        cfg = replace(base, mode=mode, **kw)
        try:
            sp = Spotter(args.model, cfg)
        except Exception as exc:  # e.g. state mode on an attention-pooling model
            rows.append({"mode": mode, **kw, "error": str(exc)})
            continue
        t = time.perf_counter()
        cache = cache_posteriors(args.streams, sp, progress=False)
        secs = time.perf_counter() - t
        best = tune(cache, sp, GRID, max_fa_per_word=args.max_fa_per_word)
        rows.append({"mode": mode, **kw, "posteriors_x_realtime": round(minutes * 60 / secs, 1), **best[0]})
        print(json.dumps(rows[-1]) if args.json else "  ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
    print(f"# {minutes:.1f} min of streams, load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
