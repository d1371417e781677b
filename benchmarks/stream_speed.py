"""Streaming spotter speed and memory on a long 16 kHz file: end-to-end CLI vs the network alone, with peers.

    .venv/bin/python benchmarks/stream_speed.py [--minutes 30] [--model PATH] [--memory-hours 2] [--json]

The file is a 2-minute test stream (held-out words over noise, `streams`)
tiled to `--minutes`, written block by block to a temporary folder.

* end-to-end: `python -m audio_rnn spot FILE --json` in a fresh process (start-up,
  model load, decoding, features, network, detection), wall clock and peak RSS;
* model only: time inside the network calls of the same run (in-process);
* peers, same run: for the shipped vad mode, the stream-trained spotter (state) and
  the clip model in windows, end to end, and vad mode with the five window placements it
  averaged before (posteriors in-process); else the torch `KeywordRNN` on the same inputs; for a window
  model the numpy network with a 0.1 s stride; for a stream-trained spotter
  the exact one-pass carried state (no side-by-side stretches) and the shipped
  clip recognizer in window mode (model alone and end to end);
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

    from audio_rnn.streams.synth import StreamSpec, build_stream, fsdd_takes, held_out_variants

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


def run_cli(path: Path, model: str | None, *extra: str) -> tuple[float, float, int, float]:
    """(wall seconds, peak RSS MB, detections, CPU seconds) of `spot --json` in a fresh process."""
    # peak RSS as VmHWM: ru_maxrss would carry over the forking parent's peak (Linux keeps it across exec)
    code = ("import re, sys; from audio_rnn.cli import main; rc = main(sys.argv[1:]); "
            "print('RSS', int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) / 1024, "
            "file=sys.stderr); sys.exit(rc)")
    cmd = [sys.executable, "-c", code, "spot", str(path), "--json", *extra] + (["--model", model] if model else [])
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


def model_only(path: Path, model: str | None, **overrides):
    """(total posteriors seconds, seconds inside the network, the Spotter) for the file, in-process.

    `overrides` change the model's own spotting settings (e.g. hop_s, segment_s)."""
    from audio_rnn.spotting.streaming import Spotter

    sp = Spotter(model, **overrides)
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
    """Seconds for the torch KeywordRNN on the same inputs as the numpy network, over `seconds` of audio:
    the same windows (window mode) or the same side-by-side stretches with warm-up (state mode)."""
    import soundfile as sf
    import torch

    from audio_rnn.training import checkpoint
    from audio_rnn.keywords.models import KeywordRNN, KWSDims
    from audio_rnn.spotting.network import spotter_path

    torch.set_num_threads(1)
    cfg_json = checkpoint.load_config(model_path or spotter_path(None), kind="kws")
    model = KeywordRNN(KWSDims.from_dict(cfg_json["model"])).eval()
    checkpoint.load_state(model, checkpoint.load(model_path or spotter_path(None), kind="kws")[0], "model")
    x, _ = sf.read(str(path), frames=int(seconds * 16000), dtype="float32")
    fe, cfg = sp.front, sp.config
    lm = fe.log_mel(x)
    if cfg.mode == "window":
        ctx = fe.n_frames(int(cfg.context_s * fe.sr))
        hop = int(round(cfg.hop_s * fe.sr / fe.hop))
        ends = list(range(ctx, len(lm) + 1, hop))
        batches = [fe.finish(np.stack([lm[e - ctx:e] for e in ends[i:i + 200]])) for i in range(0, len(ends), 200)]
    else:
        from audio_rnn.spotting.frontend import CausalFeatures, stack_frames

        steps = stack_frames(CausalFeatures(fe, int(round(cfg.norm_s * fe.sr / fe.hop)))(lm), sp.stack)
        step_s = sp.stack * fe.hop / fe.sr
        seg, warm = int(round(cfg.segment_s / step_s)), int(round(cfg.warm_s / step_s))
        starts = list(range(warm, len(steps) - seg + 1, seg))
        batches = [np.stack([steps[a - warm:a + seg] for a in starts])]
    batches = [torch.from_numpy(b) for b in batches]
    t = time.perf_counter()
    with torch.no_grad():
        for b in batches:
            model.frame_logits(b)
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
        c = sp.config
        res.update(posteriors_seconds=round(total, 2), posteriors_x_realtime=round(secs / total, 1),
                   model_seconds=round(net, 2), model_x_realtime=round(secs / net, 1),
                   model_x_realtime_per_cpu_second=round(secs / sp.model_cpu_seconds, 1),
                   mode=sp.describe())
        if not args.no_peers and c.mode == "vad":  # the other ways to listen, end to end on the same file
            for mode in ("state", "window"):
                w, r, _, _ = run_cli(path, args.model, "--mode", mode)
                res.update({f"{mode}_e2e_x_realtime": round(secs / w, 1), f"{mode}_e2e_peak_rss_mb": round(r, 1)})
            five, five_net, _ = model_only(path, args.model, shifts_s=(-0.25, -0.1, 0.0, 0.1, 0.25))
            res.update(vad_5_placements_posteriors_x_realtime=round(secs / five, 1),  # the vad mode shipped before
                       vad_5_placements_model_x_realtime=round(secs / five_net, 1),
                       speedup_over_5_placements=round(five / total, 2))
        elif not args.no_peers:
            peer = torch_peer(sp, args.model, path)
            res.update(torch_same_inputs_x_realtime=round(120.0 / peer, 1))
            if c.mode == "window":
                _, fine_net, _ = model_only(path, args.model, hop_s=0.1)
                res.update(window_hop_0_1_model_x_realtime=round(secs / fine_net, 1))
            else:
                _, exact_net, _ = model_only(path, args.model, segment_s=0.0)
                res.update(state_exact_pass_model_x_realtime=round(secs / exact_net, 1))
                from audio_rnn.training import checkpoint

                clip_model = str(checkpoint.pretrained_path("digits"))
                _, win_net, _ = model_only(path, clip_model)
                res.update(clip_model_windows_model_x_realtime=round(secs / win_net, 1))
                wall2, _, _, _ = run_cli(path, clip_model)
                res.update(clip_model_windows_e2e_x_realtime=round(secs / wall2, 1))
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
