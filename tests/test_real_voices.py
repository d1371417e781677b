"""Real voices: the Speech Commands share split by speaker, recorded noise beds, a real training run on a
speaker-split subset, the real-speech report, the real-word bank and train-own on real examples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audio_rnn.keywords import data
from audio_rnn.keywords.data import COMMAND_LABELS, SILENCE, UNKNOWN

pytestmark = pytest.mark.timeout(600)


def cli(*args: str, timeout: int = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audio_rnn", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def sc_clips(speech_commands_dir):
    return data.load_any(speech_commands_dir, COMMAND_LABELS)


def test_the_share_is_split_by_speaker_with_a_fixed_fifth_for_validation(sc_clips):
    speech = [c for c in sc_clips if c.label != SILENCE]
    train = {c.speaker for c in speech if c.split == "train"}
    val = {c.speaker for c in speech if c.split == "val"}
    assert not train & val  # never the same person on both sides
    assert len(train | val) == 162  # the share's speakers (121 until 2026-12-03)
    assert 0.12 <= len(val) / 162 <= 0.3
    assert {c.source for c in sc_clips} == {"speechcommands"}
    assert {c.label for c in sc_clips} == set(COMMAND_LABELS)
    assert sum(c.label == SILENCE for c in sc_clips) == 327  # the recorded backgrounds are the silence class
    # the split is a function of the speaker alone, whatever the vocabulary
    assert all(data._hash_split(c.speaker, data.SC_VAL_FRACTION) == c.split for c in speech)


def test_recorded_backgrounds_become_noise_beds(sc_clips):
    from audio_rnn.audio.augment import AugmentConfig, augment_speech
    from audio_rnn.keywords.train import noise_beds

    beds = noise_beds([c for c in sc_clips if c.split == "train"])
    assert 200 <= len(beds) <= 327  # the training speakers' share of the 327 backgrounds
    word = next(c.wave for c in sc_clips if c.label == "yes")
    always = AugmentConfig(p_speed=0, p_reverb=0, p_noise=1.0, p_real_noise=1.0, snr_range=(10, 10),
                           gain_db_range=(0, 0))
    a = augment_speech(word, 16000, 16000, np.random.default_rng(3), always, beds)
    b = augment_speech(word, 16000, 16000, np.random.default_rng(3), always, beds)
    plain = augment_speech(word, 16000, 16000, np.random.default_rng(3), always)
    assert np.array_equal(a, b) and not np.allclose(a, plain)
    # without beds the draws are exactly what they were before beds existed
    assert np.array_equal(plain, augment_speech(word, 16000, 16000, np.random.default_rng(3), always, ()))


@pytest.fixture(scope="module")
def small_share(tmp_path_factory, speech_commands_dir) -> Path:
    """A speaker-split subset of the share: three commands, two other words and some backgrounds."""
    root = tmp_path_factory.mktemp("sc_small")
    for word, n in (("yes", 60), ("no", 60), ("up", 60), ("bed", None), ("zero", None), ("cat", None), ("_silence_", 40)):
        (root / word).mkdir()
        for f in sorted((speech_commands_dir / word).glob("*.wav"))[:n]:
            (root / word / f.name).symlink_to(f)
    return root


def test_train_and_evaluate_on_real_speakers_end_to_end(small_share, tmp_path):
    out = tmp_path / "model"
    r = cli("train-kws", "--labels", "yes,no,up", "--data", str(small_share), "--out", str(out), "--epochs", "2",
            "--hidden", "24", "--layers", "1", "--batch-size", "32", "--real-repeat", "2", "--quiet",
            "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert "noise beds:" in r.stderr
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["labels"] == ["yes", "no", "up", SILENCE, UNKNOWN]
    assert "val_balanced" in cfg["training"]["history"][0] and cfg["training"]["real_repeat"] == 2
    r = cli("eval-kws", "--model", str(out), "--speech-commands", str(small_share), "--out", str(tmp_path / "rep"),
            "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    real = rep["conditions"]["real_speech_commands_val"]
    assert real["split"] == "val" and real["speakers"] > 0
    assert np.asarray(real["confusion"]).sum() == real["n"] > 0
    assert set(real) >= {"keyword_accuracy", "false_accept_rate", "unknown_rejected", "silence_recall",
                         "per_class_recall", "top_false_accepts"}
    assert abs(real["false_accept_rate"] + real["unknown_rejected"] - 1) < 1e-6
    assert (tmp_path / "rep" / "confusion_real.png").stat().st_size > 1000
    assert "real_accuracy" in rep["targets"]


def test_the_shipped_word_bank_is_real_cepstra_that_fit_the_shipped_models():
    from audio_rnn.audio.features import FeatureConfig
    from audio_rnn.keywords import word_bank
    from audio_rnn.keywords.recognize import load_model

    bank = word_bank.load()
    assert bank is not None and bank.cepstra.dtype.is_floating_point
    assert bank.cepstra.shape[0] == len(bank.words) >= 300 and bank.cepstra.shape[2] == bank.features.n_mfcc
    for name in ("digits", "commands"):
        _, cfg = load_model(name)
        assert bank.fits(FeatureConfig.from_dict(cfg["features"]))
    assert SILENCE in bank.words and "yes" in bank.words
    cep, words = bank.select(exclude=["yes", "no"])
    assert "yes" not in words and "no" not in words and len(words) == cep.shape[0] < len(bank.words)
    cfg = json.loads((Path(word_bank.__file__).parents[1] / "pretrained" / word_bank.NAME / "config.json").read_text())
    assert "CC BY 4.0" in cfg["credit"]


def test_train_own_from_real_examples_keeps_rejecting_other_real_words(speech_commands_dir, tmp_path):
    """5 real people's "yes" and "no" (training speakers) -> a model that hears unseen people."""
    clips = data.load_speech_commands_folder(speech_commands_dir, labels=None)
    args = []
    for word in ("yes", "no"):
        mine = []
        for c in clips:
            if c.split == "train" and c.label == word and c.speaker not in {m.speaker for m in mine}:
                mine.append(c)
            if len(mine) == 5:
                break
        args += ["--example", word, *[str(speech_commands_dir / c.name) for c in mine]]
    out = tmp_path / "mine"
    r = cli("train-own", *args, "--out", str(out), "--budget", "20", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["labels"] == ["yes", "no", SILENCE, UNKNOWN] and res["mode"] == "finetune"
    cfg = json.loads((out / "config.json").read_text())
    # two thirds of the real-word bank train it; the final model scores the third it never heard to calibrate
    assert cfg["finetune"]["real_bank_clips"] >= 200 and cfg["finetune"]["base"] == "digits"
    assert cfg["finetune"]["calibration"]["negatives"] >= 80
    from audio_rnn.keywords.recognize import Recognizer

    rec = Recognizer(out)
    val = [c for c in clips if c.split == "val"]
    kw = [c for c in val if c.label in ("yes", "no")]
    other = [c for c in val if c.label not in ("yes", "no", SILENCE)][::3]
    kw_pred = [r.label for r in rec.classify_waves([c.wave for c in kw])]
    other_pred = [r.label for r in rec.classify_waves([c.wave for c in other])]
    assert np.mean([p == c.label for p, c in zip(kw_pred, kw)]) >= 0.6
    assert np.mean([p in (UNKNOWN, SILENCE) for p in other_pred]) >= 0.7


def test_train_own_says_what_is_wrong_in_one_line(tmp_path):
    r = cli("train-own", "--example", "yes", str(tmp_path / "missing.wav"), "--example", "no", str(tmp_path / "x.wav"),
            "--out", str(tmp_path / "m"))
    assert r.returncode == 1
    assert len(r.stderr.strip().splitlines()) == 1 and "yes" in r.stderr
    r = cli("train-own", "--example", "yes", str(tmp_path / "missing.wav"), "--reject", "1.5", "--out",
            str(tmp_path / "m"))
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "--reject" in r.stderr
