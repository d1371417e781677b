"""Outside check of generated tunes: run `generate` as a user would, then judge the tunes without the project's checker.

A tune passes the outside check when it has M: and K:, music21 parses it to at
least 8 notes, music21 writes it as MIDI, and at least 80% of its inner bars
(all but the first and the last measure) last what their time signature says,
as music21 measures them. Also counted: tunes the project calls valid that got
no .mid or no .wav ("unplayable"). The same check on a real collection of
tunes, for scale, with --real FILE.

    .venv/bin/python benchmarks/gen_validity.py [--n 40] [--seed 11] [--primer 'M:6/8\\nK:D\\n'] [--real FILE] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def full_measures(abc: str) -> int:
    """How many measures music21 builds that last exactly what their time signature says (0 if unreadable)."""
    import warnings

    from music21 import converter

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = converter.parse(abc, format="abc", forceSource=True)
    except Exception:  # music21 raises many types on bad ABC
        return 0
    count = 0
    for part in score.parts if hasattr(score, "parts") and score.parts else [score]:
        for m in part.getElementsByClass("Measure"):
            ts = m.getContextByClass("TimeSignature")
            count += ts is not None and abs(float(m.duration.quarterLength) - float(ts.barDuration.quarterLength)) < 1e-6
    return count


def outside_check(abc: str) -> tuple[bool, str]:
    """(passes, why not) by the outside rules, using music21 directly."""
    import warnings

    from music21 import converter, midi

    heads = {ln[:2] for ln in abc.splitlines() if len(ln) > 1 and ln[1] == ":"}
    if not {"M:", "K:"} <= heads:
        return False, "no M: or K:"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = converter.parse(abc, format="abc", forceSource=True)
    except Exception as exc:  # music21 raises many types on bad ABC
        return False, f"does not parse ({type(exc).__name__})"
    if len(list(score.recurse().notes)) < 8:
        return False, "fewer than 8 notes"
    try:
        midi.translate.music21ObjectToMidiFile(score).writestr()
    except Exception as exc:
        return False, f"no MIDI ({type(exc).__name__})"
    fit = total = 0
    for part in score.parts if hasattr(score, "parts") and score.parts else [score]:
        measures = list(part.getElementsByClass("Measure"))
        for m in measures[1:-1]:
            ts = m.getContextByClass("TimeSignature")
            if ts is None:
                continue
            total += 1
            fit += abs(float(m.duration.quarterLength) - float(ts.barDuration.quarterLength)) < 1e-6
    if total and fit / total < 0.8:
        return False, f"only {fit}/{total} inner bars fit the meter"
    return True, ""


def generate(n: int, seed: int, primer: str | None, out: Path, extra: list[str]) -> list[dict]:
    """Tunes from the `generate` command with its defaults (plus `extra` options), rendered into `out`."""
    cmd = [sys.executable, "-m", "audio_rnn", "generate", "--n", str(n), "--seed", str(seed), "--json",
           "--out", str(out), *extra]
    if primer is not None:
        cmd += ["--primer", primer]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--primer", default=None, help="as for generate (default: none, the model writes the header)")
    ap.add_argument("--real", default=None, help="an ABC file of real tunes to put through the same check")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("extra", nargs="*", help="more generate options after --, e.g. -- --no-guard --until-valid 0")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gen_validity_") as tmp:
        t0 = time.perf_counter()
        tunes = generate(args.n, args.seed, args.primer, Path(tmp), args.extra)
        seconds = time.perf_counter() - t0
        rows = []
        for t in tunes:
            ok, why = outside_check(t["text"])
            files = t["files"]
            rows.append({"project_valid": t["valid"], "outside_valid": ok, "why": why,
                         "full_bars": full_measures(t["text"]),
                         "playable": "mid" in files and "wav" in files, "attempts": t["attempts"],
                         "first_try_valid": bool(t.get("raw_valid")),
                         "repeat_fixes": t.get("repeat_fixes", 0), "backtracks": t["backtracks"]})
    n = len(rows)
    res = {
        "tunes": n, "seed": args.seed, "primer": args.primer, "options": args.extra,
        "outside_valid": sum(r["outside_valid"] for r in rows) / n,
        "eight_full_bars": sum(r["full_bars"] >= 8 for r in rows) / n,
        "shortest_full_bars": sorted(r["full_bars"] for r in rows)[:5],
        "project_valid": sum(r["project_valid"] for r in rows) / n,
        "called_valid_unplayable": sum(r["project_valid"] and not r["playable"] for r in rows),
        "called_valid_outside_invalid": sum(r["project_valid"] and not r["outside_valid"] for r in rows),
        "generate_seconds_per_tune": round(seconds / max(1, n), 2),
        "mean_attempts": sum(r["attempts"] for r in rows) / n,
        "project_valid_first_try": sum(r["first_try_valid"] for r in rows) / n,
        "tunes_with_repeat_fixes": sum(r["repeat_fixes"] > 0 for r in rows),
        "outside_failures": [r["why"] for r in rows if not r["outside_valid"]],
    }
    if args.real:
        from audio_rnn.music.notation import split_tunes

        real = split_tunes(Path(args.real).read_text(encoding="utf-8"))
        res["real_tunes"] = len(real)
        res["real_outside_valid"] = sum(outside_check(t)[0] for t in real) / max(1, len(real))
        res["real_eight_full_bars"] = sum(full_measures(t) >= 8 for t in real) / max(1, len(real))
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{n} tunes (seed {args.seed}, primer {args.primer!r}, options {args.extra or 'defaults'})")
        print(f"  outside check valid: {res['outside_valid']:.1%}; project valid: {res['project_valid']:.1%}")
        print(f"  8 or more full bars (music21 measures): {res['eight_full_bars']:.1%}; "
              f"shortest {res['shortest_full_bars']}")
        print(f"  called valid but no .mid/.wav: {res['called_valid_unplayable']}; "
              f"called valid, outside invalid: {res['called_valid_outside_invalid']}")
        print(f"  project valid at the first try (before resampling): {res['project_valid_first_try']:.1%}")
        print(f"  generate (rendering included): {res['generate_seconds_per_tune']:.2f} s per tune")
        print(f"  mean attempts {res['mean_attempts']:.2f}; tunes with a repeat closed by the guard: "
              f"{res['tunes_with_repeat_fixes']}")
        if res["outside_failures"]:
            print("  outside failures: " + "; ".join(res["outside_failures"]))
        if args.real:
            print(f"  real tunes ({res['real_tunes']}): {res['real_outside_valid']:.1%} pass the outside check, "
                  f"{res['real_eight_full_bars']:.1%} have 8 or more full bars")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
