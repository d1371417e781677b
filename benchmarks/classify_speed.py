"""Marginal time to classify one more 1 s clip within one batched `classify` call (target <= 15 ms).

Times `python -m audio_rnn classify` on 1 file and on 1 + N files (16 kHz, 1 s,
real FSDD speech placed in noise), so start-up cancels out:
marginal = (t(1 + N) - t(1)) / N. The peer, measured in the same run, is one CLI
call per clip (what a script looping over files would pay), and the in-process
`Recognizer.classify_files` batch time per clip.

    .venv/bin/python benchmarks/classify_speed.py [--n 200] [--repeats 3] [--model PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_clips(folder: Path, n: int, fsdd: Path, seed: int = 0) -> list[str]:
    from audio_rnn.audio.augment import AugmentConfig, augment_speech
    from audio_rnn.keywords.data import load_fsdd

    rng = np.random.default_rng(seed)
    clips = load_fsdd(fsdd, speakers=["george"])
    cfg = AugmentConfig(p_speed=0, p_reverb=0, p_noise=1.0)
    paths = []
    for i in range(n):
        x = augment_speech(clips[i % len(clips)].wave, 16000, 16000, rng, cfg)
        p = folder / f"clip_{i:04d}.wav"
        sf.write(p, x, 16000, subtype="PCM_16")
        paths.append(str(p))
    return paths


def cli_seconds(files: list[str], model: str | None) -> float:
    cmd = [sys.executable, "-m", "audio_rnn", "classify", *files, "--json"] + (["--model", model] if model else [])
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"classify failed: {r.stderr.strip()[:300]}")
    assert len(r.stdout.splitlines()) == len(files)
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="extra clips in the batched call")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default=None)
    ap.add_argument("--fsdd", default=str(ROOT.parent / "shared" / "data" / "fsdd" / "recordings"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = make_clips(Path(tmp), args.n + 1, Path(args.fsdd))
        one, many, single_calls = [], [], []
        for _ in range(args.repeats):
            one.append(cli_seconds(files[:1], args.model))
            many.append(cli_seconds(files, args.model))
        for f in files[1:4]:
            single_calls.append(cli_seconds([f], args.model))
        import torch

        from audio_rnn.keywords.recognize import Recognizer

        torch.set_num_threads(int(os.environ.get("AUDIO_RNN_THREADS", "1")))  # as the classify command does
        rec = Recognizer(args.model)
        rec.classify_files(files[:8])  # warm-up
        t = time.perf_counter()
        rec.classify_files(files[1:])
        in_process = (time.perf_counter() - t) / args.n
    t1, tn = float(np.median(one)), float(np.median(many))
    marginal = (tn - t1) / args.n
    per_call = float(np.median(single_calls))
    res = {"n_extra_clips": args.n, "cli_1_file_s": round(t1, 3), f"cli_{args.n + 1}_files_s": round(tn, 3),
           "marginal_ms_per_clip": round(1000 * marginal, 2), "target_ms": 15.0,
           "pass": marginal * 1000 <= 15.0, "peer_one_cli_call_per_clip_ms": round(1000 * per_call, 1),
           "speedup_vs_one_call_per_clip": round(per_call / marginal, 1) if marginal > 0 else None,
           "in_process_classify_files_ms_per_clip": round(1000 * in_process, 2),
           "load_average": os.getloadavg()[0], "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:<40} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
