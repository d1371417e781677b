"""Train-your-own keywords: input checks, and a real short training run loaded back by the CLI."""

from __future__ import annotations

import json
import zipfile
import io

import numpy as np
import pytest
import soundfile as sf

from audio_rnn.keywords import finetune
from audio_rnn.errors import DataError

VOICES = [("", 150, 50), ("m1", 170, 40), ("f1", 140, 60), ("m3", 160, 35), ("f2", 180, 70)]
NEW_VOICES = [("m2", 155, 45), ("f3", 165, 65), ("m4", 145, 55)]  # never among the examples


def speak(word: str, variant: str, speed: int, pitch: int) -> np.ndarray:
    from audio_rnn.keywords.synth_speech import SynthItem, render

    return render(SynthItem("x.wav", word, word, "en-us", variant, speed, pitch, "train"))


@pytest.fixture(scope="module")
def examples() -> dict[str, list[np.ndarray]]:
    return {w: [speak(w, *v) for v in VOICES] for w in ("lights", "music")}


@pytest.fixture(scope="module")
def new_voices() -> dict[str, list[np.ndarray]]:
    return {w: [speak(w, *v) for v in NEW_VOICES] for w in ("lights", "music", "window")}


def test_examples_are_checked_with_clear_messages():
    five = [np.full(8000, 0.1, np.float32)] * 5
    with pytest.raises(DataError, match="at least 1 keyword"):
        finetune.check_examples({})
    assert list(finetune.check_examples({"lights": five})) == ["lights"]  # one wake word
    with pytest.raises(DataError, match="at least 5"):
        finetune.check_examples({"lights": five, "music": five[:4]})
    with pytest.raises(DataError, match="silent or empty"):
        finetune.check_examples({"lights": five, "music": [np.zeros(8000, np.float32)] * 5})
    with pytest.raises(DataError, match="reserved"):
        finetune.check_examples({"lights": five, "_unknown_": five})
    with pytest.raises(DataError, match="given twice"):
        finetune.check_examples({"Lights": five, " lights ": five})
    with pytest.raises(DataError, match="letters, digits"):
        finetune.check_examples({"lights": five, "<b>x</b>": five})
    assert list(finetune.check_examples({"Turn On": five, "off": five})) == ["turn_on", "off"]


def test_unknown_words_never_include_the_users_words():
    waves = finetune.unknown_waves(6, ["seven", "yes"], seed=3)
    assert len(waves) == 6 and all(w.dtype == np.float32 and w.size > 1600 for w in waves)


def test_trained_model_hears_new_voices_and_loads_in_recognizer_and_cli(examples, new_voices, tmp_path, capsys):
    """Calibrated leaving one take out, the model names voices it never heard (not only its own takes)."""
    from audio_rnn.cli import main
    from audio_rnn.keywords.recognize import Recognizer

    steps: list[tuple[float, str]] = []
    cfg = finetune.FinetuneConfig(mode="scratch", max_minutes=12 / 60, epochs=20, copies=3, calibrate_folds=5,
                                  calibrate_budget_s=3)
    res = finetune.train(examples, tmp_path / "model", cfg, progress=lambda f, m: steps.append((f, m)))
    assert res.labels == ["lights", "music", "_silence_", "_unknown_"]
    assert res.mode == "scratch" and 1 <= res.epochs <= 20
    assert steps[-1][0] == 1.0 and all(a[0] <= b[0] for a, b in zip(steps, steps[1:]))
    cal = res.calibration  # the estimate on held-out takes, and the threshold chosen on them
    assert cal["folds"] == 5 and cal["heldout_takes"] == 10
    assert cal["negatives"] > 80 and cal["synthetic_negatives"] == 20  # real and espeak-ng words it never heard
    assert 0.05 <= cal["threshold"] <= 0.95 and cal["other_words_rejected"] >= 0.8, cal
    rec = Recognizer(res.folder)  # the checkpoint is an ordinary kws model, with the calibrated decision
    assert rec.labels == res.labels and rec.rule == "keyword_score" and rec.keyword_threshold == cal["threshold"]
    heard = [r.label for r in rec.classify_waves(new_voices["lights"] + new_voices["music"])]
    assert sum(h == w for h, w in zip(heard, ["lights"] * 3 + ["music"] * 3)) >= 5, heard
    files = []
    for w in ("lights", "music"):
        path = tmp_path / f"{w}.wav"
        sf.write(path, examples[w][0], 16000, subtype="PCM_16")
        files.append(str(path))
    assert main(["classify", "--model", str(res.folder), "--json", *files]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [r["label"] for r in rows] == ["lights", "music"], rows
    # the download is a zip of the two files, loadable after unzipping
    z = zipfile.ZipFile(io.BytesIO(finetune.zip_checkpoint(res.folder)))
    assert sorted(z.namelist()) == ["my_keywords/config.json", "my_keywords/model.safetensors"]
    z.extractall(tmp_path / "unzipped")
    assert Recognizer(tmp_path / "unzipped" / "my_keywords").labels == res.labels


def test_one_wake_word_against_everything_else(examples, new_voices, tmp_path):
    """One word is enough: a wake word, heard in new voices, and another word is not taken for it; the user's own
    other words join the calibration, each scored by a run that did not train on it."""
    from audio_rnn.keywords.recognize import Recognizer

    cfg = finetune.FinetuneConfig(max_minutes=12 / 60, epochs=20, copies=3, calibrate_folds=5, calibrate_budget_s=3)
    mine = [speak(w, *VOICES[0]) for w in ("table", "orange", "garden")]  # the user's own other words
    res = finetune.train({"lights": examples["lights"]}, tmp_path / "wake", cfg, others=mine)
    assert res.calibration["synthetic_negatives"] == 20  # other words in other voices, kept out to calibrate on
    assert res.calibration["own_other_words"] == 3  # each scored by a leave-out run that did not hear it
    assert "other_sets_rejected" in res.calibration
    assert res.labels == ["lights", "_silence_", "_unknown_"] and res.mode == "finetune"
    rec = Recognizer(res.folder)
    heard = [r.label for r in rec.classify_waves(new_voices["lights"])]
    others = [r.label for r in rec.classify_waves(new_voices["music"] + new_voices["window"])]
    assert heard.count("lights") >= 2, heard
    assert others.count("lights") <= 1, others


def test_finetune_keeps_a_crnn_bases_lower_layers(examples, tmp_path):
    """Fine-tuning a CRNN base trains the top recurrent layer and the head; the norm, the convolution and the
    lower recurrent layer stay as the base had them (five takes must not retune the shared front)."""
    import torch

    from audio_rnn.keywords.models import KeywordRNN, KWSDims
    from audio_rnn.keywords.recognize import load_model
    from audio_rnn.training import checkpoint

    _, cfg = load_model("digits")
    dims = KWSDims.from_dict({**cfg["model"], "hidden": 32, "conv": 16, "conv_kernel": 3})
    torch.manual_seed(0)
    base = KeywordRNN(dims)
    checkpoint.save(tmp_path / "base", base.state_dict(), {**cfg, "model": dims.to_dict()})
    fcfg = finetune.FinetuneConfig(max_minutes=4 / 60, epochs=2, copies=1, unknown_pool=8, calibrate_folds=0)
    res = finetune.train({"lights": examples["lights"]}, tmp_path / "own", fcfg, base=tmp_path / "base")
    tuned, tuned_cfg = load_model(res.folder)
    assert tuned_cfg["model"]["conv"] == 16 and res.mode == "finetune"
    before, after = base.state_dict(), tuned.state_dict()
    for name in ("norm.weight", "conv.weight", "conv.bias", "rnn.weight_ih_l0", "rnn.weight_hh_l0"):
        assert torch.equal(before[name], after[name]), f"{name} changed"
    assert not torch.equal(before["rnn.weight_hh_l1"], after["rnn.weight_hh_l1"])


def test_voiced_words_speak_each_word_in_several_voices():
    """espeak-ng renditions of the user's words: n per word, deterministic for a seed, in different voices."""
    a = finetune.voiced_words(["turn_on", "yes"], 4, seed=1)
    b = finetune.voiced_words(["turn_on", "yes"], 4, seed=1)
    assert sorted(a) == ["turn_on", "yes"] and all(len(v) == 4 for v in a.values())
    assert all(np.array_equal(x, y) for w in a for x, y in zip(a[w], b[w]))
    assert len({x.size for x in a["yes"]}) > 1  # other voices, other rates: not one clip four times
    assert np.median([x.size for x in a["turn_on"]]) > np.median([x.size for x in a["yes"]])  # "turn on" is said
    assert finetune.voiced_words(["yes"], 0, seed=1) == {}


def probs(p_yes: float) -> np.ndarray:
    """A one-word model's probabilities (word, _silence_, _unknown_) with the word at `p_yes`."""
    return np.array([p_yes, 0.0, 1.0 - p_yes])


def test_the_threshold_rejects_what_the_aim_asks_and_finds_the_most_takes():
    """A stricter aim gives a higher threshold; each chosen threshold rejects at least its aim of the negatives."""
    rng = np.random.default_rng(0)
    pos = [(0, probs(p)) for p in rng.uniform(0.4, 1.0, 40)]
    neg = [probs(p) for p in rng.beta(1.0, 6.0, 400)]
    loose, strict = (finetune.choose_threshold(pos, neg, [0], aim) for aim in (0.85, 0.99))
    assert loose["other_words_rejected"] >= 0.85 and strict["other_words_rejected"] >= 0.99
    assert loose["threshold"] < strict["threshold"]
    assert loose["heldout_takes_right"] >= strict["heldout_takes_right"]


def test_every_set_of_other_words_must_meet_the_aim():
    """Other words from a second channel that score higher raise the threshold until that set meets the aim too."""
    rng = np.random.default_rng(1)

    pos = [(0, probs(p)) for p in rng.uniform(0.5, 1.0, 40)]
    easy = [probs(p) for p in rng.beta(1.0, 12.0, 300)]
    hard = [probs(p) for p in rng.uniform(0.0, 0.6, 30)]
    alone = finetune.choose_threshold(pos, easy, [0], 0.9)
    both = finetune.choose_threshold(pos, easy, [0], 0.9, also=[hard])
    assert both["threshold"] > alone["threshold"] and both["other_sets_rejected"] >= 0.9
    assert "other_sets_rejected" not in alone


def test_voiced_takes_train_beside_the_users_takes(examples, tmp_path):
    """`voiced_takes`: espeak-ng renditions of the word join the user's takes; the model still hears those takes."""
    from audio_rnn.keywords.recognize import Recognizer

    cfg = finetune.FinetuneConfig(max_minutes=6 / 60, epochs=4, copies=1, voiced_takes=6, calibrate_folds=0)
    res = finetune.train({"lights": examples["lights"]}, tmp_path / "voiced", cfg)
    saved = json.loads((res.folder / "config.json").read_text())
    assert saved["finetune"]["voiced_takes"] == 6 and res.epochs >= 1
    heard = [r.label for r in Recognizer(res.folder).classify_waves(examples["lights"])]
    assert heard.count("lights") >= 4, heard


def test_the_takes_background_is_found_around_the_word():
    """`channel_background`: the hum around a take (before and after its word), not the word itself."""
    rng = np.random.default_rng(0)
    hum = (0.01 * np.sin(2 * np.pi * 50 * np.arange(24000) / 16000)).astype(np.float32)
    word = (0.5 * rng.standard_normal(6000)).astype(np.float32)
    take = hum.copy()
    take[8000:14000] += word
    pieces = finetune.channel_background([take, word])
    assert len(pieces) == 2 and all(np.max(np.abs(p)) < 0.02 for p in pieces)  # the hum, either side
    assert 7000 <= len(pieces[0]) <= 8000 and 9000 <= len(pieces[1]) <= 10000
    noisy = take + (0.03 * rng.standard_normal(len(take))).astype(np.float32)  # a hissing microphone, ~15 dB SNR
    pieces = finetune.channel_background([noisy])
    assert len(pieces) == 2 and 7000 <= len(pieces[0]) <= 8000 and 9000 <= len(pieces[1]) <= 10000


def test_a_room_and_other_words_on_the_users_microphone_train_as_silence_and_unknown(examples, tmp_path):
    """train-own --room/--other-words: the user's channel joins training (the room as silence and as a noise bed
    under every clip, the other words as `_unknown_`); the model still hears the takes and rejects those words."""
    from audio_rnn.cli import main
    from audio_rnn.keywords.recognize import Recognizer

    rng = np.random.default_rng(1)
    hiss = lambda n: (0.02 * rng.standard_normal(n)).astype(np.float32)  # noqa: E731 - this microphone's hiss
    files = []
    for k, x in enumerate(examples["lights"]):
        files.append(tmp_path / f"l{k}.wav")
        sf.write(files[-1], np.concatenate([hiss(4000), x + hiss(len(x)), hiss(4000)]), 16000)
    sf.write(tmp_path / "room.wav", hiss(48000), 16000)
    others = [speak(w, "m1", 160, 50) for w in ("table", "window", "orange")]
    for k, x in enumerate(others):
        sf.write(tmp_path / f"o{k}.wav", np.concatenate([hiss(3000), x + hiss(len(x)), hiss(3000)]), 16000)
    rc = main(["train-own", "--example", "lights", *map(str, files), "--room", str(tmp_path / "room.wav"),
               "--other-words", *[str(tmp_path / f"o{k}.wav") for k in range(3)], "--budget", "8",
               "--calibrate-folds", "0", "--out", str(tmp_path / "wake"), "--json"])
    assert rc == 0
    saved = json.loads((tmp_path / "wake" / "config.json").read_text())["finetune"]
    assert saved["other_words"] == 3 and saved["channel_seconds"] == 3.0 and saved["channel"] is False  # the room
    rec = Recognizer(tmp_path / "wake")
    assert [r.label for r in rec.classify_waves(examples["lights"])].count("lights") >= 4
    assert all(r.label != "lights" for r in rec.classify_waves(others))
