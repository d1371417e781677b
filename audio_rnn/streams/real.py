"""Long validation and test streams from the Speech Commands share's held-out speakers.

`load_speech_commands_folder` holds a fixed ~20% of the share's speakers out of
training (split 'val'). They are few (26 of 121), so they are halved again, by
speaker: a 'val' half for tuning and a 'test' half for reporting (`speaker_halves`,
balanced by clip count, the same for every vocabulary). A stream strings their real
recordings (trimmed and peak-normalised like FSDD takes) with pauses over a
continuous bed spliced from the share's recorded `_silence_` clips of the same
half, at an SNR drawn from a range. The vocabulary's words are keywords; every
other word is `_unknown_`. Each truth word names its speaker and clip.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from audio_rnn.errors import DataError
from audio_rnn.keywords.data import SILENCE, UNKNOWN, VOCABULARIES, Clip
from audio_rnn.streams.synth import SR, StreamSpec, mix, recorded_bed, trimmed_word

SOURCE = "speechcommands"


def _key(name: str) -> int:
    """A stable pseudo-random rank for a name (independent of file order and Python's hash seed)."""
    return zlib.crc32(f"half:{name}".encode())


def speaker_halves(clips: Sequence[Clip]) -> dict[str, str]:
    """speaker -> 'val' | 'test' for the held-out speakers: greedy by clip count in a fixed hashed order, so the
    two halves hold about as many words each and no speaker is in both."""
    counts: dict[str, int] = {}
    for c in clips:
        if c.split == "val" and c.label != SILENCE:
            counts[c.speaker] = counts.get(c.speaker, 0) + 1
    halves: dict[str, str] = {}
    size = {"val": 0, "test": 0}
    for spk in sorted(counts, key=lambda s: (-counts[s], _key(s))):
        half = "val" if size["val"] <= size["test"] else "test"
        halves[spk] = half
        size[half] += counts[spk]
    return halves


def background_half(clip: Clip) -> str:
    """'val' | 'test' for a held-out recorded background clip (by its name, alternating in hashed order)."""
    return "val" if _key(f"{clip.name}/{clip.speaker}") % 2 == 0 else "test"


@dataclass
class HeldOut:
    """One half of the held-out speakers: their words by kind, and recorded backgrounds."""

    keywords: list[Clip]
    others: list[Clip]
    beds: list[np.ndarray]
    speakers: list[str]


def held_out(clips: Sequence[Clip], split: str, vocab: str) -> HeldOut:
    """The `split` half of the share's held-out ('val') speakers, words sorted into keywords of `vocab` and others."""
    keywords = set(VOCABULARIES[vocab]) - {SILENCE, UNKNOWN}
    halves = speaker_halves(clips)
    words = [c for c in clips if c.label != SILENCE and halves.get(c.speaker) == split]
    beds = [c.wave for c in clips if c.label == SILENCE and c.split == "val" and background_half(c) == split]
    kw = [c for c in words if c.label in keywords]
    if not kw or not beds:
        raise DataError(f"the Speech Commands share has no held-out {vocab} words or backgrounds for split {split!r}")
    return HeldOut(kw, [c for c in words if c.label not in keywords], beds,
                   sorted(s for s, h in halves.items() if h == split))


class Deck:
    """Clips dealt in shuffled rounds, so every recording is used about equally often."""

    def __init__(self, clips: Sequence[Clip], rng: np.random.Generator):
        self.clips, self.rng = list(clips), rng
        self.order: list[int] = []

    def draw(self) -> Clip:
        """The next clip of this round (a new shuffled round when one is used up)."""
        if not self.order:
            self.order = list(self.rng.permutation(len(self.clips)))
        return self.clips[self.order.pop()]


def build_sc_stream(spec: StreamSpec, pool: HeldOut, rng: np.random.Generator,
                    ) -> tuple[np.ndarray, dict[str, Any]]:
    """One stream of held-out speakers' real words over their recorded backgrounds: (16 kHz wave, truth)."""
    total = int(spec.minutes * 60 * SR)
    decks = Deck(pool.keywords, rng), Deck(pool.others or pool.keywords, rng)
    pieces: list[tuple[int, np.ndarray]] = []
    words: list[dict[str, Any]] = []
    t = int(rng.uniform(0.5, 1.5) * SR)
    while spec.speech:
        is_kw = not pool.others or rng.random() < spec.keyword_fraction
        clip = decks[0 if is_kw else 1].draw()
        x = trimmed_word(clip.wave) * np.float32(10 ** (rng.uniform(*spec.gain_db) / 20))
        if t + len(x) + SR // 2 > total:
            break
        pieces.append((t, x))
        words.append({"label": clip.label if is_kw else UNKNOWN, "word": clip.label, "start": round(t / SR, 3),
                      "end": round((t + len(x)) / SR, 3), "source": f"{SOURCE}:{clip.speaker}", "clip": clip.name})
        t += len(x) + int(rng.uniform(*spec.gap_s) * SR)
    wave, snr = mix(total, pieces, "recorded", float(rng.uniform(*spec.snr_db)), rng,
                    recorded_bed(total, pool.beds, rng))
    return wave, {"sample_rate": SR, "duration": round(total / SR, 3), "noise": "recorded", "snr_db": round(snr, 2),
                  "split": spec.split, "words": words}


def make_sc_streams(out: str | Path, spec: StreamSpec, root: str | Path | Sequence[str | Path],
                    vocab: str = "digits", progress: bool = True) -> Path:
    """Write `spec.streams` Speech Commands streams + truth files + `manifest.json`; deterministic by seed.

    `root` may be several folders of the dataset (v0.02 and v0.01 share speaker hashes): their held-out
    speakers are pooled, so the streams speak with hundreds of voices, not a few dozen.
    """
    import soundfile as sf
    from tqdm import tqdm

    from audio_rnn.keywords.data import load_speech_commands_folder

    if vocab not in VOCABULARIES:
        raise DataError(f"unknown vocabulary {vocab!r}: choose from {sorted(VOCABULARIES)}")
    roots = [root] if isinstance(root, (str, Path)) else list(root)
    pool = held_out([c for r in roots for c in load_speech_commands_folder(r, labels=None, progress=progress)],
                    spec.split, vocab)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in tqdm(range(spec.streams), desc="streams", disable=not progress, unit="stream"):
        rng = np.random.default_rng([spec.seed, i, 0 if spec.split == "val" else 1, sorted(VOCABULARIES).index(vocab),
                                     7])
        wave, truth = build_sc_stream(spec, pool, rng)
        name = f"stream_{i:03d}"
        sf.write(str(out / f"{name}.wav"), wave, SR, subtype="PCM_16")
        truth.update(file=f"{name}.wav", vocab=vocab)
        (out / f"{name}.json").write_text(json.dumps(truth, indent=1) + "\n")
        rows.append({"file": f"{name}.wav", "truth": f"{name}.json", "duration": truth["duration"],
                     "words": len(truth["words"]), "noise": truth["noise"], "snr_db": truth["snr_db"]})
    manifest = {"split": spec.split, "source": SOURCE, "data": [str(r) for r in roots], "vocab": vocab, "speakers": pool.speakers,
                "voices": [], "clips": {"keywords": len(pool.keywords), "other_words": len(pool.others),
                                        "backgrounds": len(pool.beds)},
                "seed": spec.seed, "spec": dict(spec.__dict__), "streams": rows}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return out / "manifest.json"

