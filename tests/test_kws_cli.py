"""train-kws -> classify end to end, the classify JSON contract, and the shipped model on an unseen speaker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_rnn.keywords.data import LABELS

pytestmark = pytest.mark.timeout(600)
SHIPPED = Path(__file__).resolve().parents[1] / "audio_rnn" / "pretrained" / "digits"


def cli(*args: str, cwd: str | Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """The real command in its own process (exit status, stdout/stderr as users see them)."""
    return subprocess.run([sys.executable, "-m", "audio_rnn", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def cli_here(capsys, *args: str) -> tuple[int, str, str]:
    """The same command through `audio_rnn.cli.main` in this process (saves an interpreter start)."""
    from audio_rnn.cli import main

    capsys.readouterr()
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, fsdd_dir) -> Path:
    """A real (tiny) training run on a root/<label>/ folder of FSDD clips: seconds, not minutes."""
    root = tmp_path_factory.mktemp("kws_data")
    for digit, label in enumerate(("zero", "one", "two")):
        (root / label).mkdir()
        for spk in ("jackson", "lucas", "nicolas", "yweweler"):
            for take in range(3):
                (root / label / f"{spk}_{take}.wav").symlink_to(fsdd_dir / f"{digit}_{spk}_{take}.wav")
    out = tmp_path_factory.mktemp("kws_model") / "tiny"
    r = cli("train-kws", "--data", str(root), "--out", str(out), "--epochs", "2", "--hidden", "16", "--layers", "1",
            "--batch-size", "16", "--no-eval", "--quiet", "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert "parameters" in r.stderr and "saved" in r.stdout
    return out


def test_tiny_training_writes_a_checkpoint_that_classify_loads(tiny_model, fsdd_dir, capsys):
    cfg = json.loads((tiny_model / "config.json").read_text())
    assert cfg["kind"] == "kws" and cfg["labels"] == list(LABELS)
    assert cfg["model"]["hidden"] == 16 and cfg["features"]["n_mfcc"] == 20
    assert cfg["training"]["epochs_run"] == 2 and len(cfg["training"]["history"]) == 2
    assert cfg["training"]["device"] == "cpu"
    files = [str(fsdd_dir / "1_george_0.wav"), str(fsdd_dir / "2_george_1.wav")]
    rc, out, err = cli_here(capsys, "classify", *files, "--model", str(tiny_model), "--json")
    assert rc == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["file"] for row in rows] == files
    for row in rows:
        assert row["label"] in LABELS and set(row["probs"]) == set(LABELS)
        assert abs(sum(row["probs"].values()) - 1) < 1e-3 and row["score"] == max(row["probs"].values())


def test_json_contract_bad_files_mixed_with_good(tiny_model, fsdd_dir, tmp_path, capsys):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 20)
    good = [str(fsdd_dir / "0_george_5.wav"), str(fsdd_dir / "9_lucas_7.wav")]
    files = [good[0], str(empty), str(text), str(tmp_path / "missing.wav"), good[1]]
    r = cli("classify", *files, "--model", str(tiny_model), "--json")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr + r.stdout
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["file"] for row in rows] == files
    assert "label" in rows[0] and "label" in rows[4]
    for row in rows[1:4]:
        assert set(row) == {"file", "error"} and row["error"]
    assert "empty" in rows[1]["error"].lower()
    assert "not" in rows[2]["error"].lower() and "audio" in rows[2]["error"].lower()
    assert "not found" in rows[3]["error"]
    # without --json: a readable table, same exit status
    rc, out, err = cli_here(capsys, "classify", *files, "--model", str(tiny_model))
    assert rc == 1 and "Traceback" not in err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["file", "label", "score"] and len(lines) == 6
    assert "error" in lines[2] and lines[1].startswith(good[0])


def test_train_kws_bad_device_is_one_clear_line(tmp_path, fsdd_dir, capsys):
    root = tmp_path / "words"
    for digit, label in enumerate(("zero", "one")):
        (root / label).mkdir(parents=True)
        for take in range(2):
            (root / label / f"lucas_{take}.wav").symlink_to(fsdd_dir / f"{digit}_lucas_{take}.wav")
    rc, out, err = cli_here(capsys, "train-kws", "--data", str(root), "--out", str(tmp_path / "m"), "--epochs", "1",
                            "--no-eval", "--quiet", "--device", "tpu9")
    assert rc == 1 and "Traceback" not in err
    assert err.strip().startswith("DataError:") and "--device" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m" / "model.safetensors").exists()


def test_bad_model_is_one_clear_line(tmp_path, fsdd_dir, capsys):
    rc, out, err = cli_here(capsys, "classify", str(fsdd_dir / "0_george_5.wav"), "--model", str(tmp_path / "nope"))
    assert rc == 1 and "Traceback" not in err
    assert err.strip().startswith("CheckpointError:") and len(err.strip().splitlines()) == 1
    (tmp_path / "wrong").mkdir()
    (tmp_path / "wrong" / "config.json").write_text('{"format": "audio_rnn", "version": 1, "kind": "abc"}')
    rc, out, err = cli_here(capsys, "classify", str(fsdd_dir / "0_george_5.wav"), "--model", str(tmp_path / "wrong"))
    assert rc == 1 and "'kws'" in err


@pytest.fixture(scope="module")
def shipped():
    if not (SHIPPED / "model.safetensors").is_file():
        pytest.fail("the shipped keyword model is missing (audio_rnn/pretrained/digits)")
    from audio_rnn.keywords.recognize import Recognizer

    return Recognizer()


def test_shipped_model_is_small_streamable_and_its_report_is_its_own(shipped):
    """Under 5 MB, one-directional (the spotter and Listen live run it as audio arrives), and the held-out report
    shipped beside it is this training run's: it tests the speakers this checkpoint's training kept out."""
    assert (SHIPPED / "model.safetensors").stat().st_size < 5_000_000
    assert shipped.labels == list(LABELS)
    assert shipped.model.dims.bidirectional is False
    report = json.loads((SHIPPED / "report.json").read_text())
    held_out = shipped.config["training"]["holdout_speakers"]
    assert held_out and report["heldout_fsdd_speakers"] == held_out
    assert (SHIPPED / "confusion.png").stat().st_size > 1000


def test_shipped_model_recognises_an_unseen_speaker(shipped, fsdd_dir):
    """50 real clips of george, a speaker the shipped model never trained on: at least 78% right.

    That is what the shipped model does (80% on these 50; 85.0% on all 500 of his clips, in report.json),
    short of the issue's 95% target: a regression guard that says so, not the target.
    """
    from audio_rnn.keywords.data import load_fsdd

    clips = [c for c in load_fsdd(fsdd_dir, speakers=["george"]) if int(c.name.split("_")[2][:-4]) % 10 == 3]
    assert len(clips) == 50
    preds = shipped.classify_waves([c.wave for c in clips])
    acc = np.mean([p.label == c.label for p, c in zip(preds, clips)])
    assert acc >= 0.78, acc


def test_default_model_cli_from_another_folder_silence_and_speech(fsdd_dir, tmp_path, shipped, capsys, monkeypatch):
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "digital.wav", np.zeros(16000, np.float32), 16000)
    from audio_rnn.audio.augment import colored_noise

    sf.write(tmp_path / "pink.wav", 0.03 * colored_noise(16000, "pink", rng), 16000)
    t = np.arange(72000) / 48000  # 1.5 s of 60 Hz mains hum with harmonics over a faint hiss, at 48 kHz
    hum = sum(0.03 / k * np.sin(2 * np.pi * 60 * k * t + k) for k in (1, 2, 3)) + 0.002 * rng.standard_normal(len(t))
    sf.write(tmp_path / "hum.flac", hum, 48000)
    speech = str(fsdd_dir / "7_george_12.wav")
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli_here(capsys, "classify", "digital.wav", "pink.wav", "hum.flac", speech, "--json")
    assert rc == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["label"] for row in rows[:3]] == ["_silence_"] * 3
    assert rows[3]["label"] == "seven"


def test_posteriors_run_frame_by_frame_and_end_at_the_clip_prediction(shipped, fsdd_dir):
    """The Keywords page's running belief is the prediction's own computation: for a short raw clip and for a
    long one alike, the last row is exactly what classify says, and the times are the clip's."""
    wave = shipped.load(fsdd_dir / "3_george_12.wav")  # a short clip, as recorded: classify centres it in the window
    long = np.concatenate([np.zeros(16000, np.float32), wave, 0.001 * np.ones(24000, np.float32)])
    for clip in (wave, long):
        probs, ends = shipped.posteriors(clip)
        assert probs.shape == (98, 12) and ends.shape == (98,) and np.allclose(probs.sum(1), 1, atol=1e-4)
        res = shipped.classify_waves([clip])[0]
        assert np.allclose(probs[-1], [res.probs[lab] for lab in shipped.labels], atol=1e-5)
    assert shipped.classify_waves([wave])[0].label == "three"
    assert ends[0] > 0.5 and ends[-1] < len(long) / 16000  # the loudest second of the long clip, in its times


def test_feature_options_reach_the_checkpoint_classify_and_spot(tmp_path, fsdd_dir, capsys):
    """--n-mfcc/--deltas/--conv train a model (features, a CRNN) that classify and the numpy spotter both rebuild;
    --swa tries the weight average of the last epochs and records the outcome."""
    root = tmp_path / "data"
    for digit, label in enumerate(("zero", "one")):
        (root / label).mkdir(parents=True)
        for take in range(3):
            (root / label / f"jackson_{take}.wav").symlink_to(fsdd_dir / f"{digit}_jackson_{take}.wav")
    out = tmp_path / "m"
    rc, _, err = cli_here(capsys, "train-kws", "--data", str(root), "--out", str(out), "--epochs", "2", "--hidden", "8",
                          "--layers", "1", "--n-mfcc", "13", "--deltas", "--swa", "2", "--no-eval", "--quiet",
                          "--threads", "1", "--conv", "6", "--conv-kernel", "3")
    assert rc == 0, err
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["features"]["n_mfcc"] == 13 and cfg["features"]["deltas"] is True
    assert cfg["model"]["conv"] == 6 and cfg["model"]["conv_kernel"] == 3
    wa = cfg["training"]["weight_average"]
    assert wa["epochs_averaged"] == 2 and isinstance(wa["used"], bool) and "weight average" in err
    wav = str(fsdd_dir / "1_george_0.wav")
    rc, outp, err = cli_here(capsys, "classify", wav, "--model", str(out), "--json")
    assert rc == 0, err
    assert abs(sum(json.loads(outp)["probs"].values()) - 1) < 1e-3
    rc, outp, err = cli_here(capsys, "spot", wav, "--model", str(out), "--json")
    assert rc == 0, err
