"""Is a tune valid? Headers present, repeats well formed, music21 parses it and writes it as MIDI
(repeats expanded), and every bar lasts what the meter says.

The first bar (a pickup) and the last may be short; meters music21 cannot
parse quickly are refused up front. music21's reader warnings are collected
per thread instead of printed (`parse_abc`), which the renderer uses too.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass
from typing import Any

from audio_rnn.music.notation import BODY_FIELDS, FIELD_LINE, REQUIRED_HEADERS, header_fields
from audio_rnn.music.repeats import repeat_problems, repeat_spans


@dataclass
class Validity:
    """Whether a tune is usable, and why not."""

    valid: bool
    reasons: list[str]
    bars: int = 0
    notes: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


_TAP = threading.local()


def _tap_abc_warnings() -> None:
    """Route music21's ABC-reader warnings (it guesses "C" for unreadable notes) to the calling thread's list."""
    from music21 import abcFormat

    env = abcFormat.environLocal
    if getattr(env, "_audio_rnn_tapped", False):
        return
    original = env.warn

    def warn(msg, header=None):
        sink = getattr(_TAP, "sink", None)
        if sink is None:
            return original(msg, header)
        sink.append("".join(map(str, msg)) if isinstance(msg, (list, tuple)) else str(msg))

    env.warn = warn
    env._audio_rnn_tapped = True


def parse_abc(abc: str, warnings_out: list[str] | None = None):
    """music21 Score (or Part) for one tune; its reader's warnings go to `warnings_out` instead of stderr."""
    import warnings

    from music21 import converter

    _tap_abc_warnings()
    _TAP.sink = warnings_out if warnings_out is not None else []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return converter.parse(abc, format="abc", forceSource=True)
    finally:
        _TAP.sink = None


def _line_events(handler_tokens) -> list[tuple[str, float]]:
    """("note", quarter length) / ("bar", boundary flag) / ("meter", bar length) events of tokenized ABC."""
    events: list[tuple[str, float]] = []
    for t in handler_tokens:
        kind = type(t).__name__
        if kind == "ABCMetadata" and t.isMeter():
            ts = t.getTimeSignatureObject()
            events.append(("meter", float(ts.barDuration.quarterLength) if ts is not None else -1.0))
        elif kind in ("ABCNote", "ABCChord") and not getattr(t, "inGrace", False):
            ql = float(getattr(t, "quarterLength", 0.0) or 0.0)
            tup = getattr(t, "activeTuplet", None)
            if tup is not None:
                ql *= float(tup.tupletMultiplier())
            events.append(("note", ql))
        elif kind == "ABCBar":
            events.append(("bar", 0.0 if t.src.strip() == "|" else 1.0))
    return events


def written_bars(abc: str) -> list[tuple[float, float | None, bool]]:
    """(duration, meter's bar length, at a section boundary) of every bar as written, in quarter notes.

    Uses music21's ABC tokenizer line by line (unit lengths, broken rhythms,
    tuplets, chords and grace notes count as music21 reads them). A line that
    ends without a bar line closes the bar only if the bar is full: Essen-style
    files leave that bar line implicit, others continue a bar on the next line.
    """
    from music21 import abcFormat

    lines = abc.replace("\r\n", "\n").split("\n")
    k = next((i for i, ln in enumerate(lines) if ln.startswith("K:")), None)
    if k is None:
        return []
    context = {m.group(1): ln for ln in lines[: k + 1] if (m := FIELD_LINE.match(ln))}
    bars: list[tuple[float, float | None, bool]] = []
    full: float | None = None
    acc, prev_boundary = 0.0, False
    eps = 1e-6

    def close(boundary: bool) -> None:
        nonlocal acc, prev_boundary
        if acc > 0:
            bars.append((acc, full, boundary or prev_boundary))
        elif bars and boundary:
            d, f, _ = bars[-1]
            bars[-1] = (d, f, True)
        prev_boundary = boundary
        acc = 0.0

    first = True
    for line in lines[k + 1 :]:
        m = FIELD_LINE.match(line)
        if m and not line.startswith("|"):
            if m.group(1) in BODY_FIELDS:
                context[m.group(1)] = line
                if m.group(1) == "M":
                    first = True  # re-read the meter
            continue
        if not line.strip():
            continue
        handler = abcFormat.ABCHandler()
        handler.process("\n".join(context.values()) + "\n" + line + "\n")
        for kind, value in _line_events(handler.tokens):
            if kind == "meter":
                if first:
                    full = value if value > 0 else None
            elif kind == "note":
                acc += value
            else:
                close(value > 0)
        first = False
        if full is not None and abs(acc - full) < eps:
            close(False)  # an implicit bar line at the end of a full bar
    if acc > 0:
        close(True)
    return bars


_METER = re.compile(r"M:([^\]\n\r%]*)")  # music21 takes M: fields mid-line too ("uz/M:999/1")
MAX_METER = 32  # music21 partitions a meter's beats in time that grows steeply: M:999/1 takes minutes
MAX_SHORT_SHARE = 0.2  # the outside check's rule too: at least 80% of the inner bars are full
MIN_FULL_BARS = 8  # a whole tune holds at least one 8-bar part (the sampler's length guard uses it too)
_ENDS_AT_BAR = re.compile(r"[|\]]\s*$")  # the last music line closes with a bar line ("|", "|]", ":|", "||")
MAX_BAR_FACTOR = 8  # a bar this many times too long is invalid anyway; music21 re-barring it takes minutes


def _meter_problem(abc: str) -> str | None:
    """Why a meter (header, body line or inline [M:]) is beyond what music21 can parse quickly, or None."""
    for m in _METER.finditer(abc):
        num, _, den = m.group(1).partition("/")
        top = sum(int(n) for n in re.findall(r"\d+", num))
        bottom = re.match(r"\s*(\d+)", den)
        if top > MAX_METER or (bottom and int(bottom.group(1)) > 2 * MAX_METER):
            return f"meter M:{m.group(1).strip()[:20]} is outside what is supported (at most {MAX_METER} beats)"
    return None


def measure_problems(score) -> list[str]:
    """What is wrong with the measures as music21 builds them (what is engraved and played).

    A measure longer than its time signature is wrong (the written bars can differ: a line
    that ends with a full bar and no bar line is a bar in Essen-style files, but music21
    runs it on into the next line). Short inner measures, the halves of bars split at
    repeats, may be at most MAX_SHORT_SHARE of the inner measures: beyond that a tune is
    fragments rather than bars in its meter.
    """
    eps, out = 1e-6, []
    parts = score.parts if hasattr(score, "parts") and score.parts else [score]
    for part in parts:
        measures = list(part.getElementsByClass("Measure"))
        short = 0
        for k, m in enumerate(measures):
            ts = m.getContextByClass("TimeSignature")
            if ts is None:
                continue
            d, full = float(m.duration.quarterLength), float(ts.barDuration.quarterLength)
            if d > full + eps:
                out.append(f"measure {m.number} lasts {d:g} quarters as music21 reads it, the meter says {full:g}")
            elif d < full - eps and 0 < k < len(measures) - 1:
                short += 1
        inner = max(0, len(measures) - 2)
        if inner and short > MAX_SHORT_SHARE * inner:
            out.append(f"{short} of the {inner} inner bars are short (split at repeats): too few full bars")
    return out


def midi_problem(score) -> str | None:
    """Why music21 cannot write a parsed tune as MIDI (it expands the repeats first), or None."""
    from music21 import midi

    try:
        midi.translate.music21ObjectToMidiFile(score).writestr()
    except Exception as exc:  # ExpanderException on badly formed repeats, and others on odd streams
        return f"music21 cannot write it as MIDI: {type(exc).__name__}: {str(exc)[:120]}"
    return None


def _fragment_repeats(abc: str, bars: list[tuple[float, float | None, bool]]) -> list[str]:
    """Repeats that hold no full bar (a repeated fragment, not a part in the meter)."""
    eps = 1e-6
    out = []
    for first, last in repeat_spans(abc):
        span = bars[first - 1 : last]
        if span and last <= len(bars) and all(f is not None and d < f - eps for d, f, _ in span):
            out.append(f"the repeat of bars {first}-{last} holds no full bar")
    return out


def whole_tune_problems(abc: str, bars: list[tuple[float, float | None, bool]],
                        min_full_bars: int = MIN_FULL_BARS) -> list[str]:
    """Why a metered tune is a fragment: fewer than `min_full_bars` full bars, or it stops in mid-bar.

    The last bar ends properly at a bar line, or full, or as the complement of the pickup
    (Essen-style tunes leave the final bar line out).
    """
    eps, out = 1e-6, []
    full = sum(1 for d, f, _ in bars if f is not None and abs(d - f) < eps)
    if full < min_full_bars:
        out.append(f"only {full} full bar(s): a whole tune has at least {min_full_bars}")
    music = [ln for ln in abc.rstrip().split("\n") if ln.strip() and not (FIELD_LINE.match(ln) and not ln.startswith("|"))]
    d, f, _ = bars[-1]
    pickup = bars[0][0] if bars[0][1] and bars[0][0] < bars[0][1] - eps else 0.0
    closed = bool(music) and bool(_ENDS_AT_BAR.search(music[-1]))
    if f is not None and not closed and abs(d - f) > eps and abs(d + pickup - f) > eps:
        out.append(f"the tune stops in the middle of a bar ({d:g} of {f:g} quarters, no final bar line)")
    return out


def check_tune(abc: str, max_chars: int = 20_000, whole: bool = True) -> Validity:
    """Headers X: T: M: K: present, repeats well formed, music21 parses it and writes MIDI, bars match the meter,
    and (`whole`) the tune is whole: at least MIN_FULL_BARS full bars and a proper ending.

    The first bar (pickup) and the last bar may be short. A short bar at a section
    boundary (repeat, double bar or ending) is accepted when it completes a bar with
    its neighbour or with the pickup (the usual ABC convention). Over-long bars
    are never accepted.
    """
    reasons, fields = _text_problems(abc, max_chars)
    if fields is None:
        return Validity(False, reasons)
    warned: list[str] = []
    read = _read_tune(abc, warned)
    if isinstance(read, str):
        return Validity(False, reasons + [read])
    bars, score = read
    notes = len(list(score.recurse().notes))
    reasons.extend(_music21_problems(score, notes, warned))
    if fields.get("M", "").lower() not in ("none", ""):  # a metered tune
        reasons.extend(_metered_problems(abc, bars, score, notes, whole))
    return Validity(not reasons, reasons, len(bars), notes)


def _text_problems(abc: str, max_chars: int) -> tuple[list[str], dict[str, str] | None]:
    """Problems found in the text alone (checked first: cheap), and the header fields; None fields: stop, invalid."""
    reasons: list[str] = []
    if not abc or not abc.strip():
        return ["empty tune"], None
    if len(abc) > max_chars:
        return [f"longer than {max_chars} characters"], None
    fields = header_fields(abc)
    missing = [f"{h}:" for h in REQUIRED_HEADERS if h not in fields]
    if missing:
        reasons.append("missing header " + ", ".join(missing))
    if "K" not in fields:  # invalid anyway; and music21 can spend minutes re-barring header-less music
        return reasons, None
    meter = _meter_problem(abc)
    if meter:
        return reasons + [meter], None
    reasons.extend(repeat_problems(abc))
    return reasons, fields


def _read_tune(abc: str, warned: list[str]) -> tuple[list[tuple[float, float | None, bool]], Any] | str:
    """(written bars, music21 score), or why the tune cannot be read (a giant bar or a parse error)."""
    try:
        bars = written_bars(abc)  # first: fast, and it finds the giant bars that make music21's parse crawl
        giant = [(i, d, f) for i, (d, f, _) in enumerate(bars) if d > MAX_BAR_FACTOR * (f or 4.0)]
        if giant:
            i, d, f = giant[0]
            return f"bar {i + 1} lasts {d:g} quarters, the meter says {f or 4.0:g}"
        return bars, parse_abc(abc, warned)
    except Exception as exc:  # music21 raises many types on bad ABC
        return f"music21 cannot parse it: {type(exc).__name__}: {str(exc)[:120]}"


def _music21_problems(score: Any, notes: int, warned: list[str]) -> list[str]:
    """What music21 found while reading the tune (unreadable tokens), no notes, or no MIDI for it."""
    out: list[str] = []
    if warned:
        out.append(f"music21 could not read {len(warned)} token(s): " + "; ".join(w.strip()[:80] for w in warned[:3]))
    if notes == 0:
        out.append("no notes")
    else:
        out.extend(filter(None, [midi_problem(score)]))
    return out


def _metered_problems(abc: str, bars: list[tuple[float, float | None, bool]], score: Any, notes: int,
                      whole: bool) -> list[str]:
    """A metered tune's bar problems: no bars, music21's measures, written bars vs the meter, wholeness."""
    out: list[str] = []
    if not bars and notes:
        out.append("no bars")
    if notes:
        out.extend(measure_problems(score)[:2])
    if bars:
        bad = _mismatched_bars(bars)
        if bad:
            out.append(f"{len(bad)} bar(s) do not match the meter: " + "; ".join(bad[:3]))
        else:
            out.extend(_fragment_repeats(abc, bars)[:1])
        if whole:
            out.extend(whole_tune_problems(abc, bars))
    return out


def _mismatched_bars(bars: list[tuple[float, float | None, bool]]) -> list[str]:
    """Written bars that do not fit the meter: over-long ones, and short inner ones not excused at a boundary."""
    eps = 1e-6
    pickup = bars[0][0] if bars[0][1] and bars[0][0] < bars[0][1] - eps else 0.0
    last = len(bars) - 1
    bad: list[str] = []
    for i, (d, full, boundary) in enumerate(bars):
        if full is None or abs(d - full) < eps:
            continue
        if d > full + eps:
            bad.append(f"bar {i + 1} lasts {d:g} quarters, the meter says {full:g}")
            continue
        if i == 0 or i == last:
            continue
        neighbours = [bars[j][0] for j in (i - 1, i + 1) if 0 <= j <= last]
        paired = any(abs(d + n - full) < eps for n in neighbours) or abs(d + pickup - full) < eps
        if not (boundary and paired):
            bad.append(f"bar {i + 1} lasts {d:g} quarters, the meter says {full:g}")
    return bad
