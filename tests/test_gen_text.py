"""Vocabulary with an unknown token, text corpora, and the Kneser-Ney n-gram baseline."""

from __future__ import annotations

import numpy as np
import pytest

from audio_rnn.errors import CorpusError
from audio_rnn.music.ngram import KneserNey
from audio_rnn.music.text import UNK, Vocab, read_text, split_text


def test_vocab_roundtrip_and_unknown():
    v = Vocab.build(["hello world", "hello"], min_count=2)
    assert v.chars == sorted(set("hello"))  # ' ', 'w', 'r', 'd' are seen once -> unknown
    ids = v.encode("hello world")
    assert ids.dtype == np.int64 and ids[5] == 0
    assert v.decode(ids) == "hello" + UNK + UNK + "o" + UNK + "l" + UNK
    assert v.unknown("hé€") == ["é", "€"]
    assert Vocab.from_dict(v.to_dict()).chars == v.chars
    assert len(v) == len(v.chars) + 1


def test_read_text_errors(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"one\r\ntwo\r\n")
    assert read_text(tmp_path / "a.txt") == "one\ntwo\n"
    (tmp_path / "b.txt").write_bytes(b"\xff\xfe\xfd")
    with pytest.raises(CorpusError, match="not UTF-8"):
        read_text(tmp_path / "b.txt")
    (tmp_path / "c.txt").write_text("   \n")
    with pytest.raises(CorpusError, match="empty"):
        read_text(tmp_path / "c.txt")
    with pytest.raises(CorpusError, match="not found"):
        read_text(tmp_path / "none.txt")


def test_split_text_keeps_everything():
    text = "".join(f"line {i}\n" for i in range(500))
    a, b, c = split_text(text)
    assert a + b + c == text and b and c and len(a) > 8 * len(c)


def test_kneser_ney_normalised_and_better_than_lower_orders():
    rng = np.random.default_rng(0)
    words = ["|ABc def|", "|GAG GAB|", "|d2e fed|", "|A3 ABc|"]
    train = "".join(words[i] for i in rng.integers(0, 4, 3000))
    test = "".join(words[i] for i in rng.integers(0, 4, 200))
    m = KneserNey(6).fit(train)
    for ctx in ("|ABc d", "zzz", "|GA"):
        total = sum(2.0 ** -m.log2probs(ch, ctx)[0] for ch in m.vocab.chars) + 2.0 ** -m.log2probs(UNK, ctx)[0]
        assert total == pytest.approx(1.0, abs=1e-9)
    assert m.bits_per_char(test) < KneserNey(2).fit(train).bits_per_char(test) < 3.5
    assert np.isfinite(m.log2probs("unseen € chars")).all()
