"""Which spotter hears best: every candidate on the same streams, as a DET curve (found-and-right vs false alarms/hour).

    .venv/bin/python benchmarks/det_curves.py --vocab commands STREAMS_DIR [STREAMS_DIR ...] \
        [--clip PATH] [--spotter PATH] [--plot docs/det_commands.png] [--json]

Candidates, each with its own detection settings and the threshold swept:
  * state: the stream-trained spotter with carried state (its tuned smoothing);
  * window: the clip model restarted on the last second every 0.25 s, posteriors averaged over 0.5 s;
  * vad: the clip model once on each speech segment webrtcvad finds (shipped);
  * vad5: the same with 5 window placements averaged (shipped before: 3x the network's work);
  * silero: the same, with segments from silero-vad (torch; a benchmark candidate only).
Posteriors are computed once per stream; detections for every threshold come from them
(`scoring.tune`). Run it on validation streams (`make-streams --split val`) to choose,
and on test streams only to report.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

THRESHOLDS = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9,
              0.95]


class SileroGated:
    """The vad-mode runner fed with silero-vad's speech frames instead of webrtcvad's (offline, whole file)."""

    def __init__(self, spotter):
        from silero_vad import get_speech_timestamps, load_silero_vad

        self.sp, self.model, self.stamps = spotter, load_silero_vad(), get_speech_timestamps
        self.labels, self.config = spotter.labels, spotter.config

    def posteriors(self, path: str):
        import soundfile as sf
        import torch

        x, sr = sf.read(path, dtype="float32")
        fe = self.sp.front
        n = fe.n_frames(len(x))
        flags = np.zeros(n, bool)
        for s in self.stamps(torch.from_numpy(x), self.model, sampling_rate=sr):
            flags[max(0, (s["start"] - fe.win // 2) // fe.hop):(s["end"] - fe.win // 2) // fe.hop + 1] = True
        from audio_rnn.spotting.runner import RawFrames

        run = self.sp.runner()
        p = np.concatenate([run.push(RawFrames(x[: (n - 1) * fe.hop + fe.win], n), flags), run.flush()])
        return run.times(0, len(p)), p, self.labels

    def lag(self, config=None):
        return self.sp.lag(config)

    def decider(self, hold_s=None, config=None):
        return self.sp.decider(hold_s, config)


def candidates(vocab: str, clip: str | None, spotter: str | None, names: list[str]):
    from audio_rnn.spotting.detection import VAD_DEFAULTS, WINDOW_DEFAULTS
    from audio_rnn.spotting.network import spotter_path
    from audio_rnn.spotting.streaming import Spotter

    clip = clip or str(spotter_path(vocab, mode="vad"))
    vad_cfg = replace(VAD_DEFAULTS, threshold=0.5)
    make = {
        "state": lambda: Spotter(spotter or str(spotter_path(vocab, mode="state"))),
        "window": lambda: Spotter(clip, WINDOW_DEFAULTS),
        "vad": lambda: Spotter(clip, vad_cfg),
        "vad5": lambda: Spotter(clip, replace(vad_cfg, shifts_s=(-0.25, -0.1, 0.0, 0.1, 0.25))),
        "silero": lambda: SileroGated(Spotter(clip, vad_cfg)),
    }
    return [(n, make[n]) for n in names]


def curve(spotter, folders: list[str]) -> tuple[list[dict], float, float]:
    """(one row per threshold, seconds of audio, seconds spent computing posteriors)."""
    from audio_rnn.streams.scoring import load_streams, tune

    cache, audio, t0 = [], 0.0, time.perf_counter()
    for folder in folders:
        for wav, truth in load_streams(folder):
            cache.append((spotter.posteriors(str(wav))[:2], truth))
            audio += truth["duration"]
    spent = time.perf_counter() - t0
    rows = tune(cache, spotter, {"threshold": THRESHOLDS}, max_fa_per_word=1.0)
    return sorted(rows, key=lambda r: r["threshold"]), audio, spent


def best_at(rows: list[dict], max_fa_per_word: float) -> dict | None:
    ok = [r for r in rows if r["fa_per_word"] <= max_fa_per_word]
    return max(ok, key=lambda r: (r["found_right_pct"], -r["fa_per_word"])) if ok else None


def plot(results: dict, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for name, r in results.items():
        rows = r["rows"]
        ax.plot([max(x["fa_per_hour"], 0.5) for x in rows], [x["found_right_pct"] for x in rows], marker=".",
                label=f"{name}: {r['label']}")
    ax.set_xscale("log")
    ax.set_xlabel("false alarms per hour (log)")
    ax.set_ylabel("keywords found and right (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("streams", nargs="+", help="folders from make-streams")
    p.add_argument("--vocab", choices=("digits", "commands"), default="digits")
    p.add_argument("--clip", help="clip model to use (default: the shipped one of --vocab)")
    p.add_argument("--spotter", help="stream-trained spotter (default: the shipped one of --vocab)")
    p.add_argument("--candidates", default="state,window,vad,vad5,silero")
    p.add_argument("--max-fa-per-word", type=float, default=0.05)
    p.add_argument("--plot", help="write the DET curves as a PNG here")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from audio_rnn.training.threads import limit_blas_threads

    labels = {"state": "stream-trained spotter, carried state", "window": "clip model in 1 s windows",
              "vad": "clip model once per webrtcvad segment", "vad5": "the same, 5 placements averaged",
              "silero": "clip model on silero-vad segments"}
    results = {}
    with limit_blas_threads(1):
        for name, make in candidates(args.vocab, args.clip, args.spotter, args.candidates.split(",")):
            rows, audio, spent = curve(make(), args.streams)
            best = best_at(rows, args.max_fa_per_word)
            results[name] = {"label": labels[name], "rows": rows, "best": best, "x_real_time": round(audio / spent)}
            if not args.json:
                b = best or {}
                print(f"{name:7s} best with <= {args.max_fa_per_word} FA/word: threshold {b.get('threshold')}, "
                      f"found-and-right {b.get('found_right_pct')}%, {b.get('fa_per_word')} FA/word "
                      f"({b.get('fa_per_hour')}/h); posteriors {audio / spent:.0f}x real time", flush=True)
    if args.plot:
        n = sum(len(json.loads((Path(f) / "manifest.json").read_text())["streams"]) for f in args.streams)
        plot(results, args.plot, f"{args.vocab}: {n} streams from {', '.join(Path(f).name for f in args.streams)}")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
