"""Style figure: bits per character on out-of-collection session tunes next to the in-collection test tunes.

For each model given: the network alone (`score --no-cache`) and with the copy
cache (the `score` default), on (1) the held-out test tunes of music21's ABC
corpus (the split the shipped model was trained with), (2) the
out-of-collection file (samples/abc/irish_session_tunes.abc, another
transcriber's style) as written, (3) its music lines only (no header fields),
and xz -9e / bzip2 -9 on the same text, for scale.

    .venv/bin/python benchmarks/gen_style.py [--model DIR ...] [--no-test] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OTHER = ROOT / "samples" / "abc" / "irish_session_tunes.abc"


def compressor_bpc(text: str, cmd: list[str]) -> float:
    """Bits per character of `text` (UTF-8) under an external compressor."""
    out = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, check=True).stdout
    return 8 * len(out) / len(text)


def music_lines(text: str) -> str:
    """The tunes without their header field lines (what the style of the music costs)."""
    return "\n".join(ln for ln in text.split("\n") if not (len(ln) > 1 and ln[1] == ":" and ln[0].isalpha()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=None, help="charlm checkpoint (repeatable; default: shipped)")
    ap.add_argument("--no-test", action="store_true", help="skip the in-collection test split (slow on one core)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from audio_rnn.music.corpus import prepare_abc
    from audio_rnn.music.generate import Generator
    from audio_rnn.music.text import read_text

    other = read_text(OTHER)
    texts = {"other as written": other, "other music lines": music_lines(other)}
    if not args.no_test:
        texts = {"in-collection test": prepare_abc(seed=0).text("test"), **texts}
    report: dict = {"texts": {k: len(v) for k, v in texts.items()}, "compressors": {}, "models": {}}
    for name, text in texts.items():
        report["compressors"][name] = {"xz -9e": round(compressor_bpc(text, ["xz", "-9e", "-c"]), 4),
                                       "bzip2 -9": round(compressor_bpc(text, ["bzip2", "-9", "-c"]), 4)}
    for model in args.model or [None]:
        gen = Generator(model)
        rows = {}
        for name, text in texts.items():
            s = gen.score(text)
            rows[name] = {"network alone": round(s["network_bits_per_char"], 4), "with cache": round(s["bits_per_char"], 4)}
        report["models"][str(model or "shipped")] = rows
    if args.json:
        print(json.dumps(report))
        return 0
    for name, n in report["texts"].items():
        c = report["compressors"][name]
        print(f"{name} ({n} chars): xz {c['xz -9e']:.3f}, bzip2 {c['bzip2 -9']:.3f}")
        for model, rows in report["models"].items():
            r = rows[name]
            print(f"  {model}: network alone {r['network alone']:.3f}, with cache {r['with cache']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
