"""ABC corpus preparation on music21's real ABC files: split, normalise, de-duplicate, seeded split by tune."""

from __future__ import annotations

import json
import random

import pytest

from audio_rnn.music import corpus as abc_corpus, notation
from audio_rnn.cli import main
from audio_rnn.errors import CorpusError


@pytest.fixture(scope="module")
def subset():
    """A real slice of music21's corpus: Ryan's Mammoth, O'Neill's and an Essen file."""
    files = abc_corpus.music21_abc_files()
    pick = [f for f in files if "ryansMammoth" in str(f)][:60]
    pick += [f for f in files if "oneills1850" in str(f)][:2]
    pick += [f for f in files if f.name == "erk5.abc"]
    return pick


RAW = (
    "X: 7\r\n"
    "T: A Test Reel\r\n"
    "% a comment line\r\n"
    "C: somebody\r\n"
    "N: a note that is dropped\r\n"
    "R: reel\r\n"
    "Z: transcriber\r\n"
    "M: 4/4\r\n"
    "L: 1/8\r\n"
    "Q: 1/4=120\r\n"
    "K: D\r\n"
    "%%MIDI program 1\r\n"
    "|: ABcd   efga | % trailing comment\r\n"
    "w: some lyrics here\r\n"
    "P: B\r\n"
    "M: 3/4\r\n"
    "d2 f2 a2 :|\r\n"
    "\r\n"
    "T: text after the tune is not part of it\r\n"
)


def test_normalise_keeps_only_the_listed_headers_and_the_music():
    out = abc_corpus.normalise_tune(RAW)
    assert out == "X:7\nT:A Test Reel\nR:reel\nM:4/4\nL:1/8\nK:D\n|: ABcd efga |\nM:3/4\nd2 f2 a2 :|\n"
    assert abc_corpus.normalise_tune(out) == out  # a fixed point


@pytest.mark.parametrize(
    "raw",
    [
        "X:1\nT:no key\nM:4/4\nABC|\n",  # no K:
        "X:1\nT:no meter\nK:G\nABC|\n",  # no M:
        "X:1\nT:no music\nM:4/4\nK:G\n",  # nothing after K:
        "X:1\nT:voices\nM:4/4\nK:G\nV:1\nABC|\n",  # multi-voice
    ],
)
def test_unusable_tunes_are_refused(raw):
    assert abc_corpus.normalise_tune(raw) is None


def test_prepare_real_subset(subset):
    corpus = abc_corpus.prepare_abc(subset, seed=0)
    assert len(corpus.train) > 100 and corpus.val and corpus.test
    every = corpus.train + corpus.val + corpus.test
    keys = [abc_corpus.music_key(t) for t in every]
    assert len(set(keys)) == len(keys), "duplicates survived"
    for tune in every:
        header = []
        for line in tune.rstrip("\n").split("\n"):
            header.append(line[0])
            if line.startswith("K:"):
                break
        assert set(header) <= set(notation.KEEP_HEADERS), tune
        assert header[0] == "X" and header[-1] == "K"
        assert "%" not in tune and "\r" not in tune and "\nw:" not in tune and "\n\n" not in tune
    # split by tune, disjoint, reproducible with the seed, different with another seed
    assert not (set(corpus.train) & set(corpus.test)) and not (set(corpus.val) & set(corpus.test))
    again = abc_corpus.prepare_abc(subset, seed=0)
    assert again.test == corpus.test
    assert abc_corpus.prepare_abc(subset, seed=1).test != corpus.test
    assert corpus.stats["raw_tunes"] == len(every) + corpus.stats["unusable"] + corpus.stats["duplicates"]


def test_duplicates_are_dropped(tmp_path):
    tune = "X:1\nT:One\nM:2/4\nL:1/8\nK:G\nGABc|d2d2|\n"
    (tmp_path / "a.abc").write_text(tune + "\n" + tune.replace("X:1\nT:One", "X:2\nT:Other title") + "\n"
                                    + tune.replace("d2d2", "e2e2").replace("X:1", "X:3") + "\n"
                                    + tune.replace("X:1", "X:4") + "\n" + tune.replace("X:1", "X:5") + "\n"
                                    + tune.replace("GABc", "G  AB  c").replace("X:1", "X:6") + "\n"
                                    + tune.replace("GABc", "FGAB").replace("X:1", "X:7"))
    corpus = abc_corpus.prepare_abc([tmp_path / "a.abc"], seed=0)
    assert corpus.stats["duplicates"] == 4  # retitled, renumbered and re-spaced copies
    assert len(corpus.train) + len(corpus.val) + len(corpus.test) == 3


def test_prepare_corpus_command_on_the_full_music21_corpus(tmp_path, capsys):
    assert main(["prepare-corpus", "--out", str(tmp_path / "c"), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["files"] > 1000 and stats["train_tunes"] > 10000
    assert stats["test_tunes"] > 500 and 60 < stats["vocabulary"] < 200
    loaded = abc_corpus.load_prepared(tmp_path / "c")
    assert len(loaded.test) == stats["test_tunes"]
    assert loaded.text("test") == (tmp_path / "c" / "test.txt").read_text()


def test_text_corpus_and_errors(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("line of text\n" * 200, encoding="utf-8")
    corpus = abc_corpus.load_corpus(str(p))
    assert corpus.text("train") + corpus.text("val") + corpus.text("test") == p.read_text()
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00\x01" * 50)
    with pytest.raises(CorpusError):
        abc_corpus.load_corpus(str(tmp_path / "bin.txt"))
    with pytest.raises(CorpusError):
        abc_corpus.load_corpus(str(tmp_path / "missing.txt"))


def test_raw_style_keeps_the_transcribers_header_as_written():
    out = abc_corpus.raw_style_tune(RAW)
    assert out == ("X: 7\nT: A Test Reel\nC: somebody\nN: a note that is dropped\nR: reel\nZ: transcriber\n"
                   "M: 4/4\nL: 1/8\nQ: 1/4=120\nK: D\n|: ABcd efga |\nw: some lyrics here\nP: B\nM: 3/4\n"
                   "d2 f2 a2 :|\n")
    assert abc_corpus.normalise_tune(out) == abc_corpus.normalise_tune(RAW)  # the same tune once normalised
    assert abc_corpus.raw_style_tune("X:1\nT:no key\nM:4/4\nABC|\n") is None


def test_restyle_header_varies_only_the_header():
    tune = abc_corpus.normalise_tune(RAW)
    body = tune.split("K:D\n", 1)[1]
    gaps, keys, orders = set(), set(), set()
    for seed in range(60):
        out = abc_corpus.restyle_header(tune, random.Random(seed))
        head, _, rest = out.partition("\nK:")
        key_line, _, music_part = rest.partition("\n")
        assert music_part == body, out
        fields = [ln.split(":", 1) for ln in head.split("\n")]
        assert fields[0][0] == "X" and sorted(f for f, _ in fields) == ["L", "M", "R", "T", "X"]
        assert {v.strip() for _, v in fields} == {"7", "A Test Reel", "reel", "4/4", "1/8"}
        gaps.add(fields[1][1][:1] == " ")
        keys.add(key_line.strip())
        orders.add(tuple(f for f, _ in fields))
        assert abc_corpus.music_key(abc_corpus.normalise_tune(out)) == abc_corpus.music_key(tune)
    assert gaps == {True, False} and len(orders) > 1
    assert "D" in keys and keys & {"Dmaj", "D major", "Dmajor", "DMaj"} and keys <= {
        "D", "Dmaj", "D major", "Dmajor", "DMaj"}


def test_augment_share_and_identity():
    tune, raw = abc_corpus.normalise_tune(RAW), abc_corpus.raw_style_tune(RAW)
    rng = random.Random(0)
    assert all(abc_corpus.augment_tune(tune, raw, rng, 0.0) == tune for _ in range(50))
    outs = [abc_corpus.augment_tune(tune, raw, rng, 0.4) for _ in range(1000)]
    changed = sum(o != tune for o in outs) / len(outs)
    assert 0.2 < changed < 0.45, changed
    assert any(o.startswith("X: 7\nT: A Test Reel\nC: somebody") for o in outs)  # the raw style itself


def test_training_docs_augment_train_only(subset):
    from audio_rnn.music.train import training_docs

    corpus = abc_corpus.prepare_abc(subset, seed=0)
    assert len(corpus.train_raw) == len(corpus.train)
    assert all(abc_corpus.normalise_tune(r) == t for t, r in zip(corpus.train, corpus.train_raw))
    plain = training_docs(corpus, random.Random(0), 0.0)
    assert sorted(plain) == sorted(corpus.train)
    docs = training_docs(corpus, random.Random(0), 0.4)
    styled = [d for d in docs if d not in set(corpus.train)]
    assert 0.15 * len(docs) < len(styled) < 0.5 * len(docs)
    keys = sorted(abc_corpus.music_key(abc_corpus.normalise_tune(d)) for d in docs)
    assert keys == sorted(abc_corpus.music_key(t) for t in corpus.train)  # the same tunes, only the header differs
    text = abc_corpus.Corpus(["a b c\n"] * 10, ["v\n"], ["t\n"], "notes.txt")
    assert sorted(training_docs(text, random.Random(0), 0.9)) == ["a b c\n"] * 10  # text corpora untouched
