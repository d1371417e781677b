"""Streams from the Speech Commands share's held-out speakers, and stream scores by source."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_rnn.keywords import data
from audio_rnn.keywords.data import COMMANDS, DIGITS, SILENCE, UNKNOWN
from audio_rnn.streams.scoring import SourceTally
from audio_rnn.spotting.detection import Detection
from audio_rnn.streams.real import speaker_halves
from audio_rnn.streams.synth import trimmed_word

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(600)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audio_rnn", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=400)


@pytest.fixture(scope="module")
def share(speech_commands_dir):
    return data.load_speech_commands_folder(speech_commands_dir, labels=None)


def test_held_out_speakers_are_halved_by_speaker(share):
    halves = speaker_halves(share)
    held = {c.speaker for c in share if c.split == "val" and c.label != SILENCE}
    assert set(halves) == held and set(halves.values()) == {"val", "test"}
    words = {h: sum(halves.get(c.speaker) == h for c in share if c.label != SILENCE) for h in ("val", "test")}
    assert abs(words["val"] - words["test"]) <= 0.2 * sum(words.values())  # about as many words each
    assert speaker_halves(list(reversed(share))) == halves  # independent of file order


@pytest.fixture(scope="module")
def sc_streams(speech_commands_dir, tmp_path_factory):
    out = {}
    for vocab, split in (("commands", "test"), ("digits", "val")):
        folder = tmp_path_factory.mktemp(f"sc_{vocab}")
        res = cli("make-streams", "--speech-commands", str(speech_commands_dir), "--vocab", vocab, "--split", split,
                  "--streams", "1", "--minutes", "1", "--snr", "20,30", "--out", str(folder), "--quiet")
        assert res.returncode == 0, res.stderr
        out[vocab] = folder
    return out


@pytest.mark.parametrize("vocab,split,keywords", [("commands", "test", COMMANDS), ("digits", "val", DIGITS)])
def test_streams_hold_real_clips_of_held_out_speakers_only(sc_streams, share, speech_commands_dir, vocab, split,
                                                         keywords):
    folder = sc_streams[vocab]
    man = json.loads((folder / "manifest.json").read_text())
    truth = json.loads((folder / "stream_000.json").read_text())
    wave, sr = sf.read(folder / "stream_000.wav", dtype="float32")
    halves = speaker_halves(share)
    by_name = {c.name: c for c in share}
    assert man["vocab"] == vocab and man["split"] == split and truth["noise"] == "recorded"
    assert sr == 16000 and len(wave) == 60 * sr and 20 <= truth["snr_db"] <= 30
    assert set(man["speakers"]) == {s for s, h in halves.items() if h == split}
    words = truth["words"]
    assert len(words) >= 20 and {w["label"] for w in words} - {UNKNOWN} <= set(keywords)
    assert any(w["label"] in keywords for w in words) and any(w["label"] == UNKNOWN for w in words)
    for w in words:
        clip = by_name[w["clip"]]  # a real file of the share
        assert clip.split == "val" and halves[clip.speaker] == split  # a held-out speaker of this half only
        assert w["source"] == f"speechcommands:{clip.speaker}" and w["word"] == clip.label
        assert w["label"] == (clip.label if clip.label in keywords else UNKNOWN)
        x = trimmed_word(clip.wave)
        a = int(round(w["start"] * sr))
        assert abs(len(x) / sr - (w["end"] - w["start"])) < 2e-3
        # that recording at that time (times are rounded to 1 ms = 16 samples), over a quieter bed
        best = max(np.corrcoef(wave[a + d:a + d + len(x)], x)[0, 1] for d in range(-16, 17))
        assert best > 0.9, (w, best)


def test_streams_are_deterministic_and_commands_need_the_share(sc_streams, speech_commands_dir, tmp_path):
    res = cli("make-streams", "--speech-commands", str(speech_commands_dir), "--vocab", "digits", "--split", "val",
              "--streams", "1", "--minutes", "1", "--snr", "20,30", "--out", str(tmp_path / "again"), "--quiet")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "again" / "stream_000.wav").read_bytes() == (sc_streams["digits"] / "stream_000.wav").read_bytes()
    bad = cli("make-streams", "--vocab", "commands", "--out", str(tmp_path / "x"))
    assert bad.returncode == 1 and "--speech-commands" in bad.stderr and "Traceback" not in bad.stderr


def test_eval_streams_reports_by_source(sc_streams):
    res = cli("eval-streams", str(sc_streams["digits"]), "--json", "--quiet")
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout.splitlines()[-1])
    by = s["by_source"]
    assert list(by) == ["speechcommands", "silence"]
    assert by["speechcommands"]["keywords"] == s["keywords"] and by["speechcommands"]["right"] > 0
    assert sum(v["false_alarms"] for v in by.values()) == s["false_alarms"]
    for key in ("found_right_pct", "wrong_pct", "fa_per_word", "fa_per_hour"):
        assert key in by["speechcommands"]
    text = cli("eval-streams", str(sc_streams["digits"]), "--quiet")
    assert "speechcommands:" in text.stdout and f"found-and-right {s['found_right_pct']}%" in text.stdout


def test_source_tally_attributes_outcomes_and_false_alarms():
    words = [{"label": "three", "start": 1.0, "end": 1.5, "source": "fsdd:3_george_30"},
             {"label": UNKNOWN, "start": 4.0, "end": 4.4, "source": "espeak:en-us+m3"},
             {"label": "seven", "start": 7.0, "end": 7.6, "source": "speechcommands:ab12"},
             {"label": "one", "start": 10.0, "end": 10.4, "source": "speechcommands:cd34"}]
    dets = [Detection("three", 1.0, 1.4, 0.9),  # fsdd: right
            Detection("two", 4.0, 4.3, 0.8),  # on the espeak non-keyword: its false alarm
            Detection("eight", 7.1, 7.5, 0.9),  # speechcommands: wrong
            Detection("one", 10.1, 10.3, 0.9), Detection("one", 10.5, 10.7, 0.9),  # right, then a repeat: FA there
            Detection("five", 20.0, 20.4, 0.9)]  # near no word: silence
    tally = SourceTally()
    tally.add(dets, words, 3600.0)
    by = tally.summary()
    assert list(by) == ["espeak", "fsdd", "speechcommands", "silence"]
    assert (by["fsdd"]["right"], by["fsdd"]["false_alarms"]) == (1, 0)
    assert (by["espeak"]["keywords"], by["espeak"]["other_words"], by["espeak"]["false_alarms"]) == (0, 1, 1)
    sc = by["speechcommands"]
    assert (sc["keywords"], sc["right"], sc["wrong"], sc["false_alarms"], sc["fa_per_word"]) == (2, 1, 1, 1, 0.5)
    assert (by["silence"]["false_alarms"], by["silence"]["fa_per_word"], by["silence"]["fa_per_hour"]) == (1, 0.25, 1.0)
