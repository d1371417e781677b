"""Coverage-guided fuzzing of the text/ABC tools with atheris (libFuzzer), beside the hypothesis tests.

Each input is decoded to text and run through split_tunes -> normalise_tune (must be a fixed
point) -> music_key, Vocab build/encode/decode (must round-trip), split_text (must keep every
character) and, with --validity, the music21-based check_tune. Anything but a valid result or a
CorpusError is a crash; libFuzzer's -timeout flags any input slower than 5 s.

    .venv/bin/python benchmarks/fuzz_text_atheris.py [--validity] -runs=20000 -timeout=5 -rss_limit_mb=2048 \
        -dict=benchmarks/abc.dict [CORPUS_DIR]
    .venv/bin/python benchmarks/fuzz_text_atheris.py --make-seeds CORPUS_DIR   # real tunes to start from
Prints libFuzzer's statistics (`Done N runs in S second(s)` at the end) and every 1000 cases
`{"cases": N, "seconds": S, ...}` as JSON. Use -dict=benchmarks/abc.dict to seed ABC tokens.
"""

from __future__ import annotations

import json
import sys
import time

import atheris

with atheris.instrument_imports(include=["audio_rnn"]):
    from audio_rnn.music import corpus as abc_corpus, notation, text, validity
    from audio_rnn.errors import CorpusError

VALIDITY = "--validity" in sys.argv
CASES = {"n": 0, "tunes": 0, "normalised": 0, "valid": 0}


def one_input(data: bytes) -> None:
    """The per-input check: contracts of each text tool on one fuzzed string."""
    CASES["n"] += 1
    s = data.decode("utf-8", errors="replace")  # bytes as-is, so seed tunes stay tunes
    tunes = notation.split_tunes(s)
    flat = s.replace("\r\n", "\n").replace("\r", "\n")
    first = 0 if flat.startswith("X:") else flat.find("\nX:") + 1 if "\nX:" in flat else len(flat)
    if "".join(tunes) != flat[first:]:
        raise AssertionError("split_tunes lost or invented text")
    CASES["tunes"] += len(tunes)
    for t in tunes[:4] + [s]:
        norm = abc_corpus.normalise_tune(t)
        if norm is not None:
            CASES["normalised"] += 1
            if abc_corpus.normalise_tune(norm) != norm:
                raise AssertionError(f"normalise_tune is not idempotent on {t!r}")
            abc_corpus.music_key(norm)
    if VALIDITY:
        for t in tunes[:2]:
            CASES["valid"] += bool(validity.check_tune(t).valid)
    v = text.Vocab.build([s[: len(s) // 2]], min_count=1)
    ids = v.encode(s)
    back = v.decode(ids)
    if len(back) != len(s) or any(b != c and b != text.UNK for b, c in zip(back, s)):
        raise AssertionError("Vocab round trip changed known characters")
    try:
        if "".join(text.split_text(s)) != s:
            raise AssertionError("split_text lost characters")
    except CorpusError:
        pass


def write_seeds(folder: str, n: int = 60) -> None:
    """Seed corpus for libFuzzer: real normalised tunes from music21's ABC collection, one per file."""
    from pathlib import Path

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    corpus = abc_corpus.prepare_abc(abc_corpus.music21_abc_files()[:20])
    for i, t in enumerate((corpus.train + corpus.val + corpus.test)[:n]):
        (out / f"tune{i:03d}.abc").write_text(t, encoding="utf-8")


def main() -> None:
    if "--make-seeds" in sys.argv:  # --make-seeds DIR, then pass DIR to libFuzzer as its corpus
        write_seeds(sys.argv[sys.argv.index("--make-seeds") + 1])
        return
    if VALIDITY:
        validity.check_tune("X:1\nT:warm-up\nM:4/4\nK:C\nCDEF|\n")  # import music21 before the clock
    args = [a for a in sys.argv if a != "--validity"]
    if not any(a.startswith("-runs=") for a in args):
        args.append("-runs=5000")
    t0 = time.perf_counter()

    def report() -> None:  # libFuzzer exits from C, so report from a Python-level atexit is not run
        print(json.dumps({"cases": CASES["n"], "seconds": round(time.perf_counter() - t0, 1), "tunes": CASES["tunes"],
                          "normalised": CASES["normalised"], "valid": CASES["valid"], "validity": VALIDITY}),
              file=sys.stderr, flush=True)

    atheris.Setup(args, lambda data: (one_input(data), CASES["n"] % 1000 == 0 and report()))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
