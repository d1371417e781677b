"""Long test streams with known word times from FSDD takes and espeak-ng voices (`make-streams`), and the parts
every stream builder shares (`StreamSpec`, `trimmed_word`, `mix`).

Real FSDD digits by speakers the model never trained on (their takes split into a `val` half for tuning and a
`test` half for reporting) and espeak-ng digits and other words in held-out voices (`synth_speech.VAL_VARIANTS`
/ `TEST_VARIANTS`), separated by pauses, over continuous background noise at a chosen SNR. Each stream is a
16 kHz wav beside a JSON truth file listing every word's span. `real_streams` builds them from real speakers;
`scoring` scores a spotter on them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from audio_rnn.audio.rates import DEFAULT_SR
from audio_rnn.errors import DataError
from audio_rnn.keywords.data import DIGITS, UNKNOWN

SR = DEFAULT_SR
# everyday words the recognizer never saw in training (its _unknown_ words come from synth_speech.UNKNOWN_WORDS)
NOVEL_WORDS = (
    "hello", "please", "number", "call", "the", "and", "okay", "today", "water", "music", "window", "people",
    "morning", "computer", "listen", "yellow", "coffee", "thanks", "station", "minute", "open", "close",
    "table", "garden", "paper", "orange", "maybe", "later", "pizza", "button",
)
# homophones of digits: the same sound cannot be a false alarm
HOMOPHONES = frozenset({"won", "ate", "for", "fore", "to", "too", "nein", "nine-teen"})
NOISES = ("white", "pink", "brown", "hum", "room", "babble")


@dataclass(frozen=True)
class StreamSpec:
    """What one call of `make-streams` builds."""

    split: str = "test"  # "val" (tuning) or "test" (reporting)
    streams: int = 4
    minutes: float = 2.0
    keyword_fraction: float = 0.6
    fsdd_fraction: float = 0.5  # of the digits, how many are real FSDD recordings
    gap_s: tuple[float, float] = (0.6, 2.0)
    snr_db: tuple[float, float] = (10.0, 30.0)
    gain_db: tuple[float, float] = (-12.0, 0.0)
    seed: int = 0
    speech: bool = True  # False: background only (false alarms per hour with nobody speaking)


# ----------------------------------------------------------------------------- word sources


def fsdd_takes(fsdd: str | Path, speakers: Sequence[str], split: str) -> list[tuple[Path, str, str]]:
    """(path, digit, speaker) of held-out speakers' takes: 0-24 for 'val', 25-49 for 'test'."""
    from audio_rnn.keywords.data import FSDD_NAME, fsdd_files

    out = []
    for p, label, spk in fsdd_files(fsdd):
        if spk not in speakers:
            continue
        take = int(FSDD_NAME.match(p.name).group(3))  # type: ignore[union-attr]
        if (take < 25) == (split == "val"):
            out.append((p, label, spk))
    if not out:
        raise DataError(f"no FSDD recordings of speakers {list(speakers)} in {fsdd}")
    return out


def trimmed_word(x: np.ndarray) -> np.ndarray:
    """A recorded word with its leading and trailing near-silence cut, peak-normalised to 0.7 (as streams use it)."""
    from audio_rnn.keywords.synth_speech import trim

    x = trim(np.asarray(x, np.float32), SR)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return (x / peak * 0.7).astype(np.float32) if peak > 0 else x


def held_out_variants(split: str) -> list[str]:
    """espeak-ng voice variants kept out of training, installed here, for a split."""
    from audio_rnn.keywords.synth_speech import TEST_VARIANTS, VAL_VARIANTS, installed_variants

    pool = sorted((VAL_VARIANTS if split == "val" else TEST_VARIANTS) & installed_variants())
    if not pool:
        raise DataError("espeak-ng has none of the held-out voice variants")
    return pool


def is_homophone(word: str, accent: str, _cache: dict = {}) -> bool:
    """Whether espeak-ng says `word` exactly like a digit in `accent` (then it cannot be a non-keyword)."""
    from audio_rnn.keywords.synth_speech import phonemes

    if word in HOMOPHONES:
        return True
    if accent not in _cache:
        _cache[accent] = {phonemes(d, accent) for d in DIGITS}
    key = (word, accent)
    if key not in _cache:
        _cache[key] = phonemes(word.replace("-", ""), accent) in _cache[accent]
    return bool(_cache[key])


def pick_unknown(accent: str, rng: np.random.Generator) -> str:
    """A random non-keyword word (training unknowns or novel words) that is no digit homophone in `accent`."""
    from audio_rnn.keywords.synth_speech import UNKNOWN_WORDS

    pool = (*UNKNOWN_WORDS, *NOVEL_WORDS)
    while True:
        word = pool[int(rng.integers(len(pool)))]
        if not is_homophone(word, accent):
            return word


def speak(word: str, accent: str, variant: str, rng: np.random.Generator) -> np.ndarray:
    """One espeak-ng word at a random rate and pitch, trimmed, 16 kHz."""
    from audio_rnn.keywords.synth_speech import SynthItem, render

    item = SynthItem("", word, word, accent, variant, int(rng.integers(110, 221)), int(rng.integers(20, 86)), "")
    return render(item)


def background(n: int, kind: str, rng: np.random.Generator, words: list[np.ndarray] | None = None) -> np.ndarray:
    """Unit-RMS background of `n` samples: coloured noise, hum, room tone, or babble (reversed words)."""
    from audio_rnn.audio.augment import colored_noise, hum

    if kind in ("white", "pink", "brown"):
        return colored_noise(n, kind, rng)
    if kind == "hum":
        y = hum(n, SR, rng) + 0.2 * colored_noise(n, "pink", rng)
    elif kind == "room":
        y = colored_noise(n, "brown", rng) + 0.5 * colored_noise(n, "pink", rng) + 0.2 * hum(n, SR, rng)
    else:  # babble: several overlapping time-reversed words (speech-like, never a keyword)
        y = 0.3 * colored_noise(n, "pink", rng)
        pool = words or [colored_noise(SR // 2, "pink", rng)]
        for _ in range(max(1, 6 * n // SR)):
            w = pool[int(rng.integers(len(pool)))][::-1]
            at = int(rng.integers(0, max(1, n - len(w))))
            seg = w[: n - at]
            y[at:at + len(seg)] += seg / (np.sqrt(np.mean(seg**2)) + 1e-9) * 0.3
    y = np.asarray(y, np.float64)
    return (y / (np.sqrt(np.mean(y**2)) + 1e-12)).astype(np.float32)


# ----------------------------------------------------------------------------- building streams


def build_stream(spec: StreamSpec, index: int, fsdd: list[tuple[Path, str, str]], variants: list[str],
                 rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """One stream: (16 kHz wave, truth dict with every word's label/word/start/end/source)."""
    from audio_rnn.keywords.data import load_wave
    from audio_rnn.keywords.synth_speech import ACCENTS

    total = int(spec.minutes * 60 * SR)
    pieces: list[tuple[int, np.ndarray]] = []
    words: list[dict[str, Any]] = []
    t = int(rng.uniform(0.5, 1.5) * SR)
    while True:
        if rng.random() < spec.keyword_fraction:
            if rng.random() < spec.fsdd_fraction:
                path, label, spk = fsdd[int(rng.integers(len(fsdd)))]
                x, word, source = trimmed_word(load_wave(path)), label, f"fsdd:{path.stem}"
            else:
                accent, variant = ACCENTS[int(rng.integers(len(ACCENTS)))], variants[int(rng.integers(len(variants)))]
                label = DIGITS[int(rng.integers(10))]
                x, word, source = speak(label, accent, variant, rng), label, f"espeak:{accent}+{variant}"
        else:
            accent, variant = ACCENTS[int(rng.integers(len(ACCENTS)))], variants[int(rng.integers(len(variants)))]
            word = pick_unknown(accent, rng)
            x, label, source = speak(word, accent, variant, rng), UNKNOWN, f"espeak:{accent}+{variant}"
        if t + len(x) + SR // 2 > total:
            break
        x = x * np.float32(10 ** (rng.uniform(*spec.gain_db) / 20))
        pieces.append((t, x))
        words.append({"label": label, "word": word, "start": round(t / SR, 3), "end": round((t + len(x)) / SR, 3),
                      "source": source})
        t += len(x) + int(rng.uniform(*spec.gap_s) * SR)
    kind = NOISES[index % len(NOISES)]
    wave, snr = mix(total, pieces, kind, float(rng.uniform(*spec.snr_db)), rng)
    truth = {"sample_rate": SR, "duration": round(total / SR, 3), "noise": kind, "snr_db": round(snr, 2),
             "split": spec.split, "words": words}
    return wave, truth


def recorded_bed(n: int, beds: Sequence[np.ndarray], rng: np.random.Generator, fade: int = SR // 20) -> np.ndarray:
    """`n` samples of recorded background: random clips, each at unit RMS, spliced with short cross-fades."""
    out = np.zeros(n, np.float32)
    ramp = np.linspace(0, 1, fade, dtype=np.float32)
    t = 0
    while t < n:
        x = beds[int(rng.integers(len(beds)))]
        r = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
        if r < 1e-6:  # a near-digital-silence clip: use white noise far below speech instead
            x, r = rng.standard_normal(SR).astype(np.float32) * 1e-3, 1.0
        x = (x / r).astype(np.float32)
        x = x[int(rng.integers(0, max(1, len(x) // 2))):] if t else x
        if len(x) <= fade:
            continue
        if t:
            x = x.copy()
            x[:fade] *= ramp
            out[t - fade:t] *= ramp[::-1]
            t -= fade
        seg = x[: n - t]
        out[t:t + len(seg)] += seg
        t += len(seg)
    return out


def mix(total: int, pieces: list[tuple[int, np.ndarray]], noise: str, snr_db: float,
        rng: np.random.Generator, bed: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Words placed at their sample offsets over `noise` (or the unit-RMS `bed` of recorded background) at
    `snr_db` below the words' RMS; (wave, snr)."""
    speech = np.zeros(total, np.float32)
    for at, x in pieces:
        speech[at:at + len(x)] += x[: max(0, total - at)]
    active = np.concatenate([x for _, x in pieces]) if pieces else np.full(1, 0.1, np.float32)
    speech_rms = float(np.sqrt(np.mean(np.square(active, dtype=np.float64))))
    if bed is None:
        bed = background(total, noise, rng, [x for _, x in pieces[:20]])
    bg = bed[:total] * np.float32(speech_rms * 10 ** (-snr_db / 20))
    return np.clip(speech + bg, -1, 1).astype(np.float32), snr_db


def make_streams(out: str | Path, spec: StreamSpec, fsdd: str | Path, speakers: Sequence[str],
                 progress: bool = True) -> Path:
    """Write `spec.streams` streams as `stream_NNN.wav` + `stream_NNN.json` and `manifest.json`; deterministic by seed."""
    import soundfile as sf
    from tqdm import tqdm

    from audio_rnn.keywords.synth_speech import espeak_available

    if not espeak_available():
        raise DataError("espeak-ng is not installed (apt-get install espeak-ng)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    takes = fsdd_takes(fsdd, speakers, spec.split)
    variants = held_out_variants(spec.split)
    rows = []
    for i in tqdm(range(spec.streams), desc="streams", disable=not progress, unit="stream"):
        rng = np.random.default_rng([spec.seed, i, 0 if spec.split == "val" else 1])
        wave, truth = build_stream(spec, i, takes, variants, rng)
        name = f"stream_{i:03d}"
        sf.write(str(out / f"{name}.wav"), wave, SR, subtype="PCM_16")
        truth["file"] = f"{name}.wav"
        (out / f"{name}.json").write_text(json.dumps(truth, indent=1) + "\n")
        rows.append({"file": f"{name}.wav", "truth": f"{name}.json", "duration": truth["duration"],
                     "words": len(truth["words"]), "noise": truth["noise"], "snr_db": truth["snr_db"]})
    manifest = {"split": spec.split, "speakers": list(speakers), "voices": variants, "seed": spec.seed,
                "spec": {k: v for k, v in spec.__dict__.items()}, "streams": rows}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return out / "manifest.json"
