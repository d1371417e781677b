"""ABC folk tunes: the corpus, a validity checker, and rendering to MIDI, WAV and an engraved SVG score.

Corpus: the ABC files shipped in music21's corpus, split into single tunes and
normalised (only X: T: M: L: K: R: headers; comments, lyrics and other fields
dropped; "\\n" line endings), de-duplicated on their music, and split by tune
into train/val/test with a seed. Validity: headers present, music21 parses
it, and every bar but the pickup and the last lasts what the meter says.
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
from typing import Iterable

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


def normalise_tune(raw: str) -> str | None:
    """One tune in canonical form (X first, K last in the header), or None if unusable.

    Keeps X: T: M: L: R: K: headers as `F:value`; drops comments, lyrics (w:/W:),
    directives and other fields; refuses multi-voice tunes (V:) and tunes without
    K:, M: or any music.
    """
    header: list[tuple[str, str]] = []
    body: list[str] = []
    in_body = False
    for line in raw.split("\n"):
        if line.startswith("%"):
            continue
        line = _strip_comment(line)
        if not line.strip():
            if in_body:
                break  # a blank line ends the tune
            continue
        m = _FIELD.match(line)
        if m and not line.startswith("|"):
            key, value = m.group(1), m.group(2).strip()
            if key == "V":
                return None
            if not in_body:
                if key in KEEP_HEADERS and value:
                    header.append((key, value))
                if key == "K":
                    in_body = True
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

    def text(self, split: str) -> str:
        """A split as one string; tunes are separated by one blank line."""
        return "\n".join(getattr(self, split))

    def summary(self) -> dict:
        from audio_rnn.text import Vocab

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
    if len(tunes) < 3:
        raise CorpusError(f"only {len(tunes)} usable tunes in {len(files)} files")
    order = list(range(len(tunes)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(tunes) * val_frac))
    n_test = max(1, round(len(tunes) * test_frac))
    test = [tunes[i] for i in order[:n_test]]
    val = [tunes[i] for i in order[n_test : n_test + n_val]]
    train = [tunes[i] for i in order[n_test + n_val :]]
    stats = {"files": len(files), "raw_tunes": raw_count, "unusable": dropped, "duplicates": dupes, "seed": seed}
    return Corpus(train, val, test, "abc", stats)


def prepare_text(path: str | Path) -> Corpus:
    """Any UTF-8 text file as a corpus: one document per split (contiguous train/val/test)."""
    from audio_rnn.text import read_text, split_text

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
        text = p.read_text(encoding="utf-8")
        parts[s] = [t + "\n" for t in text.rstrip("\n").split("\n\n")] if text.strip() else []
    meta = folder / "stats.json"
    stats = json.loads(meta.read_text()) if meta.is_file() else {}
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
