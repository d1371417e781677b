"""Fuzz the text and ABC tools: every input gives a valid result or a CorpusError, within 5 s.

Inputs: arbitrary unicode, ABC-looking text assembled from real ABC tokens (headers, bars,
repeats, tuplets, chords, accidentals, comments, escapes, inline fields, voices) mixed with
junk (NUL, C1 controls, lone CR, surrogate-free astral characters), and arbitrary bytes
written as corpus files. Properties, not just "no crash": split_tunes loses no text,
normalise_tune is idempotent, Vocab encode/decode round-trips, split_text keeps every char.
The default run checks 525 cases (deterministic); `--runslow` adds 3,400 random ones.
Counts: `pytest tests/test_fuzz_text.py --hypothesis-show-statistics`.
"""

from __future__ import annotations

import signal
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audio_rnn.music import corpus, notation, text, validity
from audio_rnn.errors import CorpusError

TIME_LIMIT_S = 5.0
MEMORY_LIMIT_B = 64e6
FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                    HealthCheck.function_scoped_fixture])
FAST = settings(max_examples=100, derandomize=True, **FUZZ)
SLOW = settings(max_examples=1500, **FUZZ)


class Hang(BaseException):
    """An input took longer than TIME_LIMIT_S (a BaseException: `except Exception` cannot swallow it)."""


@contextmanager
def bounded(what: str):
    """Fail on a hang (> 5 s, interrupted by SIGALRM) or on more than 64 MB allocated."""

    def alarm(signum, frame):
        raise Hang(f"{what} ran longer than {TIME_LIMIT_S} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.perf_counter() - t0 < TIME_LIMIT_S
    assert peak < MEMORY_LIMIT_B, f"{what} allocated {peak / 1e6:.0f} MB"


# ----------------------------------------------------------------------------- inputs

HEADERS = ["X:1", "X:", "X: 2", "T:Tune", "T:", "M:6/8", "M:C|", "M:4/4", "M:0/0", "M:99999999/1", "M:",
           "L:1/8", "L:1/0", "L:", "K:G", "K:Dmix", "K:", "K:none", "R:reel", "V:1", "w:la la", "W:words",
           "Q:1/4=120", "P:A", "N:note", "%%score 1", "I:abc-charset utf-8", "S:source", "Z:me"]
MUSIC = ["A", "B", "c", "d'", "e,", "z", "Z4", "x", "^f", "_B", "=c", "^^g", "__a", "2", "/", "3/2", "//", "|",
         "||", "|]", "[|", ":|", "|:", "::", "[1", "[2", ":|2", "(3", "(3:2:3", "[CEG]", "[", "]", "{g}",
         "~", ".", "-", "!trill!", "!", "+fermata+", "\"C\"", "\"", "^", ">", "<", "(", ")", "[K:D]", "[M:3/4]",
         "[L:1/16]", "M:3/4", "K:Am", "\\", "\\%", "%", "% comment", " ", "\t", "y", "&", "$", "`", "A8888888888"]
JUNK = ["\x00", "\r", "\r\n", "\x85", "\x84", "\x9f", "\u2028", "\ufeff", "\ufffd", "\U0001f3b5", "é", "ß",
        "\u0301", "X:1\n", "\n\n", "\n"]


@st.composite
def abc_like(draw) -> str:
    """Text that looks like (possibly broken) ABC: header lines, music lines, junk, blank lines."""
    parts: list[str] = []
    for _ in range(draw(st.integers(1, 6))):
        parts += [draw(st.sampled_from(HEADERS)) + "\n" for _ in range(draw(st.integers(0, 6)))]
        for _ in range(draw(st.integers(0, 4))):
            line = "".join(draw(st.lists(st.sampled_from(MUSIC + JUNK[:6]), max_size=30)))
            parts.append(line + draw(st.sampled_from(["\n", "\n", "\r\n", "\r", ""])))
        if draw(st.booleans()):
            parts.append(draw(st.sampled_from(JUNK)))
        if draw(st.booleans()):
            parts.append(draw(st.text(max_size=20)))
    return "".join(parts)


any_text = st.one_of(abc_like(), st.text(max_size=400), st.text(alphabet=st.sampled_from("X:K\n|AB %\\\r["), max_size=300))


# ----------------------------------------------------------------------------- ABC tools


def check_abc(raw: str) -> None:
    """split -> normalise -> key, with their contracts."""
    with bounded("split_tunes/normalise_tune"):
        tunes = notation.split_tunes(raw)
        flat = raw.replace("\r\n", "\n").replace("\r", "\n")
        assert all(isinstance(t, str) and t.startswith("X:") for t in tunes)
        first = flat.find("X:") if flat.startswith("X:") else flat.find("\nX:") + 1 if "\nX:" in flat else len(flat)
        assert "".join(tunes) == flat[first:]  # nothing lost, nothing invented
        for t in tunes + [flat]:
            norm = corpus.normalise_tune(t)
            if norm is None:
                continue
            assert norm.startswith("X:") and norm.endswith("\n") and "\r" not in norm
            lines = norm.split("\n")
            assert any(ln.startswith("K:") for ln in lines) and any(ln.startswith("M:") for ln in lines)
            assert corpus.normalise_tune(norm) == norm  # canonical form is a fixed point
            assert isinstance(corpus.music_key(norm), str)
        corpus._fix_c1(raw)


@FAST
@given(any_text)
def test_fuzz_abc_split_and_normalise(raw):
    check_abc(raw)


@pytest.mark.slow
@SLOW
@given(any_text)
def test_fuzz_abc_split_and_normalise_many(raw):
    check_abc(raw)


def check_validity(raw: str) -> None:
    """check_tune (music21 parse + bar checker) gives a Validity, with reasons when invalid."""
    validity.check_tune("X:1\nT:warm-up\nM:4/4\nK:C\nCDEF|\n")  # import music21 outside the clock (once)
    for t in notation.split_tunes(raw)[:2] + [raw]:
        with bounded(f"check_tune({t[:300]!r})"):
            v = validity.check_tune(t)
        assert isinstance(v, validity.Validity) and (v.valid or v.reasons)


@settings(max_examples=25, derandomize=True, **FUZZ)
@given(abc_like())
def test_fuzz_abc_validity_checker(raw):
    check_validity(raw)


@pytest.mark.slow
@settings(max_examples=400, **FUZZ)
@given(abc_like())
def test_fuzz_abc_validity_checker_many(raw):
    check_validity(raw)


def test_validity_checker_huge_meter_is_refused_fast():
    """Found by this fuzzer: music21 spent minutes partitioning M:999/1; now refused up front."""
    validity.check_tune("X:1\nT:warm-up\nM:4/4\nK:C\nCDEF|\n")  # import music21 outside the clock
    for m in ("M:999/1", "M:99999999/1", "[M:3000/4]"):
        with bounded("check_tune"):
            header, inline = (m, "") if m.startswith("M:") else ("M:4/4", m)
            v = validity.check_tune(f"X:1\nT:t\n{header}\nK:C\nCDEF|{inline}CDEF|\n")
        assert not v.valid and any("meter" in r for r in v.reasons)


def test_validity_checker_giant_bar_is_refused_fast():
    """Found by atheris (benchmarks/fuzz_text_atheris.py): a note 1174 units long made music21 re-bar for 27 s."""
    validity.check_tune("X:1\nT:warm-up\nM:4/4\nK:C\nCDEF|\n")  # import music21 outside the clock
    for body in ("A2 |f1174 d2|", "[V:1] A2|d8|\n[V:2] A2 |f1174 d2|", "A2|[CEG]999|"):
        with bounded("check_tune"):
            v = validity.check_tune(f"X:1\nT:t\nM:C\nL:1/8\nK:D\n{body}\n")
        assert not v.valid and any("quarters" in r or "parse" in r for r in v.reasons), v.reasons
    # found next (88 s): no K: field, so no bar check, and a 100-note bar
    with bounded("check_tune"):
        v = validity.check_tune("X:139\nT:t\nM:3/4\nG | _BBBc | d" + "a" * 100 + "d\nG | GA_BF | G2 z\n")
    assert not v.valid and v.reasons == ["missing header K:"]


# ----------------------------------------------------------------------------- text tools


def check_vocab(corpus: str, probe: str) -> None:
    with bounded("Vocab"):
        for min_count in (1, 2):
            v = text.Vocab.build([corpus], min_count=min_count)
            ids = v.encode(probe)
            assert ids.shape == (len(probe),) and (ids >= 0).all() and (ids < len(v)).all()
            decoded = v.decode(ids)
            assert len(decoded) == len(probe)
            assert all(d == c or (d == text.UNK and c in v.unknown(probe) + [text.UNK]) for d, c in zip(decoded, probe))
            assert text.Vocab.from_dict(v.to_dict()).chars == v.chars
        assert v.decode([-5, 0, 10**9]) == text.UNK * 3


@FAST
@given(any_text, any_text)
def test_fuzz_vocab_roundtrip(corpus, probe):
    check_vocab(corpus, probe)


def check_split(s: str) -> None:
    with bounded("split_text"):
        try:
            parts = text.split_text(s)
        except CorpusError as exc:
            assert len(s) < 100 and "too small" in str(exc)
            return
        assert "".join(parts) == s and all(parts)


@FAST
@given(st.one_of(any_text, st.text(min_size=100, max_size=3000), abc_like().map(lambda t: t * 20)))
def test_fuzz_split_text(s):
    check_split(s)


def check_corpus_file(path: Path, data: bytes) -> None:
    """Arbitrary bytes as a corpus file: a Corpus or a CorpusError from every entry point."""
    path.write_bytes(data)
    with bounded("read_text/prepare_text/load_corpus/prepare_abc"):
        try:
            t = text.read_text(path)
            assert t.strip() and "\r" not in t and "\x00" not in t
        except CorpusError:
            pass
        for fn in (corpus.prepare_text, corpus.load_corpus):
            try:
                c = fn(str(path))
                assert isinstance(c, corpus.Corpus) and "".join(c.train + c.val + c.test).strip()
            except CorpusError:
                pass
        try:
            c = corpus.prepare_abc([path])
            assert len(c.train) + len(c.val) + len(c.test) >= 3
        except CorpusError:
            pass


corpus_bytes = st.one_of(
    st.binary(max_size=2000),
    any_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
    abc_like().map(lambda t: (t * 30).encode()),
    st.tuples(abc_like(), st.binary(max_size=8)).map(lambda p: p[0].encode() + p[1]),
)


@FAST
@given(corpus_bytes)
def test_fuzz_corpus_files(tmp_path, data):
    check_corpus_file(tmp_path / "corpus.txt", data)


@pytest.mark.slow
@SLOW
@given(corpus_bytes)
def test_fuzz_corpus_files_many(tmp_path, data):
    check_corpus_file(tmp_path / "corpus.txt", data)


def check_prepared_folder(folder: Path, train: bytes, stats: bytes) -> None:
    """A prepared-corpus folder with damaged files: a Corpus or a CorpusError."""
    folder.mkdir(exist_ok=True)
    (folder / "train.txt").write_bytes(train)
    (folder / "val.txt").write_text("X:1\nK:C\nABC\n")
    (folder / "test.txt").write_text("X:2\nK:C\ncde\n")
    (folder / "stats.json").write_bytes(stats)
    with bounded("load_prepared"):
        try:
            c = corpus.load_prepared(folder)
            assert isinstance(c.train, list) and isinstance(c.stats, dict)
        except CorpusError:
            pass


@FAST
@given(st.one_of(st.binary(max_size=300), any_text.map(str.encode)),
       st.one_of(st.just(b'{"source": "abc"}'), st.binary(max_size=50), st.sampled_from([b"[]", b"null", b'"x"', b"{"])))
def test_fuzz_prepared_folder(tmp_path, train, stats):
    check_prepared_folder(tmp_path / "prep", train, stats)


def test_fuzz_examples_run_real_abc():
    """Sanity for the properties: a real music21 ABC file normalises and survives every check."""
    f = corpus.music21_abc_files()[0]
    raw = corpus._fix_c1(f.read_bytes().decode("utf-8", errors="replace"))
    check_abc(raw[:20000])
    tunes = [corpus.normalise_tune(t) for t in notation.split_tunes(raw)]
    assert sum(t is not None for t in tunes) >= 1
