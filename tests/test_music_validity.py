"""The validity checker on known good tunes (real corpus, the sample file) and known bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio_rnn.music import corpus, notation, validity

ROOT = Path(__file__).resolve().parents[1]

GOOD = """X:1
T:Pickup and split bars at the repeat
M:6/8
L:1/8
K:G
D|GAG GAB|ABA ABd|edd gdd|edB dBA|
GAG GAB|ABA ABd|edd gdB|AGF G2:|
|:d|gfg ege|dBG ABd|gfg ege|dBA ABd|
gfg ege|dBG AGA|BAB GAB|GED G2:|
"""


def test_good_tune_with_pickup_and_repeats():
    v = validity.check_tune(GOOD)
    assert v.valid, v.reasons
    assert v.bars >= 16 and v.notes > 80


def test_sample_file_tunes_are_valid():
    text = (ROOT / "samples" / "abc" / "irish_session_tunes.abc").read_text()
    tunes = notation.split_tunes(text)
    assert len(tunes) >= 20
    for t in tunes[:6]:
        v = validity.check_tune(t)
        assert v.valid, (t[:40], v.reasons)


def test_real_corpus_tunes_mostly_valid():
    files = [f for f in corpus.music21_abc_files() if "ryansMammoth" in str(f)][:15]
    tunes = corpus.prepare_abc(files).train[:15]
    rate = sum(validity.check_tune(t).valid for t in tunes) / len(tunes)
    assert rate >= 0.8


@pytest.mark.parametrize(
    "abc, reason",
    [
        ("", "empty"),
        ("X:1\nT:t\nL:1/8\nK:G\nGABc|dedB|\n", "missing header M:"),
        ("X:1\nM:4/4\nL:1/8\nK:G\nGABc dedB|GABc dedB|\n", "missing header T:"),
        ("X:1\nT:t\nM:4/4\nL:1/8\nK:G\nGABc dedB|GABc dedB c|GABc dedB|GABc d4|\n", "do not match the meter"),
        ("X:1\nT:t\nM:4/4\nL:1/8\nK:G\nGABc dedB|GABc d|GABc dedB|GABc d4|\n", "do not match the meter"),
        ("X:1\nT:t\nM:4/4\nL:1/8\nK:G\nGABc dQRW|GABc dedB|\n", "could not read"),
        ("X:1\nT:t\nM:3/4\nL:1/8\nK:G\n|||\n", "no notes"),
    ],
)
def test_bad_tunes_have_reasons(abc, reason):
    v = validity.check_tune(abc)
    assert not v.valid
    assert any(reason in r for r in v.reasons), v.reasons


def test_header_fields():
    assert notation.header_fields(GOOD) == {"X": "1", "T": "Pickup and split bars at the repeat", "M": "6/8",
                                         "L": "1/8", "K": "G"}
