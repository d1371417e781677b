"""The `generate` and `score` commands over `Generator`; their defaults are `settings.DEFAULTS`, as in the app."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from audio_rnn.errors import CorpusError
from audio_rnn.music.generate import Generator
from audio_rnn.music.settings import DEFAULTS


def _unescape(s: str) -> str:
    """Primers typed on a shell: `\\n` means a newline."""
    return s.replace("\\n", "\n").replace("\\t", "\t")


def configure_generate(p: argparse.ArgumentParser) -> None:
    """Options of `generate`; with none it samples as the app's Generate button does."""
    p.add_argument("--model", default=None, help="charlm checkpoint folder (default: the shipped ABC model)")
    p.add_argument("--n", type=int, default=1, help="how many sequences (sampled as one batch)")
    p.add_argument("--temperature", type=float, default=DEFAULTS.temperature)
    p.add_argument("--top-k", type=int, default=DEFAULTS.top_k, help="sample among the k likeliest characters (0: all)")
    p.add_argument("--top-p", type=float, default=DEFAULTS.top_p, help="nucleus sampling mass (1: off)")
    p.add_argument("--primer", default=None, help=r"text to start from, e.g. 'M:6/8\nK:D\n' (\n = newline)")
    p.add_argument("--length", type=int, default=DEFAULTS.length, help="maximum characters to sample")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--until-valid", type=int, default=DEFAULTS.until_valid,
                   help="resample an invalid tune (one that would not render included) up to this many times")
    p.add_argument("--no-guard", action="store_true",
                   help="raw sampling: no meter guard (bars redrawn to fit) and no structure guard (repeats closed)")
    p.add_argument("--json", action="store_true", help="one JSON object per sequence per line")
    p.add_argument("--out", default=None, help="folder for .abc, .mid, .wav, .svg of each tune")


def run_generate(args: argparse.Namespace) -> int:
    """Sample, check, and (with --out) render each tune; a tune whose files fail to render is not called valid."""
    gen = Generator(args.model)
    primer = _unescape(args.primer) if args.primer is not None else None
    t0 = time.perf_counter()
    results = gen.generate(args.n, args.temperature, args.top_k, args.top_p, primer, args.length, args.seed,
                           args.until_valid, meter_guard=not args.no_guard)
    seconds = time.perf_counter() - t0
    for k, g in enumerate(results):
        files = {}
        if args.out:
            stem = f"tune_{k + 1:03d}" if gen.is_abc else f"text_{k + 1:03d}"
            if gen.is_abc:
                from audio_rnn.music.render import render_files

                files = render_files(g.text, args.out, stem)
                failed = [f"{k.split('_')[0]}: {v}" for k, v in files.items() if k in ("mid_error", "wav_error")]
                if failed and g.valid:
                    g.valid, g.reasons = False, ["could not render " + "; ".join(failed)]
            else:
                Path(args.out).mkdir(parents=True, exist_ok=True)
                (Path(args.out) / f"{stem}.txt").write_text(g.text, encoding="utf-8")
                files = {"txt": str(Path(args.out) / f"{stem}.txt")}
        if args.json:
            print(json.dumps({**g.to_dict(), "index": k, "files": files}, ensure_ascii=False))
        else:
            status = "valid" if g.valid else "INVALID: " + "; ".join(g.reasons)
            print(f"% tune {k + 1}: {status}" if gen.is_abc else f"--- {k + 1}")
            print(g.text.rstrip("\n"))
            for kind, path in files.items():
                print(f"% {kind}: {path}")
            print()
    if not args.json:
        valid = sum(g.valid for g in results)
        print(f"% {len(results)} sequence(s) in {seconds:.1f} s; {valid} valid", file=sys.stderr)
    return 0


def configure_score(p: argparse.ArgumentParser) -> None:
    """Options of `score`."""
    p.add_argument("file", help="a UTF-8 text (or ABC) file")
    p.add_argument("--model", default=None, help="charlm checkpoint folder (default: the shipped ABC model)")
    p.add_argument("--no-cache", action="store_true",
                   help="the network alone (default: mixed with a match model that copies repeats already read)")
    p.add_argument("--dedupe", action="store_true",
                   help="score only the tunes the model's training corpus does not hold (same tune by normalised "
                        "note body, any key or spelling); reports how many were removed")
    p.add_argument("--json", action="store_true", help='print {"chars": int, "bits_per_char": float, ...}')


def run_score(args: argparse.Namespace) -> int:
    """Bits per character of a file (network + copy cache, or --no-cache for the network alone)."""
    from audio_rnn.music.text import read_text

    text = read_text(args.file)
    gen = Generator(args.model)
    removed = None
    if args.dedupe:
        from audio_rnn.music.dedupe import drop_training_tunes

        text, removed, total = drop_training_tunes(text, gen.config)
        if not text.strip():
            raise CorpusError(f"--dedupe: the training corpus holds all {total} tunes of {args.file}")
    result = gen.score(text, cache=not args.no_cache)
    if removed is not None:
        result.update(tunes=total, removed_tunes=removed)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['chars']} characters, {result['bits_per_char']:.4f} bits/char"
              + (f" (network alone {result['network_bits_per_char']:.4f})" if result["cache"] else "")
              + (f" ({result['unknown_chars']} unknown)" if result["unknown_chars"] else "")
              + (f"; {removed} of {total} tunes removed (the training corpus holds them)" if removed is not None
                 else ""))
    return 0
