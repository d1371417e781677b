"""Keyword data: real FSDD, the espeak-ng set (deterministic), user folders, a tiny Speech Commands tree, silence."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from audio_rnn.keywords import data
from audio_rnn.keywords.data import LABELS, SILENCE, UNKNOWN

pytestmark = pytest.mark.timeout(300)


def test_fsdd_loads_real_speech_at_16k(fsdd_dir):
    assert data.fsdd_speakers(fsdd_dir) == ["george", "jackson", "lucas", "nicolas", "yweweler"]
    clips = data.load_fsdd(fsdd_dir, speakers=["jackson"], holdout=["jackson"])
    assert len(clips) == 500
    assert {c.label for c in clips} == set(data.DIGITS)
    assert {c.split for c in clips} == {"test"} and {c.speaker for c in clips} == {"jackson"}
    c = next(c for c in clips if c.name == "7_jackson_32.wav")
    assert c.label == "seven"
    info = sf.info(str(fsdd_dir / c.name))
    assert info.samplerate == 8000
    assert abs(len(c.wave) - info.frames * 2) <= 2  # resampled 8 -> 16 kHz
    assert c.wave.dtype == np.float32 and np.max(np.abs(c.wave)) > 0.05
    # the parent folder works too, and load_any recognises it
    assert len(data.load_any(fsdd_dir.parent, holdout=["george"])) == 2500
    # --val-speakers: an FSDD voice in the validation fold (it chooses the epoch), the test speaker kept out
    both = data.load_training_clips([fsdd_dir.parent], data.LABELS, holdout=["george"], val_speakers=["jackson"])
    by_split = {sp: {c.speaker for c in both if c.split == sp} for sp in ("train", "val", "test")}
    assert by_split["val"] == {"jackson"} and by_split["test"] == {"george"}
    assert not by_split["train"] & {"george", "jackson"} and len(by_split["train"]) == 3


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_synth_speech_command_writes_deterministic_manifest(tmp_path):
    from audio_rnn.keywords.synth_speech import UNKNOWN_WORDS, digest

    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        r = subprocess.run([sys.executable, "-m", "audio_rnn", "synth-speech", "--out", str(out), "--per-digit", "2",
                            "--per-unknown", "1", "--seed", "3", "--json"], capture_output=True, text=True, timeout=240)
        assert r.returncode == 0, r.stderr
        outs.append(json.loads(r.stdout))
    assert outs[0]["digest"] == outs[1]["digest"] == digest(tmp_path / "a")
    rows = [json.loads(line) for line in (tmp_path / "a" / "manifest.jsonl").read_text().splitlines()]
    assert sum(r["label"] == "seven" for r in rows) == 2
    unknown_words = {r["word"] for r in rows if r["label"] == UNKNOWN}
    assert len(unknown_words) >= 30 and {"tree", "for", "won", "nein", "sick", "then"} <= unknown_words
    assert "ate" not in unknown_words  # espeak-ng says it exactly like "eight": dropped, not mislabelled
    assert len(unknown_words) <= len(UNKNOWN_WORDS)
    assert len({r["voice"] for r in rows}) > 20
    for r in rows[:5]:
        x, sr = sf.read(str(tmp_path / "a" / r["path"]))
        assert sr == 16000 and 0.1 < len(x) / sr < 2.0
    # a different seed gives a different set; the folder also loads as root/<label>/*.wav
    assert data.load_synth(tmp_path / "a")[0].source == "espeak"
    assert {c.label for c in data.load_folder(tmp_path / "a")} == set(data.DIGITS) | {UNKNOWN}


def _tone(sr: int, f: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32)


def test_folder_dataset_maps_labels_and_splits_by_speaker(tmp_path):
    for label in ("one", "yes", "_silence_"):
        (tmp_path / label).mkdir()
    for spk in ("anna", "bob", "carl", "dora"):
        sf.write(tmp_path / "one" / f"{spk}_0.wav", _tone(8000, 300), 8000)
        sf.write(tmp_path / "yes" / f"{spk}_0.flac", _tone(22050, 500), 22050)
    sf.write(tmp_path / "_silence_" / "room.wav", np.zeros(16000 * 3, np.float32), 16000)
    (tmp_path / "one" / "broken.wav").write_bytes(b"not audio at all")
    clips = data.load_folder(tmp_path)
    labels = sorted(c.label for c in clips)
    assert labels.count("one") == 4 and labels.count(UNKNOWN) == 4 and labels.count(SILENCE) == 3
    assert all(len(c.wave) in (8000, 16000) for c in clips)
    for spk in ("anna", "bob"):  # one speaker's clips share one split
        assert len({c.split for c in clips if c.speaker == spk}) == 1
    own = data.load_folder(tmp_path, labels=None)
    assert {c.label for c in own} == {"one", "yes", "_silence_"}


def test_tiny_speech_commands_tree_through_torchaudio(tmp_path):
    base = tmp_path / "SpeechCommands" / "speech_commands_v0.02"
    files = {"one": ["aa11_nohash_0", "bb22_nohash_0", "cc33_nohash_0"], "bed": ["aa11_nohash_1", "dd44_nohash_0"]}
    for word, names in files.items():
        (base / word).mkdir(parents=True)
        for n in names:
            sf.write(base / word / f"{n}.wav", _tone(16000, 400, 1.0), 16000)
    (base / "_background_noise_").mkdir()
    sf.write(base / "_background_noise_" / "white.wav", np.random.default_rng(0).normal(0, 0.1, 16000 * 2).astype(np.float32), 16000)
    (base / "validation_list.txt").write_text("one/bb22_nohash_0.wav\n")
    (base / "testing_list.txt").write_text("one/cc33_nohash_0.wav\n")
    clips = data.load_any(tmp_path)
    by_name = {c.name: c for c in clips}
    assert by_name["one/aa11_nohash_0.wav"].split == "train"
    assert by_name["one/bb22_nohash_0.wav"].split == "val"
    assert by_name["one/cc33_nohash_0.wav"].split == "test"
    assert by_name["bed/dd44_nohash_0.wav"].label == UNKNOWN
    assert by_name["one/aa11_nohash_0.wav"].speaker == "aa11"
    assert sum(c.label == SILENCE for c in clips) == 2  # 2 s of background noise -> two 1 s clips
    assert all(len(c.wave) == 16000 for c in clips)


def test_silence_generator_covers_every_kind_and_level():
    clips = data.silence_clips(60, seed=1)
    kinds = {c.name.split("_")[0] for c in clips}
    assert kinds == set(data.SILENCE_KINDS)
    levels = [float(np.sqrt(np.mean(c.wave**2))) for c in clips if not c.name.startswith("digital")]
    assert min(levels) < 1e-3 < 0.02 < max(levels)
    assert all(len(c.wave) == data.WINDOW and np.all(np.abs(c.wave) <= 1) for c in clips)
    again = data.silence_clips(60, seed=1)
    assert all(np.array_equal(a.wave, b.wave) for a, b in zip(clips, again))


def test_fit_window_centres_short_and_keeps_loudest_second():
    short = np.ones(4000, np.float32)
    w = data.fit_window(short)
    assert len(w) == 16000 and w[6000:10000].all() and not w[:6000].any()
    long = np.zeros(48000, np.float32)
    long[30000:34000] = 1.0
    w = data.fit_window(long)
    assert len(w) == 16000 and w.sum() == 4000


def test_unknown_words_said_exactly_like_a_digit_are_skipped_whatever_the_stress():
    """"for" in RP is "four" without its stress mark; such an accent never voices `_unknown_` "for"."""
    from audio_rnn.keywords import synth_speech as ss

    if not ss.espeak_available():
        pytest.skip("espeak-ng is not installed")
    assert ss.unstressed("f'O@") == ss.unstressed("fO@") != ss.unstressed("f'o@")
    items = ss.plan(0, 60, 0, words=("for", "ate", "tree"))
    accents = {w: {it.accent for it in items if it.word == w} for w in ("for", "ate", "tree")}
    assert "en-gb-x-rp" not in accents["for"] and accents["for"]  # other accents keep their distinct "for"
    assert not accents["ate"]  # "ate" = "eight" in every accent
    assert accents["tree"] == set(ss.ACCENTS)


def test_flac_speech_commands_folders_split_by_the_same_speaker_hash_as_wav_ones(tmp_path):
    """v0.01 (FLAC) and v0.02 (WAV) share speaker hashes: a speaker falls on the same side in both folders,
    and each clip remembers its folder (scored per origin)."""
    rng = np.random.default_rng(0)
    speakers = [f"{i:08x}" for i in range(40)]
    for folder, ext, word in (("v2", "wav", "yes"), ("v1", "flac", "bed")):
        (tmp_path / folder / word).mkdir(parents=True)
        for spk in speakers:
            sf.write(str(tmp_path / folder / word / f"{spk}_nohash_0.{ext}"),
                     (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
    assert data.is_speech_commands_folder(tmp_path / "v1")
    v2 = data.load_any(tmp_path / "v2", data.COMMAND_LABELS)
    v1 = data.load_any(tmp_path / "v1", data.COMMAND_LABELS)
    split2 = {c.speaker: c.split for c in v2}
    assert {c.speaker: c.split for c in v1} == split2 and {"train", "val"} <= set(split2.values())
    assert {c.origin for c in v1} == {"v1"} and {c.label for c in v1} == {UNKNOWN} and {c.label for c in v2} == {"yes"}


def test_level_and_cut_trims_to_the_word_and_levels_its_peak():
    x = np.zeros(16000, np.float32)
    x[6000:9000] = 0.2 * np.sin(np.arange(3000) * 0.3)  # a 0.19 s "word" at peak 0.2 in a 1 s clip
    x += 1e-4 * np.random.default_rng(1).standard_normal(16000).astype(np.float32)
    y = data.level_and_cut(x)
    assert 3000 <= len(y) <= 3000 + 2 * 800 + 320  # the word, 50 ms margins, up to a frame either side
    assert abs(np.max(np.abs(y)) - data.LEVEL_PEAK) < 1e-5
    assert not data.level_and_cut(np.zeros(800, np.float32)).any()  # digital silence passes through


def test_unknown_words_are_drawn_word_balanced_not_by_clip_count():
    """Three words with 800 clips each must not swamp twenty words with 20: each counts as at most 4x a median
    word (80 clips), so the twenty keep most of the draw."""
    from collections import Counter

    from audio_rnn.keywords.data import Clip
    from audio_rnn.keywords.train import unknown_draw

    clips = [Clip(np.zeros(1, np.float32), UNKNOWN, f"s{i}", "speechcommands", "train", f"{w}/s{i}_nohash_0.flac")
             for w in ("bed", "cat", "happy") for i in range(800)]
    clips += [Clip(np.zeros(1, np.float32), UNKNOWN, f"s{i}", "speechcommands", "train", f"w{k}/s{i}_nohash_0.wav")
              for k in range(20) for i in range(20)]
    got = Counter(data.word_of(clips[i]) for i in unknown_draw(clips, range(len(clips)), 230,
                                                                np.random.default_rng(0)))
    assert sum(got[w] for w in ("bed", "cat", "happy")) < 100  # ~86 capped; 200 of 230 by clip count
    assert len(got) == 23


def test_validation_scores_each_data_folder_equally():
    from audio_rnn.keywords.train import origin_scores

    ys = np.array([0, 1, 0, 1] + [0] * 96)
    pred = np.array([0, 1, 0, 1] + [1] * 96)
    origins = np.array(["small"] * 4 + ["big"] * 96)
    s = origin_scores(pred, ys, origins)
    assert s["small"] == 1.0 and s["big"] == 0.0 and s["selection"] == 0.5
