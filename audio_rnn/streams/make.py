"""`make-streams`: long test streams with known word times, from FSDD + espeak-ng or from Speech Commands speakers.

The builders live in `streams` (FSDD takes of held-out speakers and held-out
espeak-ng voices over drawn noise) and `real_streams` (the Speech Commands
share's held-out speakers over its recorded backgrounds); this module is the command.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from audio_rnn.errors import DataError
from audio_rnn.streams.synth import StreamSpec, make_streams


def _default_speakers(model: str | None) -> list[str]:
    """The FSDD speakers a keyword checkpoint held out of training (from its config), else george."""
    from audio_rnn.training import checkpoint

    try:
        cfg = checkpoint.load_config(model or checkpoint.pretrained_path("digits"), kind="kws")
    except Exception:
        return ["george"]
    found = (cfg.get("training") or {}).get("holdout_speakers") if isinstance(cfg.get("training"), dict) else None
    return list(found) if found else ["george"]


def _pair(text: str) -> tuple[float, float]:
    """'lo,hi' (or one number) as a range."""
    a, _, b = text.partition(",")
    return (float(a), float(b or a))


def configure_make_streams(p) -> None:
    """The flags of `make-streams`."""
    d = StreamSpec()
    p.add_argument("--out", required=True, help="folder for stream_NNN.wav/.json and manifest.json")
    p.add_argument("--split", choices=("val", "test"), default=d.split,
                   help="val: FSDD takes 0-24 + espeak val voices, or one half of the Speech Commands held-out "
                        "speakers (tuning); test: takes 25-49 + test voices, or the other half (reporting)")
    p.add_argument("--speech-commands", nargs="?", const="", default=None, metavar="DIR", action="append",
                   help="build the streams from the Speech Commands share's held-out speakers and recorded "
                        "backgrounds (default folder ../shared/data/speech_commands) instead of FSDD + espeak-ng; "
                        "repeat it to pool the held-out speakers of several folders (e.g. speech_commands_v0.01)")
    p.add_argument("--vocab", choices=("digits", "commands"), default="digits",
                   help="the keywords (every other word is _unknown_); commands needs --speech-commands")
    p.add_argument("--streams", type=int, default=d.streams)
    p.add_argument("--minutes", type=float, default=d.minutes, help="length of each stream")
    p.add_argument("--fsdd", default=None, help="FSDD recordings folder (default ../shared/data/fsdd)")
    p.add_argument("--speakers", default=None,
                   help="comma-separated held-out FSDD speakers (default: those the model held out, else george)")
    p.add_argument("--model", help="keyword checkpoint whose held-out speakers to use")
    p.add_argument("--keyword-fraction", type=float, default=d.keyword_fraction)
    p.add_argument("--snr", default="10,30", help="background SNR range in dB, 'lo,hi' (default 10,30)")
    p.add_argument("--gap", default=",".join(f"{v:g}" for v in d.gap_s),
                   help="pause between words in seconds, 'lo,hi' (default %(default)s)")
    p.add_argument("--gain", default=",".join(f"{v:g}" for v in d.gain_db),
                   help="word level in dB below the peak-normalised take, 'lo,hi' (default %(default)s)")
    p.add_argument("--no-speech", action="store_true",
                   help="with --speech-commands: the recorded background alone, at the level words would put it "
                        "(false alarms per hour when nobody speaks)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--quiet", action="store_true")


def run_make_streams(args) -> int:
    """`make-streams`: FSDD + espeak-ng streams, or Speech Commands streams with --speech-commands."""
    root = Path(__file__).resolve().parents[2]
    if args.speech_commands is not None:
        default = os.environ.get("AUDIO_RNN_SPEECH_COMMANDS") or str(root.parent / "shared" / "data" / "speech_commands")
        return run_make_sc_streams(args, [d or default for d in args.speech_commands])
    if args.vocab != "digits":
        raise DataError("FSDD and espeak-ng streams hold digits only; add --speech-commands for --vocab commands")
    fsdd = args.fsdd or os.environ.get("AUDIO_RNN_FSDD") or str(root.parent / "shared" / "data" / "fsdd")
    speakers = [s for s in args.speakers.split(",") if s] if args.speakers else _default_speakers(args.model)
    spec = StreamSpec(split=args.split, streams=args.streams, minutes=args.minutes,
                      keyword_fraction=args.keyword_fraction, snr_db=_pair(args.snr), gap_s=_pair(args.gap),
                      gain_db=_pair(args.gain), seed=args.seed)
    man = make_streams(args.out, spec, fsdd, speakers, progress=not args.quiet)
    m = json.loads(man.read_text())
    n = sum(r["words"] for r in m["streams"])
    print(f"wrote {len(m['streams'])} streams ({sum(r['duration'] for r in m['streams']) / 60:.1f} min, {n} words; "
          f"speakers {speakers}, voices {m['voices']}) to {args.out}")
    return 0


def run_make_sc_streams(args, root: list[str]) -> int:
    """`make-streams --speech-commands`: write the streams and print one summary line."""
    from audio_rnn.streams.real import make_sc_streams

    spec = StreamSpec(split=args.split, streams=args.streams, minutes=args.minutes,
                      keyword_fraction=args.keyword_fraction, snr_db=_pair(args.snr), gap_s=_pair(args.gap),
                      gain_db=_pair(args.gain), seed=args.seed, speech=not args.no_speech)
    m = json.loads(make_sc_streams(args.out, spec, root, args.vocab, progress=not args.quiet).read_text())
    n = sum(r["words"] for r in m["streams"])
    print(f"wrote {len(m['streams'])} {args.vocab} streams ({sum(r['duration'] for r in m['streams']) / 60:.1f} min, "
          f"{n} words) from {len(m['speakers'])} held-out Speech Commands speakers ({m['clips']['keywords']} keyword "
          f"and {m['clips']['other_words']} other recordings, {m['clips']['backgrounds']} backgrounds) to {args.out}")
    return 0
