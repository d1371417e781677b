"""Characters <-> integer ids: the vocabulary -> indexing step in front of the embedding.

Id 0 is the unknown-character token: characters never (or too rarely) seen in
training map to it, so any UTF-8 text can be encoded, sampled from or scored
without a crash. Also reads any UTF-8 text file as a corpus split.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from audio_rnn.errors import CorpusError

UNK = "\ufffd"  # shown in place of unknown characters when decoding


@dataclass
class Vocab:
    """An ordered character set; index 0 is reserved for unknown characters."""

    chars: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if UNK in self.chars:
            raise ValueError("the unknown token is implicit; do not list it")
        self._index = {c: i + 1 for i, c in enumerate(self.chars)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 2) -> "Vocab":
        """Characters seen at least `min_count` times (rarer ones become unknown, so UNK is learned)."""
        counts: Counter[str] = Counter()
        for t in texts:
            counts.update(t)
        counts.pop(UNK, None)
        return cls(sorted(c for c, n in counts.items() if n >= min_count))

    def __len__(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> np.ndarray:
        """int64 ids, unknown characters -> 0."""
        get = self._index.get
        return np.fromiter((get(c, 0) for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids: Sequence[int]) -> str:
        """Characters for ids; 0 (and anything out of range) decodes to U+FFFD."""
        n = len(self.chars)
        return "".join(self.chars[i - 1] if 0 < i <= n else UNK for i in map(int, ids))

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of `text` that this vocabulary does not know."""
        return sorted({c for c in text if c not in self._index})

    def to_dict(self) -> dict:
        return {"chars": "".join(self.chars), "unk": UNK}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocab":
        return cls(list(d["chars"]))


def read_text(path: str | Path, max_bytes: int = 512 * 1024 * 1024) -> str:
    """A UTF-8 text file with normalised line endings; CorpusError if missing, binary or empty."""
    p = Path(path)
    if not p.is_file():
        raise CorpusError(f"corpus file not found: {path}")
    if p.stat().st_size > max_bytes:
        raise CorpusError(f"corpus file is larger than {max_bytes // 2**20} MiB: {path}")
    data = p.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"corpus file is not UTF-8 text: {path} (byte {exc.start})") from None
    if "\x00" in text:
        raise CorpusError(f"corpus file looks binary (NUL bytes): {path}")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise CorpusError(f"corpus file is empty: {path}")
    return text


def split_text(text: str, val_frac: float = 0.05, test_frac: float = 0.05) -> tuple[str, str, str]:
    """Contiguous train/val/test split at line boundaries (held-out text is never interleaved)."""
    n = len(text)
    if n < 100:
        raise CorpusError(f"corpus too small to split ({n} characters)")

    def cut(pos: float) -> int:
        i = text.find("\n", int(pos))
        return n if i < 0 else i + 1

    a = cut(n * (1 - val_frac - test_frac))
    b = max(a, cut(n * (1 - test_frac)))
    train, val, test = text[:a], text[a:b], text[b:]
    if not val or not test:
        # a text with few lines: split by characters instead
        a, b = int(n * (1 - val_frac - test_frac)), int(n * (1 - test_frac))
        train, val, test = text[:a], text[a:b], text[b:]
    return train, val, test
