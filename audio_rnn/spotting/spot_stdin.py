"""`spot -`: live audio from standard input, each detection printed (and flushed) as soon as it is decided.

`arecord -f S16_LE -r 16000 -c 1 -t raw | audio-rnn spot - --raw --rate 16000 --json`
runs the spotter with carried state on the microphone; a WAV stream
(`arecord -t wav`, `ffmpeg ... -f wav -`) needs no flags.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from audio_rnn.errors import AudioError

if TYPE_CHECKING:
    from audio_rnn.spotting.streaming import Spotter


def configure_live(p) -> None:
    """The `spot` options that apply to live input (`spot -`)."""
    p.add_argument("--raw", action="store_true", help="with -: headerless 16-bit little-endian PCM (needs --rate)")
    p.add_argument("--rate", type=int, default=None, help="with --raw: sample rate in Hz (resampled to the model's)")
    p.add_argument("--channels", type=int, default=1, help="with --raw: interleaved channels, averaged (default 1)")
    p.add_argument("--final", action="store_true",
                   help="with -: print exactly the detections of the whole file (the file spotter's window "
                        "placements: ~0.6 s after a word ends instead of ~0.35 s)")


def check_live_args(args) -> bool:
    """True when the input is standard input; live-only options on a file are one error line."""
    live = args.file == "-"
    if not live and (args.raw or args.rate is not None or args.final):
        raise AudioError("--raw, --rate and --final apply to live input: spot - (audio piped into it)")
    if args.rate is not None and not args.raw:
        raise AudioError("--rate goes with --raw (a WAV stream's header gives its rate)")
    return live


def _line(d, as_json: bool) -> str:
    return json.dumps(d.to_dict()) if as_json else f"{d.start:9.2f} - {d.end:9.2f} s  {d.label:<8} {d.score:.3f}"


def run_live(args, spotter: "Spotter") -> int:
    from audio_rnn.audio.pcm_stream import open_stdin
    from audio_rnn.spotting.live import HOLD_S, LiveSpotter

    stream = open_stdin(raw=args.raw, rate=args.rate, channels=args.channels)
    live = LiveSpotter(spotter, rate=stream.rate, hold_s=None if args.final else HOLD_S)
    found = 0

    def emit(dets) -> None:
        nonlocal found
        for d in dets:
            print(_line(d, args.json), flush=True)
            found += 1

    for block in stream.blocks():
        emit(live.feed(block))
    emit(live.close())
    if not found and not args.json:
        print("no keywords found", flush=True)
    return 0
