"""The structure guard: which characters it bans, which bar lines it closes, how it ends an open repeat."""

from __future__ import annotations

from audio_rnn.music import repeats
from audio_rnn.music.structure_guard import StructureGuard

HEAD = "X:1\nT:t\nM:4/4\nL:1/8\nK:G\n"
BAR = "GABc dedB"


def test_no_ending_without_a_repeat():
    g = StructureGuard()
    assert "1" not in g.banned(HEAD + f"|:{BAR}|")  # a first ending may follow an open repeat
    assert set("23456789") <= set(g.banned(HEAD + f"|:{BAR}|"))
    assert "2" not in g.banned(HEAD + f"|:{BAR}|1 {BAR}:|")  # the second ending after the first closed
    assert "1" in StructureGuard().banned(HEAD + f"|:{BAR}:|")  # nothing to repeat: ending 1 would be stray


def test_no_colon_that_closes_nothing():
    g = StructureGuard()
    assert ":" in g.banned(HEAD + f"|:{BAR}:| ")  # a repeat just closed, no music since
    assert ":" not in StructureGuard().banned(HEAD + f"|:{BAR} ")
    assert ":" not in StructureGuard().banned(HEAD + f"{BAR} ")  # repeats from the start
    assert StructureGuard().banned(HEAD[:-2]) == ""  # still in the header


def test_bar_lines_that_need_a_colon():
    g = StructureGuard()
    before = HEAD + f"|:{BAR}|{BAR}"
    assert g.needs_close(before, "]")  # "|]" with a repeat open -> ":|]"
    assert g.needs_close(before, ":")  # "|:" again -> ":|:"
    assert not g.needs_close(HEAD + f"{BAR}|{BAR}", "]")  # nothing open
    assert StructureGuard().needs_close(HEAD + f"|:{BAR}|1 {BAR}", "2")  # "|2" after an open first ending
    assert StructureGuard().needs_close(HEAD + f"|:{BAR}|1 {BAR}", "[2")


def test_close_at_end():
    g = StructureGuard()
    for body in (f"|:{BAR}|{BAR}|\n\n", f"|:{BAR}|{BAR}|]\n\n", f"|:{BAR}|{BAR}\n\n", f"|:{BAR}|1 {BAR}|\n\n"):
        closed = StructureGuard().close_at_end(HEAD + body)
        assert repeats.repeat_problems(closed) == [], closed
        assert closed.endswith("\n\n")
    assert g.close_at_end(HEAD + f"|:{BAR}:|\n") == HEAD + f"|:{BAR}:|\n"  # nothing to close
