"""Streaming spotter speed and memory on a long 16 kHz file: end-to-end CLI vs the network alone, with peers.

    .venv/bin/python benchmarks/stream_speed.py [--minutes 30] [--model PATH] [--memory-hours 2] [--json]

The file is a 2-minute test stream (held-out words over noise, `stream_eval`)
tiled to `--minutes`, written block by block to a temporary folder.

* end-to-end: `python -m audio_rnn spot FILE --json` in a fresh process (start-up,
  model load, decoding, features, network, detection), wall clock and peak RSS;
* model only: time inside the network calls of the same run (in-process);
* peers, same features, same run: the torch `KeywordRNN` on the same windows,
  the numpy network with a 0.1 s stride, and in carried-state mode (one pass,
  no restarts) when the model pools by last state;
* `--memory-hours H`: peak RSS of `spot` on an H-hour file (target < 500 MB at 2 h).

This machine is shared, so besides wall-clock ratios the script prints ratios
per CPU-second used (what the same work gives on an otherwise idle core).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_long(path: Path, minutes: float, seed: int = 0) -> float:
    """Tile one 2-minute test stream to `minutes`, block by block; returns the duration in seconds."""
    import soundfile as sf

    from audio_rnn.stream_eval import StreamSpec, build_stream, fsdd_takes, held_out_variants

    fsdd = os.environ.get("AUDIO_RNN_FSDD") or str(ROOT.parent / "shared" / "data" / "fsdd")
    spec = StreamSpec(split="val", minutes=2.0, seed=seed)
    wave, _ = build_stream(spec, 1, fsdd_takes(fsdd, ["george"], "val"), held_out_variants("val"),
                           np.random.default_rng(seed))
    total = int(minutes * 60 * 16000)
    with sf.SoundFile(str(path), "w", 16000, 1, subtype="PCM_16") as f:
        done = 0
        while done < total:
            part = wave[: total - done]
            f.write(part)
            done += len(part)
    return total / 16000


def run_cli(path: Path, model: str | None) -> tuple[float, float, int, float]:
    """(wall seconds, peak RSS MB, detections, CPU seconds) of `spot --json` in a fresh process."""
    # peak RSS as VmHWM: ru_maxrss would carry over the forking parent's peak (Linux keeps it across exec)
    code = ("import re, sys; from audio_rnn.cli import main; rc = main(sys.argv[1:]); "
            "print('RSS', int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) / 1024, "
            "file=sys.stderr); sys.exit(rc)")
    cmd = [sys.executable, "-c", code, "spot", str(path), "--json"] + (["--model", model] if model else [])
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        raise SystemExit(f"spot failed: {out.stderr.strip()}")
    rss = float([ln for ln in out.stderr.splitlines() if ln.startswith("RSS")][-1].split()[1])
    return wall, rss, len(out.stdout.splitlines()), cpu


def model_only(path: Path, model: str | None, mode: str = "window", hop_s: float | None = None):
    """(total posteriors seconds, seconds inside the network, the Spotter) for the file, in-process."""
    from audio_rnn.streaming import Spotter, StreamConfig

    cfg = StreamConfig(mode=mode)
    sp = Spotter(model, cfg if hop_s is None else replace(cfg, hop_s=hop_s))
    inner = sp.model.frame_logits
    spent = [0.0, 0.0]

    def timed(*a, **k):
        t0, c0 = time.perf_counter(), time.process_time()
        r = inner(*a, **k)
        spent[0] += time.perf_counter() - t0
        spent[1] += time.process_time() - c0
        return r

    sp.model.frame_logits = timed  # type: ignore[method-assign]
    t = time.perf_counter()
    for _ in sp.iter_posteriors(str(path)):
        pass
    sp.model_cpu_seconds = spent[1]
    return time.perf_counter() - t, spent[0], sp


def torch_peer(sp, model_path: str | None, path: Path, seconds: float = 120.0) -> float:
    """Seconds for the torch KeywordRNN on the same windows as the numpy network, over `seconds` of audio."""
    import soundfile as sf
    import torch

    from audio_rnn.recognize import load_model

    torch.set_num_threads(1)
    model, _ = load_model(model_path)
    x, _ = sf.read(str(path), frames=int(seconds * 16000), dtype="float32")
    fe, cfg = sp.front, sp.config
    lm = fe.log_mel(x)
    ctx = fe.n_frames(int(cfg.context_s * fe.sr))
    hop = int(round(cfg.hop_s * fe.sr / fe.hop))
    ends = list(range(ctx, len(lm) + 1, hop))
    feats = torch.from_numpy(fe.finish(np.stack([lm[e - ctx:e] for e in ends])))
    t = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(feats), 200):
            model.frame_logits(feats[i:i + 200])
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--model", default=None, help="keyword checkpoint (default: the shipped model)")
    p.add_argument("--memory-hours", type=float, default=0.0, help="also measure peak RSS on a file this long")
    p.add_argument("--no-peers", action="store_true", help="skip the torch and carried-state peers")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    res: dict[str, float | int | str] = {"load_avg_1min": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        path = Path(tmp) / "long.wav"
        secs = write_long(path, args.minutes)
        res["audio_minutes"] = round(secs / 60, 2)
        wall, rss, n, cpu = run_cli(path, args.model)
        res.update(e2e_seconds=round(wall, 2), e2e_x_realtime=round(secs / wall, 1), e2e_peak_rss_mb=round(rss, 1),
                   detections=n, e2e_cpu_seconds=round(cpu, 2), e2e_x_realtime_per_cpu_second=round(secs / cpu, 1))
        total, net, sp = model_only(path, args.model)
        res.update(posteriors_seconds=round(total, 2), posteriors_x_realtime=round(secs / total, 1),
                   model_seconds=round(net, 2), model_x_realtime=round(secs / net, 1),
                   model_x_realtime_per_cpu_second=round(secs / sp.model_cpu_seconds, 1),
                   mode=f"{sp.config.mode} context {sp.config.context_s} s hop {sp.config.hop_s} s")
        if not args.no_peers:
            peer = torch_peer(sp, args.model, path)
            res.update(torch_same_windows_x_realtime=round(120.0 / peer, 1))
            _, fine_net, _ = model_only(path, args.model, hop_s=0.1)
            res.update(window_hop_0_1_model_x_realtime=round(secs / fine_net, 1))
            if sp.model.pooling == "last":  # carried state runs only for last-state pooling
                _, st_net, _ = model_only(path, args.model, mode="state")
                res.update(state_mode_model_x_realtime=round(secs / st_net, 1))
        if args.memory_hours:
            big = Path(tmp) / "memory.wav"
            bsecs = write_long(big, args.memory_hours * 60)
            path.unlink()
            bwall, brss, _, _ = run_cli(big, args.model)
            res.update(memory_hours=args.memory_hours, memory_peak_rss_mb=round(brss, 1),
                       memory_x_realtime=round(bsecs / bwall, 1))
    if args.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:>32}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
