"""One command line for the whole project: `python -m audio_rnn <command>` (also `audio-rnn`).

Each command lives in the module that owns its concern. That module defines
`configure_<name>(parser)` and `run_<name>(args) -> int` (dashes become
underscores). Modules are imported only when their command runs, so
`--help` is instant and torch is loaded only when needed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Sequence

from audio_rnn.errors import AudioRnnError

# command -> (module that implements it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("audio_rnn.audio.decode", "decode an audio file and print its duration, rate and frame count"),
    "features": ("audio_rnn.audio.features", "compute normalised MFCC features for audio files"),
    "synth-speech": ("audio_rnn.keywords.synth_speech", "write the espeak-ng keyword/unknown speech set with a manifest"),
    "train-kws": ("audio_rnn.keywords.train", "train the keyword recognizer (LSTM/GRU/RNN over MFCC frames)"),
    "train-spot": ("audio_rnn.streams.train_spot", "train a streaming keyword spotter on long synthetic streams (carried state)"),
    "train-own": ("audio_rnn.keywords.finetune", "train your own keywords from a few examples each (as the app's Train page)"),
    "word-bank": ("audio_rnn.keywords.word_bank", "build the shipped real-word bank (cepstra of Speech Commands clips)"),
    "classify": ("audio_rnn.keywords.recognize", "classify audio files with a keyword model"),
    "eval-kws": ("audio_rnn.keywords.evaluate", "evaluate a keyword model on a data folder or FSDD speakers"),
    "spot": ("audio_rnn.spotting.spot_cli", "detect keywords in a recording of any length, or live on standard input (spot -)"),
    "make-streams": ("audio_rnn.streams.make", "build long test streams with known word times"),
    "eval-streams": ("audio_rnn.streams.scoring", "score the spotter on test streams"),
    "prepare-corpus": ("audio_rnn.music.corpus", "split, normalise and split-by-tune an ABC (or text) corpus"),
    "train-gen": ("audio_rnn.music.train", "train the character-level sequence generator"),
    "generate": ("audio_rnn.music.gen_cli", "generate tunes or text with a character model"),
    "score": ("audio_rnn.music.gen_cli", "bits per character of a file under a character model"),
    "render": ("audio_rnn.music.render", "render an ABC tune to MIDI, WAV and an engraved SVG score"),
    "gradcheck": ("audio_rnn.scratch.gradcheck", "check the numpy RNN/LSTM/GRU BPTT against finite differences and torch"),
    "gradflow": ("audio_rnn.scratch.gradflow", "plot gradient norms over time for RNN/LSTM/GRU (vanishing/exploding)"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only `command`'s module is imported to configure its sub-parser."""
    parser = argparse.ArgumentParser(
        prog="audio-rnn",
        description="Recurrent networks for sound: keyword spotting, sequence generation, RNNs from scratch.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            getattr(_module(name), "configure_" + name.replace("-", "_"))(p)
    return parser


def _module(name: str):
    return importlib.import_module(COMMANDS[name][0])


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, dispatch, and turn user-facing errors into one clear line and exit status 1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.version:
        from audio_rnn import __version__

        print(__version__)
        return 0
    if not args.command:
        parser.print_help()
        return 0
    try:
        return int(getattr(_module(args.command), "run_" + args.command.replace("-", "_"))(args) or 0)
    except AudioRnnError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": exc.one_line()}))
        print(exc.one_line(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and friends: stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
