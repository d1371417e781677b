"""Bits per character of the character model vs xz -9e, bzip2 -9 and a Kneser-Ney n-gram, in one run.

"model" is what `audio-rnn score` reports: the network mixed with the copy
cache (audio_rnn/music/copy_cache.py); "network alone" is `score --no-cache`.
On the same text: (1) the held-out test tunes of music21's ABC corpus (the
split the model was trained with), (2) an out-of-collection file of Irish tunes
in another transcriber's style (samples/abc/irish_session_tunes.abc, not in
music21), as written and normalised like the corpus. Then samples tunes and
reports validity three ways: raw sampling (meter guard off), the defaults
(meter guard on: bars are masked/redrawn to fit the meter while sampling),
and the defaults with resampling of invalid tunes; plus the distinct rate and
the median longest span copied verbatim from the training text (and the same
span for real held-out tunes, for scale).

    .venv/bin/python benchmarks/gen_bpc.py [--model DIR] [--n 100] [--json]
"""

from __future__ import annotations

import argparse
import json
import lzma
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OTHER = ROOT / "samples" / "abc" / "irish_session_tunes.abc"


def compressor_bpc(text: str, cmd: list[str]) -> float:
    """Bits per character of `text` (UTF-8) compressed by an external compressor."""
    data = text.encode("utf-8")
    out = subprocess.run(cmd, input=data, capture_output=True, check=True).stdout
    return 8 * len(out) / len(text)


def longest_copied_span(s: str, corpus: str) -> int:
    """Length of the longest substring of s found verbatim in corpus (linear number of searches)."""
    best, i = 0, 0
    while i + best < len(s):
        if s[i : i + best + 1] in corpus:
            best += 1
        else:
            i += 1
    return best


def music_body(tune: str) -> str:
    """A tune without its X: and T: lines, for the distinct rate (titles alone do not make tunes differ)."""
    return "\n".join(ln for ln in tune.split("\n") if not ln.startswith(("X:", "T:"))).strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="charlm checkpoint (default: the shipped ABC model)")
    ap.add_argument("--n", type=int, default=100, help="tunes to sample for validity/distinct/copy figures")
    ap.add_argument("--until-valid", type=int, default=3, help="resampling attempts for the separate figure")
    ap.add_argument("--orders", default="5,6,7,8,9", help="n-gram orders tried (best on validation is reported)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from audio_rnn.music.generate import Generator
    from audio_rnn.music.corpus import normalise_tune, prepare_abc
    from audio_rnn.music.notation import split_tunes
    from audio_rnn.music.ngram import KneserNey
    from audio_rnn.music.text import read_text

    gen = Generator(args.model)
    seed = int((gen.config.get("train") or {}).get("seed", 0))
    corpus = prepare_abc(seed=seed)
    train, val, test = corpus.text("train"), corpus.text("val"), corpus.text("test")
    other = read_text(OTHER)
    other_norm = "\n".join(t for t in map(normalise_tune, split_tunes(other)) if t)
    report: dict = {"model": str(args.model or "shipped abc"), "params": gen.model.param_count(),
                    "test_chars": len(test), "other_file": str(OTHER.relative_to(ROOT)), "other_chars": len(other)}

    t0 = time.perf_counter()
    best_order, best_val, ngram = None, float("inf"), None
    for order in map(int, args.orders.split(",")):
        m = KneserNey(order).fit(train)
        v = m.bits_per_char(val)
        report[f"ngram{order}_val_bpc"] = round(v, 4)
        if v < best_val:
            best_order, best_val, ngram = order, v, m
    report["ngram_order"] = best_order
    report["ngram_seconds"] = round(time.perf_counter() - t0, 1)

    for name, text in (("test", test), ("other", other), ("other_normalised", other_norm)):
        scored = gen.score(text)  # the network mixed with the copy cache (the `score` default)
        row = {
            "model": scored["bits_per_char"],
            "network alone": scored["network_bits_per_char"],
            "xz -9e": compressor_bpc(text, ["xz", "-9e", "-c"]),
            "bzip2 -9": compressor_bpc(text, ["bzip2", "-9", "-c"]),
            f"ngram (KN, order {best_order})": ngram.bits_per_char(text),
        }
        report[name] = {k: round(v, 4) for k, v in row.items()}
        best_compressor = min(row["xz -9e"], row["bzip2 -9"])
        report[name]["ratio_to_best_compressor"] = round(row["model"] / best_compressor, 4)
        report[name]["network_alone_ratio_to_best_compressor"] = round(row["network alone"] / best_compressor, 4)
        report[name]["beats_all"] = all(row["model"] < v for k, v in row.items() if k != "model")
        report[name]["network_alone_beats_all"] = all(
            row["network alone"] < v for k, v in row.items() if k not in ("model", "network alone"))

    from audio_rnn.music.generate import DEFAULT_TEMPERATURE

    raw = gen.generate(n=args.n, seed=args.seed, meter_guard=False)  # plain sampling from the model
    t0 = time.perf_counter()
    gens = gen.generate(n=args.n, seed=args.seed)  # the defaults: meter guard on
    sample_seconds = time.perf_counter() - t0
    default_valid = sum(g.valid for g in gens) / len(gens)
    retried = gen.generate(n=args.n, seed=args.seed, until_valid=args.until_valid)
    texts = [g.text for g in gens]
    spans = [longest_copied_span(t, train) for t in texts]
    real_spans = [longest_copied_span(t, train) for t in corpus.test[: min(len(corpus.test), args.n)]]
    reasons: dict[str, int] = {}
    for g in gens:
        for r in g.reasons:
            key = r.split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
    other_spans = [longest_copied_span(t, train) for t in split_tunes(other)]
    report["other_tunes_median_longest_span_in_train"] = statistics.median(other_spans)
    report["generation"] = {
        "n": len(gens),
        "temperature": DEFAULT_TEMPERATURE,
        "seconds_default": round(sample_seconds, 1),
        "raw_valid_rate_no_guard": round(sum(g.valid for g in raw) / len(raw), 4),
        "valid_rate_default_meter_guard": round(default_valid, 4),
        "bars_redrawn_per_tune": round(statistics.mean(g.backtracks for g in gens), 2),
        f"valid_rate_resample_{args.until_valid}": round(sum(g.valid for g in retried) / len(retried), 4),
        "mean_attempts_resampled": round(statistics.mean(g.attempts for g in retried), 3),
        "distinct_rate": round(len(set(texts)) / len(texts), 4),
        "distinct_music_rate": round(len({music_body(t) for t in texts}) / len(texts), 4),
        "median_chars": statistics.median(len(t) for t in texts),
        "median_longest_copied_span": statistics.median(spans),
        "max_longest_copied_span": max(spans),
        "heldout_tunes_median_longest_span_in_train": statistics.median(real_spans),
        "invalid_reasons": reasons,
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"model: {report['model']} ({report['params']} parameters)")
    for name, label in (("test", f"held-out test tunes ({len(test)} chars)"),
                        ("other", f"{report['other_file']} as written ({len(other)} chars)"),
                        ("other_normalised", f"the same tunes normalised like the corpus ({len(other_norm)} chars)")):
        print(f"\n{label}: bits per character")
        for k, v in report[name].items():
            print(f"  {k:<28} {v}")
    print(f"\nout-of-collection tunes: median longest span shared with the training text "
          f"{report['other_tunes_median_longest_span_in_train']} chars")
    print(f"n-gram validation bpc by order: " + ", ".join(
        f"{o}: {report[f'ngram{o}_val_bpc']}" for o in map(int, args.orders.split(","))))
    print("\ngeneration with defaults:")
    for k, v in report["generation"].items():
        print(f"  {k:<44} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
