"""Shared by the live tests: a real stream with known word times (not a test module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from spot_signals import LABELS

# held-out FSDD takes (george, test half) and espeak-ng words in a held-out voice, keywords and others
PLAN = [("fsdd", "seven"), ("espeak", "garden"), ("espeak", "two"), ("fsdd", "five"), ("espeak", "hello"),
        ("espeak", "eight"), ("fsdd", "one"), ("espeak", "four"), ("espeak", "window"), ("fsdd", "six")]


def real_stream(fsdd_dir: Path, path: Path, lead_s: float = 0.5, gap_s: float = 1.2, snr_db: float = 25.0,
                seed: int = 3, plan: list[tuple[str, str]] | None = None) -> list[dict]:
    """Write the PLAN's words with `gap_s` between them after `lead_s` of background over pink noise to
    `path` (16 kHz, 16-bit); returns the words: label (keyword or _unknown_), word, start, end (s)."""
    from audio_rnn.audio.decode import load_audio
    from audio_rnn.streams.synth import SR, trimmed_word, mix, speak

    rng = np.random.default_rng(seed)
    pieces, words, t = [], [], int(lead_s * SR)
    for k, (src, word) in enumerate(plan or PLAN):
        if src == "fsdd":
            x = trimmed_word(load_audio(fsdd_dir / f"{LABELS.index(word)}_george_{40 + k}.wav"))
        else:
            x = speak(word, "en-us", "m6", rng)
        pieces.append((t, x))
        words.append({"label": word if word in LABELS else "_unknown_", "word": word, "start": t / SR,
                      "end": (t + len(x)) / SR})
        t += len(x) + int(gap_s * SR)
    wave, _ = mix(t, pieces, "pink", snr_db, rng)
    sf.write(path, wave, SR, subtype="PCM_16")
    return words


def keywords(words: list[dict]) -> list[dict]:
    return [w for w in words if w["label"] != "_unknown_"]
