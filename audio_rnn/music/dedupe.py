"""Which tunes of a file the training corpus already holds: `TuneIndex` compares normalised note bodies.

A tune's note body is its melody as diatonic steps between successive notes
(letters and octave marks; durations, bar lines, accidentals, chords symbols,
decorations and grace notes dropped), so another transcription of the same
tune (other key, other rhythm spelling, other line breaks) still matches. Two
tunes are the same tune when most of one's 12-step phrases occur in the other.
An honest out-of-collection score (`score --dedupe`) drops those tunes first.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

NGRAM = 12  # steps per phrase: about two bars of a reel
SAME_TUNE = 0.3  # one training tune holds this share of its phrases: the same tune (unrelated tunes: under 0.1)
_STEP = {c: i for i, c in enumerate("CDEFGAB")}
_SKIP = re.compile(r'"[^"]*"|![^!]*!|\{[^}]*\}|\[[A-Za-z]:[^\]]*\]|%[^\n]*')
_NOTE = re.compile(r"([A-Ga-g])([,']*)")


def note_body(tune: str) -> list[int]:
    """Diatonic steps between successive notes of the tune's music (after its K: line)."""
    lines = tune.split("\n")
    start = next((i + 1 for i, ln in enumerate(lines) if ln.startswith("K:")), 0)
    music = " ".join(ln for ln in lines[start:] if not re.match(r"^[A-Za-z]:", ln))
    pitches = []
    for m in _NOTE.finditer(_SKIP.sub(" ", music)):
        letter, marks = m.groups()
        octave = (1 if letter.islower() else 0) + marks.count("'") - marks.count(",")
        pitches.append(_STEP[letter.upper()] + 7 * octave)
    return [b - a for a, b in zip(pitches, pitches[1:])]


def phrases(steps: list[int], n: int = NGRAM) -> set[tuple[int, ...]]:
    """The distinct n-step phrases of a note body."""
    return {tuple(steps[i : i + n]) for i in range(len(steps) - n + 1)}


@dataclass
class Match:
    """How much of a tune one corpus tune holds."""

    share: float  # of the tune's phrases found in that corpus tune
    index: int  # which corpus tune (-1: none)
    anywhere: float  # of the tune's phrases found anywhere in the corpus


class TuneIndex:
    """Phrases of a corpus of tunes, to find the corpus tune a new tune copies."""

    def __init__(self, tunes: list[str], n: int = NGRAM) -> None:
        self.n = n
        self.where: dict[tuple[int, ...], list[int]] = {}
        for k, tune in enumerate(tunes):
            for p in phrases(note_body(tune), n):
                self.where.setdefault(p, []).append(k)

    def match(self, tune: str) -> Match:
        """The corpus tune sharing most of this tune's phrases."""
        mine = phrases(note_body(tune), self.n)
        if not mine:
            return Match(0.0, -1, 0.0)
        hits: Counter[int] = Counter()
        found = 0
        for p in mine:
            owners = self.where.get(p)
            if owners:
                found += 1
                hits.update(set(owners))
        if not hits:
            return Match(0.0, -1, 0.0)
        k, count = hits.most_common(1)[0]
        return Match(count / len(mine), k, found / len(mine))


def split_known(tunes: list[str], index: TuneIndex, share: float = SAME_TUNE) -> tuple[list[str], list[str]]:
    """(tunes the corpus does not hold, tunes it holds): a tune is held when one corpus tune has `share` of it."""
    new, known = [], []
    for t in tunes:
        (known if index.match(t).share >= share else new).append(t)
    return new, known


def drop_training_tunes(text: str, model_config: dict) -> tuple[str, int, int]:
    """(the text without the tunes the model's training corpus holds, how many were removed, how many tunes).

    Only for models trained on the 'abc' corpus, whose split is rebuilt from the seed in the model's config.
    """
    from audio_rnn.errors import CorpusError
    from audio_rnn.music.corpus import load_corpus
    from audio_rnn.music.notation import split_tunes

    corpus_info = model_config.get("corpus") or {}
    if corpus_info.get("source") != "abc":
        raise CorpusError("--dedupe needs a model trained on the 'abc' corpus (it rebuilds that training split)")
    tunes = split_tunes(text)
    if not tunes:
        raise CorpusError("--dedupe: the file holds no ABC tunes (X: lines)")
    corpus = load_corpus("abc", seed=int(corpus_info.get("seed", 0)))
    new, known = split_known(tunes, TuneIndex(corpus.train))
    return "\n".join(t.rstrip("\n") + "\n" for t in new), len(known), len(tunes)
