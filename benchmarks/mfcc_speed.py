"""MFCC throughput: our batched torch front-end vs librosa.feature.mfcc per clip, same settings, same run.

    .venv/bin/python benchmarks/mfcc_speed.py [--clips 500] [--seconds 1.0] [--batch 100] [--threads 1]
        [--device cpu|cuda] [--json]

Both compute 20 MFCCs from 40 Slaney mel bands (20-3800 Hz) of 25 ms Hann frames
every 10 ms (n_fft 512, not centred) with an 80 dB log floor; the script checks
that they agree on the first clip before timing. Our per-utterance normalisation
is switched off so both do the same work. One CPU thread each by default.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=500, help="number of clips")
    p.add_argument("--seconds", type=float, default=1.0, help="clip length")
    p.add_argument("--batch", type=int, default=100, help="clips per batch for our front-end")
    p.add_argument("--threads", type=int, default=1, help="torch threads (librosa's numpy FFT is single-threaded)")
    p.add_argument("--repeats", type=int, default=3, help="time each side this many times, keep the best")
    p.add_argument("--device", default="cpu", help="torch device for our front-end (cpu, cuda)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)

    import librosa
    import torch
    from tqdm import tqdm

    from audio_rnn.audio.features import MFCC, FeatureConfig

    torch.set_num_threads(args.threads)
    cfg = FeatureConfig(normalize=False)
    sr = cfg.sample_rate
    rng = np.random.default_rng(args.seed)
    n = int(args.seconds * sr)
    clips = (0.1 * rng.standard_normal((args.clips, n))).astype(np.float32)
    clips *= np.linspace(0.05, 1.0, n, dtype=np.float32)  # a level ramp so the log floor acts somewhere
    mfcc = MFCC(cfg).to(args.device)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    lib_kw = dict(sr=sr, n_mfcc=cfg.n_mfcc, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length,
                  center=False, n_mels=cfg.n_mels, fmin=cfg.f_min, fmax=cfg.f_max, htk=False, norm="ortho")
    pad = (cfg.n_fft - cfg.win_length) // 2  # librosa centres the window in its n_fft frame; align frame i

    # same settings: compare on the first clip (ours is natural log, librosa dB: factor 10/ln 10)
    with torch.no_grad():
        ours0 = mfcc(torch.from_numpy(clips[0]).to(args.device))[0].cpu().numpy() * 10 / math.log(10)
    ref0 = librosa.feature.mfcc(y=np.pad(clips[0], (pad, 0)), **lib_kw).T  # also warms librosa up
    k = min(len(ours0), len(ref0))
    max_diff = float(np.max(np.abs(ours0[:k] - ref0[:k])))
    if max_diff > 0.05:
        raise SystemExit(f"front-ends disagree (max |diff| {max_diff:.3f} dB): settings differ")

    def run_ours() -> float:
        t0 = time.perf_counter()
        with torch.no_grad():
            for i in range(0, args.clips, args.batch):  # host->device copy and result back are timed too
                mfcc(torch.from_numpy(clips[i : i + args.batch]).to(args.device)).cpu()
        sync()
        return time.perf_counter() - t0

    def run_librosa(bar) -> float:
        t0 = time.perf_counter()
        for x in clips:
            librosa.feature.mfcc(y=x, **lib_kw)
            bar.update(1)
        return time.perf_counter() - t0

    run_ours()  # warm-up
    t_ours = min(run_ours() for _ in range(args.repeats))
    with tqdm(total=args.clips * args.repeats, desc="librosa", file=sys.stderr, disable=args.json) as bar:
        t_lib = min(run_librosa(bar) for _ in range(args.repeats))
    row = {
        "clips": args.clips,
        "seconds_per_clip": args.seconds,
        "batch": args.batch,
        "threads": args.threads,
        "device": args.device,
        "cpu_count": os.cpu_count(),
        "ours_clips_per_s": round(args.clips / t_ours, 1),
        "librosa_clips_per_s": round(args.clips / t_lib, 1),
        "ratio": round(t_lib / t_ours, 2),
        "max_abs_diff_db": round(max_diff, 5),
        "torch": torch.__version__,
        "librosa": librosa.__version__,
    }
    if args.json:
        print(json.dumps(row))
    else:
        print(f"{args.clips} clips of {args.seconds:g} s, {args.threads} thread(s), best of {args.repeats}:")
        print(f"  ours (batched torch on {args.device}, batch {args.batch}): {row['ours_clips_per_s']:10.1f} clips/s")
        print(f"  librosa.feature.mfcc (per clip):   {row['librosa_clips_per_s']:10.1f} clips/s")
        print(f"  ratio: {row['ratio']}x faster (features agree to {max_diff:.4f} dB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
