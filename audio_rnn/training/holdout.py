"""Train/validation/test from labelled clips, holding out whole speakers for validation when none is given.

Works on anything with a `split` ("train", "val" or "test") and a `speaker`,
such as `keywords.data.Clip`; the keyword recognizer and the spotter use the
same split so that their validation voices are never trained on.
"""

from __future__ import annotations

import sys
from typing import Protocol, Sequence, TypeVar

import numpy as np

from audio_rnn.errors import DataError


class Labelled(Protocol):
    split: str
    speaker: str


C = TypeVar("C", bound=Labelled)


def split_clips(clips: Sequence[C], seed: int) -> tuple[list[C], list[C], list[C]]:
    """(train, val, test). Without any validation clip, whole speakers (~15%) of the training data are used."""
    train = [c for c in clips if c.split == "train"]
    val = [c for c in clips if c.split == "val"]
    test = [c for c in clips if c.split == "test"]
    if not val:
        speakers = sorted({c.speaker for c in train})
        rng = np.random.default_rng(seed)
        if len(speakers) >= 3:
            held = set(rng.choice(speakers, max(1, int(round(0.15 * len(speakers)))), replace=False))
            val = [c for c in train if c.speaker in held]
            train = [c for c in train if c.speaker not in held]
        else:
            order = rng.permutation(len(train))
            k = max(1, len(train) // 7)
            val = [train[i] for i in order[:k]]
            train = [train[i] for i in order[k:]]
            print("warning: no separate speakers for validation; using a random 15% of clips", file=sys.stderr)
    if not train:
        raise DataError("no training clips left after the validation split")
    return train, val, test
