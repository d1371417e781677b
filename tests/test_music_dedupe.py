"""Out-of-collection scoring drops the tunes the training corpus holds, whatever key or spelling they are in."""

from __future__ import annotations

import json

from audio_rnn.cli import main
from audio_rnn.music import dedupe

KESH = "X:1\nT:The Kesh\nM:6/8\nL:1/8\nK:G\n|:GAG GAB|ABA ABd|edd gdd|edB dBA|GAG GAB|ABA ABd|edd gdB|AGF G3:|\n"
# the same tune written a tone higher, with other rhythm spelling, ornaments, chord symbols and line breaks
KESH_IN_A = ("X:7\nT:Kesh Jig\nR:jig\nM:6/8\nL:1/8\nK:A\n\"A\"ABA ABc|{d}BcB Bce|\nfee aee|fec ecB|"
             "ABA ABc|BcB Bce|fee aec|BGA A2 z:|\n")
OTHER = "X:2\nT:Scale\nM:4/4\nL:1/8\nK:C\nCDEF GABc|dcBA GFED|CEGc egc'e'|g2e2 c4|CDEC DEFD|EFGE FGAF|\n"


def test_note_body_ignores_key_rhythm_and_decoration():
    assert dedupe.note_body(KESH)[:6] == dedupe.note_body(KESH_IN_A)[:6] == [1, -1, 0, 1, 1, -1]


def test_index_finds_another_transcription_and_not_an_unrelated_tune():
    index = dedupe.TuneIndex([KESH, OTHER])
    m = index.match(KESH_IN_A)
    assert m.index == 0 and m.share >= dedupe.SAME_TUNE
    new, known = dedupe.split_known([KESH_IN_A, "X:3\nT:t\nM:4/4\nL:1/8\nK:D\n" + "DFAd fdAF|" * 2 + "\n"], index)
    assert known == [KESH_IN_A] and len(new) == 1


def test_score_dedupe_removes_the_training_tunes_and_reports_them(tmp_path, capsys):
    """Drowsy Maggie (and others) are in O'Neill's: the shipped model's training split holds them."""
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "samples" / "abc" / "irish_session_tunes.abc"
    assert main(["score", str(sample), "--dedupe", "--no-cache", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["tunes"] == 24 and 1 <= res["removed_tunes"] < 24
    assert res["chars"] < len(sample.read_text())
    assert 1.0 < res["bits_per_char"] < 4.0
