"""Keyword data: real FSDD speech, the espeak-ng set, users' folders, Speech Commands, and silence.

Every source becomes a list of `Clip`s: a 16 kHz mono waveform with its label,
speaker and split, decoded once (the training loop augments and featurises
them per epoch). Labels outside the ten digits map to `_unknown_`.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from audio_rnn.audio.rates import DEFAULT_SR
from audio_rnn.errors import AudioError, DataError

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
LABELS = (*DIGITS, SILENCE, UNKNOWN)
COMMAND_LABELS = (*COMMANDS, SILENCE, UNKNOWN)  # the 12 classes of TensorFlow's speech_commands task
VOCABULARIES = {"digits": LABELS, "commands": COMMAND_LABELS}
SC_VAL_FRACTION = 0.2  # share of Speech Commands speakers held out (by a fixed hash) for validation
REAL_SOURCES = ("fsdd", "speechcommands", "folder")  # recorded by people (not espeak-ng or drawn noise)
SR = DEFAULT_SR
WINDOW = SR  # one-second windows, like Speech Commands
FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
AUDIO_EXT = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}


@dataclass
class Clip:
    """One labelled recording at 16 kHz."""

    wave: np.ndarray
    label: str
    speaker: str
    source: str  # fsdd | espeak | folder | speechcommands | silence
    split: str = "train"  # train | val | test
    name: str = ""
    origin: str = ""  # the data folder it came from (e.g. speech_commands_v0.01): scored per origin


def word_of(clip: Clip) -> str:
    """The word a clip says (its folder or espeak-ng word), whatever its label: `_unknown_` is balanced by it."""
    head = clip.name.split("/")[0] if "/" in clip.name else ""
    if clip.source == "espeak":
        return clip.name.split("/")[-1].rsplit("_", 1)[0]
    return head or clip.label


def exclude_words(clips: Iterable[Clip], words: Iterable[str]) -> list[Clip]:
    """Drop espeak-ng clips of the given words (e.g. accent variants of a keyword, like "tree" for "three")."""
    drop = {w.strip() for w in words if w.strip()}
    return [c for c in clips if not (c.source == "espeak" and c.name.split("/")[-1].rsplit("_", 1)[0] in drop)]


def map_label(label: str, labels: Iterable[str] = LABELS) -> str:
    """A folder/word name as a model label: known labels stay, other words become `_unknown_`."""
    labels = tuple(labels)
    if label in labels:
        return label
    if label in ("_background_noise_", "silence", "_silence"):
        return SILENCE
    return UNKNOWN


def load_wave(path: Path, max_seconds: float = 30.0) -> np.ndarray:
    """A file as mono float32 at the keyword models' rate (16 kHz), at most `max_seconds` long."""
    from audio_rnn.audio.decode import load_audio

    return load_audio(path, sr=SR, max_seconds=max_seconds)


# ----------------------------------------------------------------------------- FSDD


def fsdd_files(root: str | Path) -> list[tuple[Path, str, str]]:
    """(path, label, speaker) for every `{digit}_{speaker}_{take}.wav` under `root`."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"FSDD folder not found: {root}")
    if (root / "recordings").is_dir():
        root = root / "recordings"
    out = []
    for p in sorted(root.glob("*.wav")):
        m = FSDD_NAME.match(p.name)
        if m:
            out.append((p, DIGITS[int(m.group(1))], m.group(2)))
    if not out:
        raise DataError(f"no FSDD files named {{digit}}_{{speaker}}_{{take}}.wav in {root}")
    return out


def fsdd_speakers(root: str | Path) -> list[str]:
    return sorted({s for _, _, s in fsdd_files(root)})


def load_fsdd(root: str | Path, speakers: Iterable[str] | None = None, holdout: Iterable[str] = (),
              progress: bool = False, val_speakers: Iterable[str] = ()) -> list[Clip]:
    """FSDD clips resampled to 16 kHz; speakers in `holdout` get split 'test', those in `val_speakers` 'val'
    (an FSDD voice to choose the epoch by, so the test speaker never is)."""
    from tqdm import tqdm

    keep = set(speakers) if speakers is not None else None
    hold, val = set(holdout), set(val_speakers)
    files = [f for f in fsdd_files(root) if keep is None or f[2] in keep]
    return [Clip(load_wave(p), label, spk, "fsdd", "test" if spk in hold else "val" if spk in val else "train",
                 p.name, "fsdd")
            for p, label, spk in tqdm(files, desc="FSDD", disable=not progress, unit="clip")]


# ----------------------------------------------------------------------------- espeak-ng set


def load_synth(root: str | Path, splits: Iterable[str] | None = None, progress: bool = False) -> list[Clip]:
    """The espeak-ng set written by `synth-speech` (manifest.jsonl); the speaker is the voice."""
    from tqdm import tqdm

    root = Path(root)
    manifest = root / "manifest.jsonl"
    if not manifest.is_file():
        raise DataError(f"no manifest.jsonl in {root} (write one with `audio-rnn synth-speech --out {root}`)")
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    want = set(splits) if splits is not None else None
    rows = [r for r in rows if want is None or r["split"] in want]
    return [Clip(load_wave(root / r["path"]), r["label"], r["voice"], "espeak", r["split"], r["path"],
                 root.name)
            for r in tqdm(rows, desc="espeak-ng set", disable=not progress, unit="clip")]


# ----------------------------------------------------------------------------- user folders


def _hash_split(key: str, val_fraction: float) -> str:
    """A stable pseudo-random split from a name (speaker if known), independent of file order."""
    return "val" if (zlib.crc32(key.encode()) % 1000) < val_fraction * 1000 else "train"


def load_folder(root: str | Path, labels: Iterable[str] | None = LABELS, val_fraction: float = 0.15,
                progress: bool = False, source: str = "folder") -> list[Clip]:
    """`root/<label>/*.wav` (any decodable audio). With `labels`, other folder names map to `_unknown_`.

    The speaker is the part of the file name before `_nohash_` or the first `_`
    when present, so the validation split is speaker-disjoint where names allow.
    Unreadable files are skipped with a warning instead of stopping training.
    """
    import sys

    from tqdm import tqdm

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    files = sorted(p for p in root.glob("*/*") if p.suffix.lower() in AUDIO_EXT and p.is_file())
    if not files:
        raise DataError(f"no audio files in {root}/<label>/ (expected root/<label>/*.wav)")
    clips = []
    for p in tqdm(files, desc=f"folder {root.name}", disable=not progress, unit="clip"):
        label = p.parent.name if labels is None else map_label(p.parent.name, labels)
        speaker = p.stem.split("_nohash_")[0] if "_nohash_" in p.stem else p.stem.split("_")[0]
        try:
            wave = load_wave(p)
        except AudioError as exc:
            print(f"skipping {p}: {exc.one_line()}", file=sys.stderr)
            continue
        name = f"{p.parent.name}/{p.name}"
        if label == SILENCE:
            clips.extend(Clip(w, label, speaker, source, _hash_split(f"{speaker}{i}", val_fraction), name,
                              root.name) for i, w in enumerate(chunks(wave, WINDOW)))
        else:
            clips.append(Clip(wave, label, speaker, source, _hash_split(speaker, val_fraction), name, root.name))
    if not clips:
        raise DataError(f"no usable audio in {root}")
    return clips


def chunks(x: np.ndarray, length: int) -> list[np.ndarray]:
    """Non-overlapping `length`-sample pieces of a long recording (at least one)."""
    n = max(1, len(x) // length)
    return [x[i * length:(i + 1) * length] for i in range(n)]


# ----------------------------------------------------------------------------- Speech Commands


def load_speech_commands(root: str | Path, labels: Iterable[str] = LABELS, max_per_label: int | None = None,
                         url: str = "speech_commands_v0.02", progress: bool = False) -> list[Clip]:
    """Google Speech Commands through torchaudio's SPEECHCOMMANDS index (never downloads).

    Its official validation/testing lists give speaker-disjoint splits; words that
    are not labels become `_unknown_`; `_background_noise_` files become silence.
    """
    from tqdm import tqdm
    from torchaudio.datasets import SPEECHCOMMANDS

    root = Path(root)
    try:
        subsets = {s: SPEECHCOMMANDS(str(root), url=url, download=False, subset=s)
                   for s in ("training", "validation", "testing")}
    except (RuntimeError, FileNotFoundError) as exc:
        raise DataError(f"Speech Commands not found under {root}: {exc}") from None
    split_name = {"training": "train", "validation": "val", "testing": "test"}
    clips: list[Clip] = []
    counts: dict[tuple[str, str], int] = {}
    for subset, ds in subsets.items():
        for n in tqdm(range(len(ds)), desc=f"speech commands {subset}", disable=not progress, unit="clip"):
            rel, _, word, speaker, _ = ds.get_metadata(n)
            label = map_label(word, labels)
            key = (subset, label)
            if max_per_label is not None and counts.get(key, 0) >= max_per_label:
                continue
            counts[key] = counts.get(key, 0) + 1
            full = Path(ds._archive) / rel
            clips.append(Clip(load_wave(full), label, speaker, "speechcommands", split_name[subset],
                              full.relative_to(ds._path).as_posix()))
    noise_dir = Path(subsets["training"]._path) / "_background_noise_"
    for p in sorted(noise_dir.glob("*.wav")) if noise_dir.is_dir() else []:
        for i, w in enumerate(chunks(load_wave(p, max_seconds=600), WINDOW)):
            clips.append(Clip(w, SILENCE, p.stem, "speechcommands", _hash_split(f"{p.stem}{i}", 0.15), p.name))
    if not clips:
        raise DataError(f"Speech Commands under {root} holds no clips")
    return clips


def is_speech_commands(root: Path) -> bool:
    return (root / "SpeechCommands").is_dir()


def is_speech_commands_folder(root: Path) -> bool:
    """A folder in the Speech Commands clip layout, `<word>/<speaker>_nohash_<n>.wav|flac` (like ../shared's)."""
    return any(True for ext in ("wav", "flac") for _ in root.glob(f"*/*_nohash_*.{ext}"))


LEVEL_PEAK = 0.6  # v0.02's typical clip peak (0.5-0.7); v0.01's older pipeline left 0.33-0.44
CUT_DB = -30.0  # a word's extent: frames within this of the clip's loudest
CUT_MARGIN = 0.05  # seconds kept either side of it


def level_and_cut(x: np.ndarray, peak: float = LEVEL_PEAK, cut_db: float = CUT_DB,
                  margin: float = CUT_MARGIN, sr: int = SR) -> np.ndarray:
    """A word clip cut to where it is within `cut_db` of its loudest 10 ms (plus margins), peak at `peak`.

    Speech Commands' releases cut and levelled clips differently (v0.01 quieter and looser); training passes
    every real word clip through the same cut and level, so the two pipelines look alike and a cut word can
    be placed anywhere in the window (a whole one-second clip cannot move).
    """
    x = np.asarray(x, np.float32)
    hop = sr // 100
    n = len(x) // hop
    if n == 0 or not np.any(x):
        return x
    e = 10 * np.log10(np.mean(np.square(x[:n * hop].reshape(n, hop), dtype=np.float64), axis=1) + 1e-12)
    on = np.flatnonzero(e >= e.max() + cut_db)
    m = int(margin * sr)
    y = x[max(0, on[0] * hop - m):min(len(x), (on[-1] + 1) * hop + m)]
    return (y * (peak / (np.max(np.abs(y)) + 1e-9))).astype(np.float32)


def load_speech_commands_folder(root: str | Path, labels: Iterable[str] = LABELS,
                                val_fraction: float = SC_VAL_FRACTION, progress: bool = False) -> list[Clip]:
    """Speech Commands clips as `<word>/<speaker>_nohash_<n>.wav`: a fixed ~20% of speakers become 'val'.

    The split hashes the speaker id, so it never depends on which files are present and no speaker is ever
    on both sides, across releases too (v0.01 and v0.02 share speaker hashes). `_silence_` clips are real
    backgrounds. Clips stay as recorded (validation scores what users bring); training cuts them (`level_and_cut`).
    """
    return load_folder(root, labels, val_fraction=val_fraction, progress=progress, source="speechcommands")


def load_any(root: str | Path, labels: Iterable[str] = LABELS, holdout: Iterable[str] = (),
             progress: bool = False, val_speakers: Iterable[str] = ()) -> list[Clip]:
    """Recognise a data folder (espeak-ng manifest, FSDD recordings, Speech Commands, or root/<label>/)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    if (root / "manifest.jsonl").is_file():
        return load_synth(root, progress=progress)
    if (root / "recordings").is_dir() and any(FSDD_NAME.match(p.name) for p in (root / "recordings").glob("*.wav")):
        root = root / "recordings"
    if any(FSDD_NAME.match(p.name) for p in root.glob("*.wav")):
        return load_fsdd(root, holdout=holdout, progress=progress, val_speakers=val_speakers)
    if is_speech_commands(root):
        return load_speech_commands(root, labels, progress=progress)
    if is_speech_commands_folder(root):
        return load_speech_commands_folder(root, labels, progress=progress)
    return load_folder(root, labels, progress=progress)


# ----------------------------------------------------------------------------- silence


SILENCE_KINDS = ("digital", "white", "pink", "brown", "hum", "room")


def silence_clip(rng: np.random.Generator, length: int = WINDOW, sr: int = SR, kind: str | None = None) -> np.ndarray:
    """One background clip: digital silence, white/pink/brown noise, mains hum or room tone, random level."""
    from audio_rnn.audio.augment import colored_noise, hum

    kind = kind or str(rng.choice(SILENCE_KINDS))
    if kind == "digital":
        return np.zeros(length, np.float32)
    level = 10 ** (rng.uniform(-70, -12) / 20)  # RMS from near-silent to loud
    if kind in ("white", "pink", "brown"):
        y = colored_noise(length, kind, rng)
    elif kind == "hum":
        y = hum(length, sr, rng) + 0.1 * colored_noise(length, "white", rng)
    else:  # room tone: brown + pink rumble, faint hum, slow level drift
        y = colored_noise(length, "brown", rng) + 0.5 * colored_noise(length, "pink", rng)
        y = y + rng.uniform(0, 0.3) * hum(length, sr, rng)
        y = y * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 1.0) * np.arange(length) / sr))
        y = y / (np.sqrt(np.mean(y**2)) + 1e-12)
    return np.clip(y * level, -1, 1).astype(np.float32)


def silence_clips(n: int, seed: int, split: str = "train") -> list[Clip]:
    """`n` silence clips drawn from a seed (cycling through every kind)."""
    rng = np.random.default_rng(seed)
    return [Clip(silence_clip(rng, kind=SILENCE_KINDS[i % len(SILENCE_KINDS)]), SILENCE, "noise", "silence", split,
                 f"{SILENCE_KINDS[i % len(SILENCE_KINDS)]}_{i}") for i in range(n)]


# ----------------------------------------------------------------------------- windows for the model


def window_start(x: np.ndarray, length: int = WINDOW) -> int:
    """Where the model's window starts in a clip, in samples: its loudest `length` samples, or (negative)
    a short clip centred in zeros."""
    if len(x) <= length:
        return -((length - len(x)) // 2)
    energy = np.concatenate([[0.0], np.cumsum(np.square(x, dtype=np.float64))])
    return int(np.argmax(energy[length:] - energy[:-length]))


def fit_window(x: np.ndarray, length: int = WINDOW) -> np.ndarray:
    """A clip as exactly one model window: short clips centred in zeros, long ones cut to their loudest part."""
    x = np.asarray(x, dtype=np.float32)
    start = window_start(x, length)
    if start < 0:
        out = np.zeros(length, np.float32)
        out[-start:-start + len(x)] = x
        return out
    return x[start:start + length].copy()


def load_training_clips(dirs: Iterable[str | Path], labels: Sequence[str], holdout: Sequence[str] = (),
                        excluded: Iterable[str] = (), progress: bool = False, keep_test: bool = True,
                        val_speakers: Sequence[str] = ()) -> list[Clip]:
    """Every clip of the data folders for training: FSDD `holdout` speakers kept out, FSDD `val_speakers` in
    validation, espeak-ng `excluded` words left out, and (unless `keep_test`) each source's test split dropped.
    Raises when nothing is left."""
    clips: list[Clip] = []
    for d in dirs:
        clips.extend(c for c in load_any(d, labels, holdout=holdout, progress=progress, val_speakers=val_speakers)
                     if keep_test or c.split != "test")
    excluded = sorted(set(excluded))
    if excluded:
        clips = exclude_words(clips, excluded)
    if not clips:
        raise DataError("no training clips found")
    return clips
