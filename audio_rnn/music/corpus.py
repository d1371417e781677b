"""ABC folk tunes as a training corpus, and the `prepare-corpus` command.

The ABC files shipped in music21's corpus, split into single tunes and
normalised (only X: T: M: L: K: R: headers; comments, lyrics and other fields
dropped; "\\n" line endings), de-duplicated on their music, and split by tune
into train/val/test with a seed. For training only, each train tune also keeps
its header as its transcriber wrote it (all fields, spacing), so the trainer
can show a share of tunes in other header styles (`raw_style_tune`,
`restyle_header`, `augment_tune`); validation and test stay normalised.
A plain UTF-8 text file is a corpus too (`prepare_text`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from audio_rnn.errors import CorpusError
from audio_rnn.music.notation import BODY_FIELDS, FIELD_LINE, KEEP_HEADERS, split_tunes


_SPLITS = ("train", "val", "test")


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
        m = FIELD_LINE.match(line)
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
    k = next((i for i, ln in enumerate(lines) if FIELD_LINE.match(ln) and ln[0] == "K"), None)
    if k is None:
        return tune
    head, body = lines[: k + 1], lines[k + 1 :]
    fields = [(m.group(1), m.group(2).strip()) for ln in head if (m := FIELD_LINE.match(ln))]
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
    train_from: list[str] = field(default_factory=list)  # the collection (folder) each train tune came from
    val_from: list[str] = field(default_factory=list)  # ... each val tune
    test_from: list[str] = field(default_factory=list)  # ... each test tune

    def text(self, split: str) -> str:
        """A split as one string; tunes are separated by one blank line."""
        return "\n".join(getattr(self, split))

    def from_collections(self, split: str, names: tuple[str, ...]) -> list[str]:
        """The tunes of `split` whose collection (folder) name contains one of `names` (all when empty)."""
        tunes, origins = getattr(self, split), getattr(self, f"{split}_from")
        if not names:
            return list(tunes)
        if len(origins) != len(tunes):
            raise CorpusError("this corpus does not know the collection of its tunes (use the 'abc' corpus)")
        return [t for t, src in zip(tunes, origins) if any(n in src for n in names)]

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
    origins: list[str] = []
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
            origins.append(Path(f).parent.name)
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
    train_from = [origins[i] for i in order[n_test + n_val :]]
    val_from = [origins[i] for i in order[n_test : n_test + n_val]]
    test_from = [origins[i] for i in order[:n_test]]
    stats = {"files": len(files), "raw_tunes": raw_count, "unusable": dropped, "duplicates": dupes, "seed": seed}
    return Corpus(train, val, test, "abc", stats, train_raw, train_from, val_from, test_from)


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
