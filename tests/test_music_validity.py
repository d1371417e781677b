"""The validity checker on known good tunes (real corpus, the sample file) and known bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio_rnn.music import corpus, notation, repeats, validity

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
    assert rate >= 0.75  # 10 of these 13; one more (a segno tune) music21 cannot expand to MIDI, so not valid


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


# ----------------------------------------------------------------------------- repeat structure

_H = "X:1\nT:t\nM:4/4\nL:1/8\nK:G\n"
_B = "GABc dedB"


@pytest.mark.parametrize(
    "body, reason",
    [
        (f"|:{_B}|{_B}|{_B}|{_B}|", "repeat opened at bar 1 is never closed"),
        (f"|:{_B}|{_B}:|\n|:{_B}|{_B}|]", "repeat opened at bar 3 is never closed"),  # the typical case
        (f"|:{_B}|:{_B}:|", "repeat opened at bar 1 is opened again at bar 2"),
        (f"|:{_B}|{_B}:| :|{_B}|]", "':|' at bar 2 closes no repeat"),  # a stray ":|"
        (f":|{_B}|{_B}|]", "':|' at bar 0 closes no repeat"),
        (f"|{_B}|{_B}|]\n|1 {_B}:|2 {_B}|]", "ending 1 at bar 3 follows no repeat"),
        (f"|{_B}|{_B}|2 {_B}|]", "ending 2 at bar 3 has no ending 1 before it"),
        (f"|:{_B}|{_B}|1 {_B}|2 {_B}|]", "ending 1 at bar 3 is not closed with ':|' before ending 2"),
        (f"|:{_B}|{_B}|1 {_B}|{_B}|]", "ending 1 at bar 3 is not closed with ':|'"),
    ],
)
def test_bad_repeats_name_the_bar(body, reason):
    abc = _H + body + "\n"
    assert any(reason in p for p in repeats.repeat_problems(abc)), repeats.repeat_problems(abc)
    v = validity.check_tune(abc)
    assert not v.valid and any(reason in r for r in v.reasons), v.reasons


@pytest.mark.parametrize(
    "body",
    [
        f"|:{_B}|{_B}:|",
        f"{_B}|{_B}:|{_B}|{_B}:|",  # ":|" without "|:" repeats from the start, then from the last ":|"
        f"|:{_B}|{_B}::{_B}|{_B}:|",
        f"|:{_B}|{_B}|1 {_B}:|2 {_B}|]",
        f"|:{_B}|{_B}[1 {_B}:|\n[2 {_B}|]",
        f"|:{_B}|{_B}||{_B}|{_B}:|]",  # a double bar inside a repeat is a phrase mark
        f"|:{_B}|1 {_B}:|2 {_B}:|3 {_B}|]",
    ],
)
def test_good_repeats_pass_and_render(body):
    abc = _H + body + "\n"
    assert repeats.repeat_problems(abc) == []
    v = validity.check_tune(abc, whole=False)  # short on purpose: the repeat rules alone
    assert v.valid, v.reasons


def test_a_fragment_is_not_a_whole_tune():
    """The issue's 3-bar fragment passes every other rule but is not a tune: fewer than 8 full bars."""
    fragment = "X:1\nT:t\nM:C\nL:1/8\nK:D\n(A/B/)|ABd dAF G2 |Add fef d2 | efe dcB A2 |]\n"
    assert validity.check_tune(fragment, whole=False).valid
    v = validity.check_tune(fragment)
    assert not v.valid and any("only 3 full bar(s)" in r for r in v.reasons), v.reasons


def test_whole_tune_needs_eight_full_bars_and_an_ending():
    eight = "|".join([_B] * 8)
    assert validity.check_tune(_H + eight + "|]\n").valid
    assert validity.check_tune(_H + "|".join([_B] * 7) + "|]\n").reasons == [
        "only 7 full bar(s): a whole tune has at least 8"]
    v = validity.check_tune(_H + eight + "|GAB\n")  # stops in the middle of a bar, no final bar line
    assert any("middle of a bar" in r for r in v.reasons), v.reasons


def test_whole_tune_rule_holds_for_real_tunes():
    """Real Irish and British tunes (held-out split) are whole by this rule, as an outside check finds (96.7%)."""
    c = corpus.prepare_abc([f for f in corpus.music21_abc_files() if "oneills1850" in str(f)][:6])
    tunes = (c.train + c.val + c.test)[:60]
    whole = [not validity.whole_tune_problems(t, validity.written_bars(t)) for t in tunes]
    assert sum(whole) >= 0.9 * len(tunes), sum(whole)


def test_unrenderable_repeats_are_never_valid():
    """music21 cannot expand these repeats; the checker must say so rather than call the tune valid."""
    from music21 import converter
    from music21.repeat import ExpanderException

    abc = _H + f"|:{_B}|{_B}:|\n|:{_B}|{_B}|]\n"
    with pytest.raises(ExpanderException):
        converter.parse(abc, format="abc", forceSource=True).expandRepeats()
    v = validity.check_tune(abc)
    assert not v.valid and any("MIDI" in r for r in v.reasons), v.reasons


def test_corpus_repeat_structure_mostly_clean():
    files = [f for f in corpus.music21_abc_files() if "ryansMammoth" in str(f)][:15]
    tunes = corpus.prepare_abc(files).train[:200]
    assert sum(bool(repeats.repeat_problems(t)) for t in tunes) <= 0.03 * len(tunes)
