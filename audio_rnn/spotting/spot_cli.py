"""`spot`: keywords in a recording of any length (or live on standard input), one line per detection.

The command around `streaming.Spotter` (files) and `spot_stdin` (live input): `--model` and `--mode` name the
network and how it listens, the other flags override its tuned detection settings.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import Any

from audio_rnn.errors import AudioError
from audio_rnn.spotting.detection import default_config, mode_defaults, with_sensitivity
from audio_rnn.spotting.network import spotter_path
from audio_rnn.spotting.streaming import Spotter


PLACEMENTS = {1: (0.0,), 3: (-0.1, 0.0, 0.1), 5: (-0.25, -0.1, 0.0, 0.1, 0.25)}  # vad mode: window shifts, s


def configure_spot(p) -> None:
    p.add_argument("file", metavar="FILE", help="recording of any length (wav, flac, ogg, mp3, m4a, webm, ...); "
                                                "- reads live audio from standard input (see --raw)")
    p.add_argument("--model", help="digits (default), commands, or a keyword checkpoint folder/file; a shipped "
                                   "name is its clip model in vad mode (with --mode state: its stream-trained "
                                   "spotter)")
    p.add_argument("--json", action="store_true", help="one detection per line: label, start, end, score")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads for a file (default 1: a dense 30-min file runs ~5%% faster on 2 threads for "
                        "~75%% more CPU; `spot -` always uses 1)")
    p.add_argument("--mode", choices=("vad", "window", "state"), default=None,
                   help="vad: a voice-activity detector finds speech and the clip model classifies each segment; "
                        "window: restart a clip model on the last second every --hop; state: the stream-trained "
                        "spotter with carried state (default: the model's tuned mode)")
    p.add_argument("--keyword-threshold", action="append", default=None, metavar="WORD=T",
                   help="a threshold for one keyword (repeatable), over the model's tuned per-keyword thresholds")
    p.add_argument("--sensitivity", type=float, default=None,
                   help="0-1: higher finds more keywords and costs more false alarms (sets every threshold to "
                        "1 - S, per-keyword ones moved alike; default: the model's tuned thresholds)")
    p.add_argument("--placements", type=int, choices=sorted(PLACEMENTS), default=None,
                   help="vad mode: windows averaged per speech segment (default 1; 5 takes ~3.5x the time for "
                        "steadier scores: at matched false alarms 1-3 points more keywords on held-out speakers; "
                        "pair it with --sensitivity)")
    p.add_argument("--hop", type=float, default=None, help="window mode stride in seconds (default 0.25)")
    p.add_argument("--threshold", type=float, default=None, help="default: the model's tuned value")
    p.add_argument("--smooth", type=float, default=None, help="averaging window, s (default: the model's)")
    p.add_argument("--suppress", type=float, default=None, help="s between detections (default: the model's)")
    p.add_argument("--min-duration", type=float, default=None, help="s above threshold (default: the model's)")
    p.add_argument("--segment", type=float, default=None,
                   help="state mode: seconds per stretch run side by side; 0 = one exact pass (default 4)")
    from audio_rnn.spotting.spot_stdin import configure_live

    configure_live(p)


def config_overrides(args) -> dict[str, Any]:
    """StreamConfig fields set on the command line (the rest come from the model's tuned defaults)."""
    names = {"mode": "mode", "hop": "hop_s", "threshold": "threshold", "smooth": "smooth_s", "suppress": "suppress_s",
             "min_duration": "min_s", "segment": "segment_s"}
    over = {f: getattr(args, a) for a, f in names.items() if getattr(args, a, None) is not None}
    if getattr(args, "placements", None) is not None:
        over["shifts_s"] = PLACEMENTS[args.placements]
    if getattr(args, "keyword_threshold", None):
        pairs = {}
        for item in args.keyword_threshold:
            word, sep, value = item.partition("=")
            try:
                pairs[word.strip()] = float(value)
            except ValueError:
                raise AudioError(f"--keyword-threshold takes WORD=T (a number in [0, 1]), got {item!r}") from None
            if not sep or not word.strip():
                raise AudioError(f"--keyword-threshold takes WORD=T, got {item!r}")
        over["keyword_thresholds"] = pairs
    return over


def make_spotter(args) -> Spotter:
    """A Spotter for `--model` with the command line's settings over the model's defaults (bad ones: one line)."""
    over = config_overrides(args)
    mode = over.get("mode")
    model, base = str(spotter_path(args.model, mode)), None
    if mode in ("window", "vad"):  # a clip model: its tuned settings if tuned in this mode, else the built-in ones
        from audio_rnn.training import checkpoint

        tuned = default_config(checkpoint.load_config(checkpoint.resolve(model), kind="kws"))
        base = tuned if tuned.mode == mode else mode_defaults(mode)
    try:
        pairs = over.pop("keyword_thresholds", None)
        spotter = Spotter(model, base, **over)
        if pairs:
            unknown = sorted(set(pairs) - set(spotter.labels))
            if unknown:
                raise AudioError(f"--keyword-threshold: {', '.join(unknown)} is not a keyword of this model "
                                 f"({', '.join(spotter.keywords)})")
            spotter.config = replace(spotter.config, keyword_thresholds={**spotter.config.keyword_thresholds, **pairs})
        if getattr(args, "sensitivity", None) is not None:
            spotter.config = with_sensitivity(spotter.config, args.sensitivity)
        return spotter
    except ValueError as exc:
        raise AudioError(f"bad setting: {exc}") from None


def run_spot(args) -> int:
    from audio_rnn.audio.decode import probe
    from audio_rnn.spotting.spot_stdin import check_live_args, run_live

    if check_live_args(args):
        return run_live(args, make_spotter(args))

    probe(args.file)  # a missing or non-audio file fails fast, before the model loads
    spotter = make_spotter(args)
    spotter.threads = max(1, args.threads)
    try:
        dets = spotter.detect(args.file)
    except AudioError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:  # decoder failures on odd input: still one line
        raise AudioError(f"{args.file}: cannot decode ({type(exc).__name__}: {exc})") from None
    if args.json:
        for d in dets:
            print(json.dumps(d.to_dict()))
    else:
        if not dets:
            print("no keywords found")
        for d in dets:
            print(f"{d.start:9.2f} - {d.end:9.2f} s  {d.label:<8} {d.score:.3f}")
    sys.stdout.flush()
    return 0
