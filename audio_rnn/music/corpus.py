"""ABC folk tunes: the corpus, a validity checker, and rendering to MIDI, WAV and an engraved SVG score.

Corpus: the ABC files shipped in music21's corpus, split into single tunes and
normalised (only X: T: M: L: K: R: headers; comments, lyrics and other fields
dropped; "\\n" line endings), de-duplicated on their music, and split by tune
into train/val/test with a seed. For training only, each train tune also keeps
its header as its transcriber wrote it (all fields, spacing), so the trainer
can show a share of tunes in other header styles (`raw_style_tune`,
`restyle_header`, `augment_tune`); validation and test stay normalised.
Validity: headers present, music21 parses it, and every bar but the pickup and
the last lasts what the meter says.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from audio_rnn.errors import CorpusError

KEEP_HEADERS = ("X", "T", "M", "L", "K", "R")
BODY_FIELDS = ("M", "L", "K")  # inline changes of meter, unit length or key stay in the music
REQUIRED_HEADERS = ("X", "T", "M", "K")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
_FIELD = re.compile(r"^([A-Za-z]):\s*(.*)$")
_SPLITS = ("train", "val", "test")


# ----------------------------------------------------------------------------- corpus


def music21_abc_files() -> list[Path]:
    """All ABC files of music21's bundled corpus, in a stable order."""
    import music21

    root = Path(music21.__file__).resolve().parent / "corpus"
    files = sorted(root.rglob("*.abc"))
    if not files:
        raise CorpusError(f"no ABC files in music21's corpus at {root}")
    return files


def _fix_c1(text: str) -> str:
    """Some Essen files carry DOS code page 437 letters as C1 controls (U+0084 for a-umlaut): map them back."""
    return re.sub("[\x80-\x9f]", lambda m: bytes([ord(m.group())]).decode("cp437"), text)


def split_tunes(text: str) -> list[str]:
    """Raw tunes of an ABC file: each starts at an `X:` line and ends before the next one."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    starts = [m.start() for m in re.finditer(r"(?m)^X:", text)]
    return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]


def _strip_comment(line: str) -> str:
    """Remove a `%` comment (an escaped `\\%` is kept) and trailing blanks."""
    out, i = [], 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] == "%":
            out.append("\\%")
            i += 2
            continue
        if c == "%":
            break
        out.append(c)
        i += 1
    return "".join(out).rstrip()


def _tune_lines(raw: str) -> Iterator[tuple[str, re.Match | None, bool]]:
    """(line, field match or None, in_body) for each line of one tune, comments stripped.

    Blank lines are skipped until the music starts and end the tune after that; `in_body`
    turns true after the first K: field. Bar lines that look like fields are not fields.
    """
    in_body = False
    for line in raw.split("\n"):
        if line.startswith("%"):
            continue
        line = _strip_comment(line)
        if not line.strip():
            if in_body:
                return  # a blank line ends the tune
            continue
        m = _FIELD.match(line)
        if m and line.startswith("|"):
            m = None
        yield line, m, in_body
        if m and m.group(1) == "K":
            in_body = True


def normalise_tune(raw: str) -> str | None:
    """One tune in canonical form (X first, K last in the header), or None if unusable.

    Keeps X: T: M: L: R: K: headers as `F:value`; drops comments, lyrics (w:/W:),
    directives and other fields; refuses multi-voice tunes (V:) and tunes without
    K:, M: or any music.
    """
    header: list[tuple[str, str]] = []
    body: list[str] = []
    for line, m, in_body in _tune_lines(raw):
        if m:
            key, value = m.group(1), m.group(2).strip()
            if key == "V":
                return None
            if not in_body:
                if key in KEEP_HEADERS and value:
                    header.append((key, value))
                continue
            if key in BODY_FIELDS and value:
                body.append(f"{key}:{value}")
            continue
        if not in_body:
            continue  # stray text before K:
        body.append(re.sub(r"[ \t]+", " ", line))
    keys = [k for k, _ in header]
    if not body or "K" not in keys or "M" not in keys or "X" not in keys:
        return None
    x = next(v for k, v in header if k == "X")
    k = [v for kk, v in header if kk == "K"][-1]
    others = [(kk, v) for kk, v in header if kk not in ("X", "K")]
    if not any(kk == "T" for kk, _ in others):
        others.insert(0, ("T", "untitled"))
    lines = [f"X:{x}"] + [f"{kk}:{v}" for kk, v in others] + [f"K:{k}"] + body
    music = "".join(body)
    if not re.search(r"[A-Ga-g]", music):
        return None
    return "\n".join(lines) + "\n"


def raw_style_tune(raw: str) -> str | None:
    """A tune in its transcriber's header style: every field as written (spacing, order, N:/Z:/S:/O:...),
    comments dropped, music lines as in `normalise_tune`; None if `normalise_tune` refuses it.

    Training-time augmentation only (other collections write headers their own way); the
    splits themselves stay normalised.
    """
    if normalise_tune(raw) is None:
        return None
    lines: list[str] = []
    for line, m, in_body in _tune_lines(raw):
        if m:
            if m.group(2).strip():
                lines.append(line)
            continue
        if in_body:
            lines.append(re.sub(r"[ \t]+", " ", line))
    return "\n".join(lines) + "\n"


_MODES = {"": ("", "maj", "major", "Maj"), "m": ("m", "min", "minor", "Min"), "min": ("m", "min", "minor"),
          "maj": ("", "maj", "major"), "dor": ("dor", "Dor", "dorian"), "mix": ("mix", "Mix", "mixolydian")}
_KEY = re.compile(r"^([A-G][#b]?)\s*(maj|min|m|dor|mix)?$", re.IGNORECASE)


def restyle_header(tune: str, rng: random.Random) -> str:
    """Random header-style variation of one tune: a space after the colon (or not), the key's mode
    spelled another way (G / Gmaj / G major), header field order (X: first, K: last). Music untouched."""
    lines = tune.split("\n")
    k = next((i for i, ln in enumerate(lines) if _FIELD.match(ln) and ln[0] == "K"), None)
    if k is None:
        return tune
    head, body = lines[: k + 1], lines[k + 1 :]
    fields = [(m.group(1), m.group(2).strip()) for ln in head if (m := _FIELD.match(ln))]
    if rng.random() < 0.5 and len(fields) > 3:
        middle = fields[1:-1]
        rng.shuffle(middle)
        fields = [fields[0]] + middle + [fields[-1]]
    key, value = fields[-1]
    hit = _KEY.match(value)
    if hit and rng.random() < 0.5:
        mode = (hit.group(2) or "").lower()
        spellings = _MODES.get(mode)
        if spellings:
            spelled = rng.choice(spellings)
            sep = " " if spelled in ("major", "minor", "dorian", "mixolydian") and rng.random() < 0.5 else ""
            fields[-1] = (key, hit.group(1) + sep + spelled)
    gap = rng.choice(("", " ", " ")) if rng.random() < 0.7 else None
    out = [f"{f}:{gap if gap is not None else rng.choice(('', ' '))}{v}" for f, v in fields]
    return "\n".join(out + body)


def augment_tune(tune: str, raw: str | None, rng: random.Random, p: float) -> str:
    """With probability `p`, the tune as its transcriber wrote its header (when known) or a restyled header."""
    if p <= 0 or rng.random() >= p:
        return tune
    base = raw if raw and rng.random() < 0.6 else tune
    return restyle_header(base, rng) if rng.random() < 0.6 else base


def music_key(tune: str) -> str:
    """What duplicate detection compares: the music lines without spaces (titles and numbers ignored)."""
    body = tune.split("\n")
    start = next((i for i, ln in enumerate(body) if ln.startswith("K:")), 0)
    return re.sub(r"\s+", "", "".join(body[start + 1 :]))


@dataclass
class Corpus:
    """Tunes (or text documents) split into train/val/test, plus where they came from."""

    train: list[str]
    val: list[str]
    test: list[str]
    source: str = "abc"
    stats: dict = field(default_factory=dict)
    train_raw: list[str] = field(default_factory=list)  # train tunes in their raw header style (augmentation)

    def text(self, split: str) -> str:
        """A split as one string; tunes are separated by one blank line."""
        return "\n".join(getattr(self, split))

    def summary(self) -> dict:
        from audio_rnn.music.text import Vocab

        out = {"source": self.source, **self.stats}
        for s in _SPLITS:
            out[f"{s}_tunes"] = len(getattr(self, s))
            out[f"{s}_chars"] = len(self.text(s))
        out["vocabulary"] = len(Vocab.build([self.text("train")]).chars)
        return out


def prepare_abc(
    files: Iterable[Path] | None = None, seed: int = 0, val_frac: float = 0.05, test_frac: float = 0.05
) -> Corpus:
    """Split, normalise, de-duplicate and split by tune (seeded) the ABC files (default: music21's)."""
    files = list(files) if files is not None else music21_abc_files()
    tunes: list[str] = []
    raws: list[str] = []
    seen: set[str] = set()
    raw_count = dropped = dupes = 0
    for f in files:
        text = _fix_c1(Path(f).read_bytes().decode("utf-8", errors="replace"))
        for raw in split_tunes(text):
            raw_count += 1
            tune = normalise_tune(raw)
            if tune is None:
                dropped += 1
                continue
            key = hashlib.sha1(music_key(tune).encode()).hexdigest()
            if key in seen:
                dupes += 1
                continue
            seen.add(key)
            tunes.append(tune)
            raws.append(raw_style_tune(raw) or tune)
    if len(tunes) < 3:
        raise CorpusError(f"only {len(tunes)} usable tunes in {len(files)} files")
    order = list(range(len(tunes)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(tunes) * val_frac))
    n_test = max(1, round(len(tunes) * test_frac))
    test = [tunes[i] for i in order[:n_test]]
    val = [tunes[i] for i in order[n_test : n_test + n_val]]
    train = [tunes[i] for i in order[n_test + n_val :]]
    train_raw = [raws[i] for i in order[n_test + n_val :]]
    stats = {"files": len(files), "raw_tunes": raw_count, "unusable": dropped, "duplicates": dupes, "seed": seed}
    return Corpus(train, val, test, "abc", stats, train_raw)


def prepare_text(path: str | Path) -> Corpus:
    """Any UTF-8 text file as a corpus: one document per split (contiguous train/val/test)."""
    from audio_rnn.music.text import read_text, split_text

    text = read_text(path)
    train, val, test = split_text(text)
    return Corpus([train], [val], [test], str(path), {"files": 1})


def load_prepared(folder: str | Path) -> Corpus:
    """A corpus written by `prepare-corpus` (train.txt, val.txt, test.txt)."""
    folder = Path(folder)
    parts = {}
    for s in _SPLITS:
        p = folder / f"{s}.txt"
        if not p.is_file():
            raise CorpusError(f"prepared corpus is missing {p}")
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusError(f"prepared corpus file is not UTF-8 text: {p} (byte {exc.start})") from None
        parts[s] = [t + "\n" for t in text.rstrip("\n").split("\n\n")] if text.strip() else []
    meta = folder / "stats.json"
    try:
        stats = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"prepared corpus stats are not valid JSON: {meta} ({exc})") from None
    if not isinstance(stats, dict):
        raise CorpusError(f"prepared corpus stats must be a JSON object: {meta}")
    return Corpus(parts["train"], parts["val"], parts["test"], stats.get("source", str(folder)), stats)


def load_corpus(spec: str, seed: int = 0) -> Corpus:
    """`abc` (music21's ABC corpus), a prepared-corpus folder, or any UTF-8 text file."""
    if spec == "abc":
        return prepare_abc(seed=seed)
    p = Path(spec)
    if p.is_dir():
        return load_prepared(p)
    if p.is_file():
        return prepare_text(p)
    raise CorpusError(f"corpus must be 'abc', a prepared folder or a UTF-8 text file; not found: {spec}")


def write_corpus(corpus: Corpus, out: str | Path) -> dict:
    """Write train.txt, val.txt, test.txt and stats.json; returns the statistics."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for s in _SPLITS:
        (out / f"{s}.txt").write_text(corpus.text(s), encoding="utf-8")
    summary = corpus.summary()
    (out / "stats.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# ----------------------------------------------------------------------------- validity


@dataclass
class Validity:
    """Whether a tune is usable, and why not."""

    valid: bool
    reasons: list[str]
    bars: int = 0
    notes: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def header_fields(abc: str) -> dict[str, str]:
    """The header fields of a tune (up to and including K:), first value of each."""
    out: dict[str, str] = {}
    for line in abc.replace("\r\n", "\n").split("\n"):
        m = _FIELD.match(line)
        if not m:
            if out:
                break
            continue
        out.setdefault(m.group(1), m.group(2).strip())
        if m.group(1) == "K":
            break
    return out


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
    context = {m.group(1): ln for ln in lines[: k + 1] if (m := _FIELD.match(ln))}
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
        m = _FIELD.match(line)
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


def check_tune(abc: str, max_chars: int = 20_000) -> Validity:
    """Headers X: T: M: K: present, music21 parses it, every bar matches the meter.

    The first bar (pickup) and the last bar may be short. A short bar at a section
    boundary (repeat, double bar or ending) is accepted when it completes a bar with
    its neighbour or with the pickup (the usual ABC convention). Over-long bars
    are never accepted.
    """
    reasons: list[str] = []
    if not abc or not abc.strip():
        return Validity(False, ["empty tune"])
    if len(abc) > max_chars:
        return Validity(False, [f"longer than {max_chars} characters"])
    fields = header_fields(abc)
    missing = [f"{h}:" for h in REQUIRED_HEADERS if h not in fields]
    if missing:
        reasons.append("missing header " + ", ".join(missing))
    if "K" not in fields:  # invalid anyway; and music21 can spend minutes re-barring header-less music
        return Validity(False, reasons)
    meter = _meter_problem(abc)
    if meter:
        return Validity(False, reasons + [meter])
    warned: list[str] = []
    try:
        bars = written_bars(abc)  # first: fast, and it finds the giant bars that make music21's parse crawl
        giant = [(i, d, f) for i, (d, f, _) in enumerate(bars) if d > MAX_BAR_FACTOR * (f or 4.0)]
        if giant:
            i, d, f = giant[0]
            return Validity(False, reasons + [f"bar {i + 1} lasts {d:g} quarters, the meter says {f or 4.0:g}"])
        score = parse_abc(abc, warned)
    except Exception as exc:  # music21 raises many types on bad ABC
        return Validity(False, reasons + [f"music21 cannot parse it: {type(exc).__name__}: {str(exc)[:120]}"])
    if warned:
        reasons.append(f"music21 could not read {len(warned)} token(s): " + "; ".join(w.strip()[:80] for w in warned[:3]))
    notes = len(list(score.recurse().notes))
    if notes == 0:
        reasons.append("no notes")
    meter_free = fields.get("M", "").lower() in ("none", "")
    if not bars and not meter_free and notes:
        reasons.append("no bars")
    if not meter_free and bars:
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
        if bad:
            reasons.append(f"{len(bad)} bar(s) do not match the meter: " + "; ".join(bad[:3]))
    return Validity(not reasons, reasons, len(bars), notes)


# ----------------------------------------------------------------------------- rendering


def abc_to_midi(abc: str) -> bytes:
    """Standard MIDI file bytes for a tune (music21)."""
    from music21 import midi

    score = parse_abc(abc)
    mf = midi.translate.music21ObjectToMidiFile(score)
    return mf.writestr()


def _synth_notes(abc: str) -> list[tuple[float, float, float]]:
    """(start s, duration s, frequency Hz) of every sounding note, at the tune's tempo (default 120 bpm)."""
    score = parse_abc(abc)
    bpm = 120.0
    marks = list(score.recurse().getElementsByClass("MetronomeMark"))
    if marks and marks[0].getQuarterBPM():
        bpm = float(marks[0].getQuarterBPM())
    spq = 60.0 / bpm
    out = []
    for n in score.flatten().notes:
        if n.duration.quarterLength <= 0:
            continue
        for p in getattr(n, "pitches", []):
            out.append((float(n.offset) * spq, float(n.duration.quarterLength) * spq, float(p.frequency)))
    return out


def synth_wave(abc: str, sr: int = 22050) -> np.ndarray:
    """A small numpy synthesizer: plucked-string-like harmonics with a decaying envelope; float32 mono."""
    notes = _synth_notes(abc)
    if not notes:
        return np.zeros(sr // 2, dtype=np.float32)
    end = max(s + d for s, d, _ in notes) + 0.5
    out = np.zeros(int(end * sr) + 1, dtype=np.float32)
    for start, dur, freq in notes:
        n = int((dur + 0.15) * sr)
        t = np.arange(n, dtype=np.float32) / sr
        wave = sum((0.6**k) * np.sin(2 * np.pi * freq * (k + 1) * t) for k in range(4))
        env = np.exp(-3.0 * t / max(dur, 0.1)) * np.minimum(1.0, t / 0.005)
        i = int(start * sr)
        seg = (wave * env).astype(np.float32)
        out[i : i + len(seg)] += seg[: len(out) - i]
    peak = float(np.max(np.abs(out))) or 1.0
    return (0.8 * out / peak).astype(np.float32)


def _wav_bytes(wave: np.ndarray, sr: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _compact_wav(data: bytes, sr: int) -> bytes:
    """fluidsynth writes 44.1 kHz stereo with a long silent tail: make it mono at `sr`, tail trimmed."""
    import soundfile as sf

    x, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if rate != sr:
        import soxr

        x = soxr.resample(x, rate, sr)
    loud = np.flatnonzero(np.abs(x) > 1e-3)
    end = min(len(x), (int(loud[-1]) if len(loud) else 0) + sr // 2)
    return _wav_bytes(np.clip(x[: max(end, sr // 2)], -1, 1).astype(np.float32), sr)


def abc_to_wav(abc: str, sr: int = 22050, synth: str = "auto") -> bytes:
    """WAV bytes: fluidsynth with the GM soundfont when installed ('auto'/'fluidsynth'), else the numpy synth."""
    exe = shutil.which("fluidsynth")
    if synth != "numpy" and exe and SOUNDFONT.is_file():
        midi_bytes = abc_to_midi(abc)
        with tempfile.TemporaryDirectory(prefix="audio_rnn_render_") as tmp:
            mid, wav = Path(tmp) / "tune.mid", Path(tmp) / "tune.wav"
            mid.write_bytes(midi_bytes)
            cmd = [exe, "-ni", "-q", "-g", "0.8", "-r", str(sr), "-F", str(wav), str(SOUNDFONT), str(mid)]
            proc = subprocess.run(cmd, capture_output=True, timeout=120)
            if proc.returncode == 0 and wav.is_file() and wav.stat().st_size > 44:
                return _compact_wav(wav.read_bytes(), sr)
        if synth == "fluidsynth":
            raise RuntimeError(f"fluidsynth failed: {proc.stderr.decode(errors='replace')[:200]}")
    return _wav_bytes(synth_wave(abc, sr), sr)


_VEROVIO_LOCK = threading.Lock()


def render_svg(abc: str, page_width: int = 2100, scale: int = 40) -> str:
    """Engraved score as one SVG string (verovio), safe to call from any thread.

    The tune goes ABC -> music21 -> MusicXML -> verovio: verovio's own ABC reader
    aborts the whole process on some malformed tunes (seen with generated text),
    while music21 refuses them with an exception. verovio.toolkit() in a non-main
    thread cannot find its fonts and renders an empty page, so the toolkit is
    created without resources and pointed at the package's data folder explicitly.
    """
    import verovio
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    score = parse_abc(abc)  # raises on ABC that music21 cannot read
    if not list(score.recurse().notes):
        raise ValueError("the tune has no notes to engrave")
    xml = GeneralObjectExporter(score).parse().decode("utf-8")
    opts = {"pageWidth": page_width, "scale": scale, "adjustPageHeight": True, "pageHeight": 60000,
            "header": "auto", "footer": "none", "breaks": "auto", "inputFrom": "musicxml"}
    with _VEROVIO_LOCK:
        verovio.enableLog(verovio.LOG_ERROR)  # its import warnings (open ties, bar styles) are not ours to print
        tk = verovio.toolkit(False)
        tk.setResourcePath(str(Path(verovio.__file__).resolve().parent / "data"))
        tk.setOptions(opts)
        if not tk.loadData(xml) or tk.getPageCount() == 0:
            raise ValueError("verovio could not engrave this tune")
        return "".join(tk.renderToSVG(p) for p in range(1, tk.getPageCount() + 1))


def render_files(abc: str, out: str | Path, stem: str) -> dict[str, str]:
    """Write stem.abc, .mid, .wav, .svg into `out`; returns the paths (a failed step is reported, not raised)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    (out / f"{stem}.abc").write_text(abc, encoding="utf-8")
    paths["abc"] = str(out / f"{stem}.abc")
    for ext, fn in (("mid", abc_to_midi), ("wav", abc_to_wav)):
        try:
            (out / f"{stem}.{ext}").write_bytes(fn(abc))
            paths[ext] = str(out / f"{stem}.{ext}")
        except Exception as exc:  # an invalid generated tune may not render; say so
            paths[f"{ext}_error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    try:
        (out / f"{stem}.svg").write_text(render_svg(abc), encoding="utf-8")
        paths["svg"] = str(out / f"{stem}.svg")
    except Exception as exc:
        paths["svg_error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    return paths


# ----------------------------------------------------------------------------- commands


def configure_prepare_corpus(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", default="abc", help="'abc' (music21's ABC files, default) or a UTF-8 text file")
    p.add_argument("--out", required=True, help="folder for train.txt, val.txt, test.txt, stats.json")
    p.add_argument("--seed", type=int, default=0, help="seed of the split by tune")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")


def run_prepare_corpus(args: argparse.Namespace) -> int:
    corpus = prepare_abc(seed=args.seed) if args.corpus == "abc" else prepare_text(args.corpus)
    stats = write_corpus(corpus, args.out)
    if args.json:
        print(json.dumps(stats))
    else:
        for k, v in stats.items():
            print(f"{k:>14}: {v}")
    return 0


def configure_render(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="an ABC file (the first tune is rendered; '-' reads stdin)")
    p.add_argument("--out", required=True, help="folder for .abc, .mid, .wav, .svg")
    p.add_argument("--json", action="store_true", help="print paths and validity as JSON")


def run_render(args: argparse.Namespace) -> int:
    import sys

    if args.file == "-":
        text = sys.stdin.read()
    else:
        from audio_rnn.music.text import read_text

        text = read_text(args.file)
    tunes = split_tunes(text) or [text]
    abc = tunes[0].strip() + "\n"
    validity = check_tune(abc)
    stem = Path(args.file).stem if args.file != "-" else "tune"
    paths = render_files(abc, args.out, stem)
    if args.json:
        print(json.dumps({**paths, **validity.to_dict()}))
    else:
        print(("valid" if validity.valid else "invalid: " + "; ".join(validity.reasons)))
        for k, v in paths.items():
            print(f"{k}: {v}")
    return 0


# ----------------------------------------------------------------------------- bar lengths while sampling

_NOTE_RE = re.compile(
    r"(?P<tup>\((?P<p>\d)(?::(?P<q>\d*))?(?::(?P<r>\d*))?)"
    r"|(?P<chord>\[(?P<inner>[^\]]*)\])(?P<clen>\d*/*\d*)"
    r"|(?P<note>(?:\^{1,2}|_{1,2}|=)?[A-Ga-gzx][,']*)(?P<nlen>\d*/*\d*)"
    r"|(?P<broken>[<>]{1,3})"
)
_TUPLET_Q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}


def _length(s: str) -> Fraction:
    """ABC length suffix: '' 1, '2' 2, '/' 1/2, '//' 1/4, '/3' 1/3, '3/2' 3/2."""
    if not s:
        return Fraction(1)
    num, _, rest = s.partition("/")
    n = Fraction(int(num)) if num else Fraction(1)
    if "/" not in s:
        return n
    slashes = 1 + rest.count("/")
    den = rest.replace("/", "")
    return n / (int(den) if den else 2 ** slashes)


def meter_quarters(meter: str) -> Fraction | None:
    """Bar length in quarter notes of an M: value ('6/8' -> 3, 'C' -> 4, 'C|' -> 4, 'none' -> None)."""
    m = meter.strip()
    if m == "C":
        return Fraction(4)
    if m == "C|":
        return Fraction(4)
    hit = re.match(r"^(\d+(?:\+\d+)*)/(\d+)", m)
    if not hit:
        return None
    num = sum(int(x) for x in hit.group(1).split("+"))
    return Fraction(4 * num, int(hit.group(2))) if int(hit.group(2)) else None


def bar_quarters(bar: str, unit: Fraction) -> Fraction | None:
    """Duration in quarter notes of the music of one bar (unit = L: as a fraction of a whole note).

    A light reading of ABC for the sampler's meter guard: chord symbols,
    decorations, grace notes and inline fields are skipped; broken rhythms,
    tuplets and chords count. None when the bar is unfinished (an open quote, brace...).
    """
    s = bar
    for a, b in (('"', '"'), ("!", "!"), ("{", "}")):
        if s.count(a) != s.count(b) if a != b else s.count(a) % 2:
            return None
    s = re.sub(r'"[^"]*"', "", s)
    s = re.sub(r"![^!]*!", "", s)
    s = re.sub(r"\{[^}]*\}", "", s)
    s = re.sub(r"\[[A-Za-z]:[^\]]*\]", "", s)
    if s.count("[") != s.count("]"):
        return None
    lengths: list[Fraction] = []
    pending_broken: Fraction | None = None
    tuplet_left, tuplet_factor = 0, Fraction(1)
    for m in _NOTE_RE.finditer(s):
        if m.group("tup"):
            p = int(m.group("p"))
            q = int(m.group("q")) if m.group("q") else _TUPLET_Q.get(p, 2)
            tuplet_left = int(m.group("r")) if m.group("r") else p
            tuplet_factor = Fraction(q, p) if p else Fraction(1)
            continue
        if m.group("broken"):
            sym = m.group("broken")
            dots = len(sym)
            long_, short = 2 - Fraction(1, 2**dots), Fraction(1, 2**dots)
            if lengths:
                first, second = (long_, short) if sym[0] == ">" else (short, long_)
                lengths[-1] *= first
                pending_broken = second
            continue
        if m.group("chord"):
            inner = _NOTE_RE.search(m.group("inner"))
            base = _length(inner.group("nlen")) if inner and inner.group("note") else Fraction(1)
            length = base * _length(m.group("clen"))
        else:
            length = _length(m.group("nlen"))
        if pending_broken is not None:
            length *= pending_broken
            pending_broken = None
        if tuplet_left > 0:
            length *= tuplet_factor
            tuplet_left -= 1
        lengths.append(length)
    return sum(lengths, Fraction(0)) * unit * 4


_BAR_LEAD = re.compile(r"^(?:[:|\]]|\[(?=\d))*\d*(?:[,-]\d+)*")  # bar-line rests and ending numbers


@dataclass
class MeterGuard:
    """Follows a tune being written and judges each bar as it closes (for sampling with backtracking)."""

    unit: Fraction | None = None
    full: Fraction | None = None
    meter_seen: bool = False
    in_body: bool = False
    bars: int = 0
    pickup: Fraction = Fraction(0)

    def header_line(self, line: str) -> None:
        """Read a completed line: M:, L: and K: (the body starts after K:)."""
        m = _FIELD.match(line)
        if not m:
            return
        key, value = m.group(1), m.group(2)
        if key == "M":
            self.full = meter_quarters(value)
            self.meter_seen = True
        elif key == "L":
            try:
                self.unit = Fraction(value.strip())
            except (ValueError, ZeroDivisionError):
                self.unit = None
        elif key == "K":
            self.in_body = True

    def _unit(self) -> Fraction:
        if self.unit is not None:
            return self.unit
        if self.full is not None and self.full / 4 < Fraction(3, 4):
            return Fraction(1, 16)
        return Fraction(1, 8)

    def judge(self, bar_text: str, repeat: bool) -> str:
        """'accept', 'reject' or 'empty' for the bar text between two bar lines."""
        if not self.in_body or self.full is None:
            return "accept"
        body = _BAR_LEAD.sub("", bar_text)
        d = bar_quarters(body, self._unit())
        if d is None:
            return "accept"
        if d == 0:
            return "empty"
        if d > self.full:
            return "reject"
        if d == self.full:
            self.bars += 1
            return "accept"
        if self.bars == 0:  # the pickup
            self.bars += 1
            self.pickup = d
            return "accept"
        if repeat and self.pickup and d + self.pickup == self.full:  # a part ending ":|" that completes the pickup
            self.bars += 1
            return "accept"
        return "reject"

    def bar_length(self, bar_text: str) -> Fraction | None:
        """Quarter notes written so far in the current bar (None outside the body or when unreadable)."""
        if not self.in_body or self.full is None:
            return None
        return bar_quarters(_BAR_LEAD.sub("", bar_text), self._unit())

    def full_at_line_end(self, bar_text: str) -> bool:
        """A line ending with a full bar closes it (the implicit bar line of Essen-style files)."""
        if not self.in_body or self.full is None:
            return False
        body = _BAR_LEAD.sub("", bar_text)
        return bar_quarters(body, self._unit()) == self.full
