"""Synthetic speech with espeak-ng: the ten digits and other words (the `_unknown_` class), many voices.

Every clip draws an accent (espeak-ng English voice), a voice variant (male,
female, whispery, robotic, ...), a speaking rate and a pitch. Variants are split
into train / val / test groups so validation voices are never heard in training.
Unknown words that espeak-ng pronounces exactly like a digit in that accent
("ate" = "eight") are skipped: the same sound cannot carry two labels.

The set is written as `out/<label>/<word>_<n>.wav` (16 kHz, so the folder layout
works too) with `manifest.jsonl`; the same seed gives the same files.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from audio_rnn.audio.rates import DEFAULT_SR
from audio_rnn.keywords.data import DIGITS

COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")

# near-misses of the digits first, then common command words and other short words
UNKNOWN_WORDS = (
    "tree", "free", "for", "won", "ate", "nein", "sick", "then", "ten", "twin", "to", "hero", "nine-teen",
    "eleven", "twenty", "hundred", "heaven", "seventy", "often", "fine", "wine", "line", "sign", "hate",
    "gate", "weight", "fever", "bone", "done", "gone", "sun", "when", "true", "who", "new", "zebra",
    "fix", "mix", "sex", "sticks", "fire", "wife", "fly", "yes", "no", "up", "down", "left", "right",
    "on", "off", "stop", "go", "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "wow",
    "learn", "follow", "forward", "backward", "visual", "tea", "thing", "tent", "sieve",
)

# for the commands vocabulary: near-misses of the ten commands first, then the digits and other short words
COMMAND_UNKNOWN_WORDS = (
    "yeah", "yet", "yep", "less", "guess", "know", "now", "nose", "note", "snow", "cup", "us", "pup", "town",
    "dawn", "clown", "brown", "lift", "lived", "loft", "bright", "night", "white", "light", "own", "in",
    "an", "of", "cough", "often", "stock", "top", "shop", "step", "spot", "goal", "goat", "ghost", "oh", "so",
    "toe", "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow", "learn", "follow",
    "forward", "backward", "visual", *DIGITS,
)
VOCABULARY_WORDS = {"digits": (DIGITS, UNKNOWN_WORDS), "commands": (COMMANDS, COMMAND_UNKNOWN_WORDS)}

ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")

# espeak-ng voice variants (`-v accent+variant`); "" is the accent's own voice
VARIANTS = (
    "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "croak", "whisper",
    "whisperf", "klatt", "klatt2", "klatt3", "klatt4", "klatt6", "grandma", "grandpa", "adam", "Alex",
    "Alicia", "Andrea", "Andy", "Annie", "aunty", "belinda", "benjamin", "boris", "caleb", "david",
    "Denis", "ed", "edward", "Gene", "Gene2", "Hugo", "iven", "iven2", "iven3", "Jacky", "john",
    "Lee", "linda", "Marco", "max", "Michael", "Mike", "Mr", "norbert", "paul", "pedro", "quincy",
    "rob", "robert", "sandro", "shelby", "steph", "steph2", "steph3", "travis", "victor", "zac", "anika",
)
# held-out voices: val drives early stopping, test is only reported
VAL_VARIANTS = frozenset({"m3", "f2", "klatt3", "Annie", "edward", "linda", "max"})
TEST_VARIANTS = frozenset({"m6", "f4", "klatt6", "aunty", "david", "steph2", "grandma"})

SR = DEFAULT_SR
ESPEAK_SR = 22050


def variant_split(variant: str) -> str:
    """'val', 'test' or 'train' for a voice variant."""
    return "val" if variant in VAL_VARIANTS else "test" if variant in TEST_VARIANTS else "train"


@dataclass(frozen=True)
class SynthItem:
    """One planned clip: what espeak-ng says, how, and where it goes."""

    path: str
    label: str
    word: str
    accent: str
    variant: str
    speed: int
    pitch: int
    split: str

    @property
    def voice(self) -> str:
        return self.accent + ("+" + self.variant if self.variant else "")


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def _espeak(args: list[str]) -> bytes:
    out = subprocess.run(["espeak-ng", *args], capture_output=True, timeout=60, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"espeak-ng {' '.join(args)} failed: {out.stderr.decode(errors='replace')[:200]}")
    return out.stdout


def phonemes(word: str, accent: str) -> str:
    """espeak-ng's phoneme string for `word` in `accent` (used to drop exact homophones of digits)."""
    return _espeak(["-q", "-x", "-v", accent, word]).decode().strip()


def unstressed(ph: str) -> str:
    """A phoneme string without stress marks: said alone, RP "for" (fO@) is "four" (f'O@)."""
    return ph.translate(str.maketrans("", "", "',%="))


def phonemes_many(words: list[str], accent: str) -> list[str]:
    """Phonemes of many words in one espeak-ng call (one clause per line); per-word calls if that fails."""
    out = subprocess.run(["espeak-ng", "-q", "-x", "-v", accent], input="".join(w + ".\n" for w in words),
                         capture_output=True, text=True, timeout=60, check=False)
    lines = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    if out.returncode != 0 or len(lines) != len(words):
        return [phonemes(w, accent) for w in words]
    return lines


def installed_variants() -> set[str]:
    """Variant names this espeak-ng installation has."""
    text = _espeak(["--voices=variant"]).decode()
    return {""} | {line.split()[-1].split("/")[-1] for line in text.splitlines()[1:] if line.strip()}


def trim_bounds(x: np.ndarray, sr: int, rel: float = 0.02, margin_s: float = 0.03) -> tuple[int, int]:
    """[start, end) of `x` without its leading/trailing near-silence (below `rel` x peak), a small margin kept."""
    loud = np.flatnonzero(np.abs(x) > rel * np.max(np.abs(x))) if len(x) else np.zeros(0, int)
    if not len(loud):
        return 0, len(x)
    m = int(margin_s * sr)
    return max(0, int(loud[0]) - m), min(len(x), int(loud[-1]) + m + 1)


def trim(x: np.ndarray, sr: int, rel: float = 0.02, margin_s: float = 0.03) -> np.ndarray:
    """Cut leading/trailing near-silence (below `rel` x peak), keeping a small margin."""
    a, b = trim_bounds(x, sr, rel, margin_s)
    return x[a:b]


def render(item: SynthItem) -> np.ndarray:
    """Speak one item and return it trimmed, peak-normalised to 0.7, at 16 kHz."""
    import soundfile as sf

    from audio_rnn.audio.decode import resample

    wav = _espeak(["-v", item.voice, "-s", str(item.speed), "-p", str(item.pitch), "--stdout",
                   item.word.replace("-", "")])
    x, sr = sf.read(io.BytesIO(wav), dtype="float32")
    x = trim(resample(x, sr, SR), SR)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return (x / peak * 0.7).astype(np.float32) if peak > 0 else x


def plan(per_digit: int, per_unknown: int, seed: int, variants: set[str] | None = None,
         words: tuple[str, ...] = UNKNOWN_WORDS, keywords: tuple[str, ...] = DIGITS) -> list[SynthItem]:
    """The deterministic list of clips for a seed: voices, rates and pitches drawn per clip.

    `keywords` get `per_digit` clips each under their own label; `words` are `_unknown_`,
    except in accents where espeak-ng says one exactly like a keyword.
    """
    rng = np.random.default_rng(seed)
    pool = [v for v in VARIANTS if variants is None or v in variants]
    if not pool:
        raise ValueError("no espeak-ng voice variants to draw from")
    spoken = [w.replace("-", "") for w in words]
    digit_ph = {a: set(map(unstressed, phonemes_many(list(keywords), a))) for a in ACCENTS}
    word_ph = {a: dict(zip(words, map(unstressed, phonemes_many(spoken, a)))) for a in ACCENTS}
    items: list[SynthItem] = []
    jobs = [(d, d, per_digit) for d in keywords] + [(w, "_unknown_", per_unknown) for w in words]
    for word, label, n in jobs:
        accents = ACCENTS if label != "_unknown_" else tuple(a for a in ACCENTS if word_ph[a][word] not in digit_ph[a])
        if not accents:
            continue
        for k in range(n):
            accent = accents[int(rng.integers(len(accents)))]
            variant = pool[int(rng.integers(len(pool)))]
            spd = int(rng.integers(100, 231))
            pitch = int(rng.integers(15, 91))
            name = f"{label}/{word}_{k:04d}.wav"
            items.append(SynthItem(name, label, word, accent, variant, spd, pitch, variant_split(variant)))
    return items


def write_set(out: str | Path, per_digit: int = 160, per_unknown: int = 24, seed: int = 0,
              workers: int = 2, words: tuple[str, ...] = UNKNOWN_WORDS, progress: bool = True,
              only_variants: set[str] | frozenset[str] | None = None, keywords: tuple[str, ...] = DIGITS) -> Path:
    """Render the planned set into `out` with `manifest.jsonl`; returns the manifest path.

    `only_variants` restricts the voices (e.g. `TEST_VARIANTS` for a fresh held-out test set).
    """
    import soundfile as sf
    from tqdm import tqdm

    from audio_rnn.errors import DataError

    if not espeak_available():
        raise DataError("espeak-ng is not installed (apt-get install espeak-ng)")
    out = Path(out)
    variants = installed_variants()
    items = plan(per_digit, per_unknown, seed, variants if only_variants is None else variants & set(only_variants),
                 words, keywords)
    for label in {i.label for i in items}:
        (out / label).mkdir(parents=True, exist_ok=True)

    def one(item: SynthItem) -> dict:
        x = render(item)
        sf.write(str(out / item.path), x, SR, subtype="PCM_16")
        return {**asdict(item), "voice": item.voice, "seconds": round(len(x) / SR, 3)}

    with ThreadPoolExecutor(max(1, workers)) as pool:
        rows = list(tqdm(pool.map(one, items), total=len(items), desc="espeak-ng", disable=not progress,
                         unit="clip"))
    manifest = out / "manifest.jsonl"
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(manifest)
    return manifest


def digest(folder: str | Path) -> str:
    """SHA-256 over the manifest and every clip: equal digests mean identical sets."""
    folder = Path(folder)
    h = hashlib.sha256((folder / "manifest.jsonl").read_bytes())
    for line in (folder / "manifest.jsonl").read_text().splitlines():
        h.update((folder / json.loads(line)["path"]).read_bytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- CLI


def configure_synth_speech(p) -> None:
    p.add_argument("--out", required=True, help="folder to write <label>/<word>_<n>.wav and manifest.jsonl")
    p.add_argument("--vocab", choices=sorted(VOCABULARY_WORDS), default="digits",
                   help="keywords and near-miss words to speak: digits (default) or the ten commands")
    p.add_argument("--per-digit", type=int, default=160, help="clips per keyword (default 160)")
    p.add_argument("--per-unknown", type=int, default=24, help="clips per non-digit word (default 24)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="parallel espeak-ng processes")
    p.add_argument("--json", action="store_true", help="print a JSON summary")


def run_synth_speech(args) -> int:
    from collections import Counter

    keywords, words = VOCABULARY_WORDS[args.vocab]
    manifest = write_set(args.out, args.per_digit, args.per_unknown, args.seed, args.workers, words=words,
                         keywords=keywords)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    summary = {"manifest": str(manifest), "clips": len(rows), "labels": dict(Counter(r["label"] for r in rows)),
               "splits": dict(Counter(r["split"] for r in rows)),
               "unknown_words": len({r["word"] for r in rows if r["label"] == "_unknown_"}),
               "digest": digest(args.out)}
    print(json.dumps(summary) if args.json else "\n".join(f"{k}: {v}" for k, v in summary.items()))
    return 0
