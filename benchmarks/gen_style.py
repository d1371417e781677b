"""Style outside the training collection: bits per character on tunes the training corpus does not hold.

Every text is de-duplicated first (`audio_rnn.music.dedupe`: the same tune by
normalised note body, any key or spelling, against the training split) and the
removed count is reported. Texts: (1) the out-of-collection file
samples/abc/irish_session_tunes.abc (another transcriber's style), (2) the Irish and
British collections' held-out tunes of music21's corpus (O'Neill's, Ryan's Mammoth,
Aird's), validation half (what fine-tunes are chosen on) and test half, and
(3) optionally the whole in-collection test split. For each model: the network
alone and with the copy cache; xz -9e and bzip2 -9 on the same text, and the
cache's ratio to the better of the two.

    .venv/bin/python benchmarks/gen_style.py [--model DIR ...] [--test] [--json]
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


IRISH = ("oneills1850", "ryansMammoth", "airdsAirs")


def texts_to_score(with_test: bool) -> tuple[dict[str, str], dict[str, dict]]:
    """The de-duplicated texts, and how many tunes each had and lost."""
    from audio_rnn.music.corpus import prepare_abc
    from audio_rnn.music.dedupe import TuneIndex, split_known
    from audio_rnn.music.notation import split_tunes
    from audio_rnn.music.text import read_text

    corpus = prepare_abc(seed=0)
    index = TuneIndex(corpus.train)
    sets = {"session file": split_tunes(read_text(OTHER)),
            "Irish/British val": corpus.from_collections("val", IRISH),
            "Irish/British test": corpus.from_collections("test", IRISH)}
    if with_test:
        sets["in-collection test"] = corpus.test
    texts, counts = {}, {}
    for name, tunes in sets.items():
        new, known = split_known(tunes, index)
        texts[name] = "\n".join(t.rstrip("\n") + "\n" for t in new)
        counts[name] = {"tunes": len(tunes), "removed": len(known), "chars": len(texts[name])}
    return texts, counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=None, help="charlm checkpoint (repeatable; default: shipped)")
    ap.add_argument("--test", action="store_true", help="also the whole in-collection test split (slow on one core)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from audio_rnn.music.generate import Generator

    texts, counts = texts_to_score(args.test)
    report: dict = {"texts": counts, "compressors": {}, "models": {}}
    for name, text in texts.items():
        xz, bz = compressor_bpc(text, ["xz", "-9e", "-c"]), compressor_bpc(text, ["bzip2", "-9", "-c"])
        report["compressors"][name] = {"xz -9e": round(xz, 4), "bzip2 -9": round(bz, 4)}
    for model in args.model or [None]:
        gen = Generator(model)
        rows = {}
        for name, text in texts.items():
            s = gen.score(text)
            best = min(report["compressors"][name].values())
            rows[name] = {"network alone": round(s["network_bits_per_char"], 4),
                          "with cache": round(s["bits_per_char"], 4),
                          "cache / best compressor": round(s["bits_per_char"] / best, 3)}
        report["models"][str(model or "shipped")] = rows
    if args.json:
        print(json.dumps(report))
        return 0
    for name, c in report["texts"].items():
        z = report["compressors"][name]
        print(f"{name}: {c['tunes'] - c['removed']} tunes ({c['removed']} of {c['tunes']} removed: the training "
              f"corpus holds them), {c['chars']} chars; xz {z['xz -9e']:.3f}, bzip2 {z['bzip2 -9']:.3f}")
        for model, rows in report["models"].items():
            r = rows[name]
            print(f"  {model}: network alone {r['network alone']:.3f}, with cache {r['with cache']:.3f} "
                  f"({r['cache / best compressor']:.2f}x the better compressor)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
