"""Test streams and their scorer: held-out sources only, truthful word times, determinism, matching rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_rnn.streams.synth import DIGITS, StreamSpec, fsdd_takes, make_streams
from audio_rnn.streams.scoring import Score, score
from audio_rnn.spotting.detection import Detection

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- scoring rules


def _w(label: str, start: float, end: float) -> dict:
    return {"label": label, "word": label, "start": start, "end": end}


WORDS = [_w("three", 1.0, 1.5), _w("_unknown_", 4.0, 4.4), _w("seven", 7.0, 7.6), _w("one", 10.0, 10.4)]


def test_score_right_wrong_missed_and_false_alarms():
    dets = [Detection("three", 0.9, 1.4, 0.9),  # right
            Detection("two", 4.0, 4.3, 0.8),  # on a non-keyword word: false alarm
            Detection("eight", 7.1, 7.5, 0.9),  # wrong label on "seven"
            Detection("five", 13.0, 13.5, 0.9)]  # in silence: false alarm; "one" is missed
    s = score(dets, WORDS, 3600.0)
    assert (s.keywords, s.others, s.right, s.wrong, s.false_alarms, s.fa_on_words) == (3, 1, 1, 1, 2, 1)
    m = s.summary()
    assert m["found_right_pct"] == pytest.approx(33.33, abs=0.01) and m["wrong_pct"] == pytest.approx(33.33, abs=0.01)
    assert m["missed_pct"] == pytest.approx(33.33, abs=0.01)
    assert m["fa_per_word"] == 0.5 and m["fa_per_hour"] == 2.0


def test_score_tolerance_duplicates_and_right_label_preference():
    # centre 0.3 s is 0.7 s before "three" (inside +-0.75); centre 2.3 s is 0.8 s after it (outside)
    assert score([Detection("three", 0.2, 0.4, 0.9)], WORDS, 20).right == 1
    assert score([Detection("three", 2.2, 2.4, 0.9)], WORDS, 20).false_alarms == 1
    # a second detection of the same word is a false alarm
    s = score([Detection("seven", 7.0, 7.5, 0.9), Detection("seven", 7.6, 8.0, 0.9)], WORDS, 20)
    assert (s.right, s.false_alarms) == (1, 1)
    # a right label wins the word even when a wrong one came first
    s = score([Detection("nine", 6.8, 7.0, 0.9), Detection("seven", 7.2, 7.6, 0.9)], WORDS, 20)
    assert (s.right, s.wrong, s.false_alarms) == (1, 0, 1)


def test_score_accepts_json_rows_and_adds_up():
    rows = [{"label": "one", "start": 10.0, "end": 10.3, "score": 0.9}]
    total = Score().add(score(rows, WORDS, 20)).add(score([], WORDS, 20))
    assert (total.keywords, total.right, total.seconds) == (6, 1, 40.0)


# ----------------------------------------------------------------------------- streams


def test_fsdd_takes_are_held_out_speakers_split_by_take(fsdd_dir):
    val = fsdd_takes(fsdd_dir, ["george"], "val")
    test = fsdd_takes(fsdd_dir, ["george"], "test")
    assert len(val) == len(test) == 250
    assert {s for _, _, s in val + test} == {"george"}
    takes = lambda rows: {int(p.stem.split("_")[2]) for p, _, _ in rows}  # noqa: E731
    assert max(takes(val)) == 24 and min(takes(test)) == 25


@pytest.fixture(scope="module")
def streams(fsdd_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("streams")
    spec = StreamSpec(split="test", streams=2, minutes=0.4, seed=3)
    make_streams(out, spec, fsdd_dir, ["george"], progress=False)
    return out, spec


def test_make_streams_truth_matches_the_audio(streams):
    from audio_rnn.keywords.synth_speech import TEST_VARIANTS

    out, spec = streams
    man = json.loads((out / "manifest.json").read_text())
    assert man["split"] == "test" and len(man["streams"]) == 2 and set(man["voices"]) <= TEST_VARIANTS
    for row in man["streams"]:
        wave, sr = sf.read(out / row["file"], dtype="float32")
        truth = json.loads((out / row["truth"]).read_text())
        assert sr == 16000 and len(wave) / sr == pytest.approx(truth["duration"], abs=1e-3) == 24.0
        words = truth["words"]
        assert len(words) >= 6 and any(w["label"] in DIGITS for w in words)
        assert any(w["label"] == "_unknown_" for w in words)
        for a, b in zip(words, words[1:]):
            assert a["end"] + 0.59 <= b["start"]  # pauses between words
        for w in words:
            src = w["source"]
            assert (src.startswith("fsdd:") and "_george_" in src and int(src.split("_")[-1]) >= 25) or \
                src.split("+")[-1] in TEST_VARIANTS
        # word spans are louder than the pauses around them
        inside = np.zeros(len(wave), bool)
        for w in words:
            inside[int(w["start"] * sr):int(w["end"] * sr)] = True
        assert np.sqrt(np.mean(wave[inside] ** 2)) > 2 * np.sqrt(np.mean(wave[~inside] ** 2))


def test_make_streams_is_deterministic(streams, fsdd_dir, tmp_path):
    out, spec = streams
    make_streams(tmp_path, spec, fsdd_dir, ["george"], progress=False)
    for name in ("stream_000.wav", "stream_001.json"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes()


def test_eval_streams_command_reports_the_figures(streams):
    out, _ = streams
    res = subprocess.run([sys.executable, "-m", "audio_rnn", "eval-streams", str(out), "--json", "--quiet"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.splitlines()[-1])
    for key in ("found_right_pct", "wrong_pct", "missed_pct", "fa_per_word", "fa_per_hour", "keywords"):
        assert key in summary
    assert summary["found_right_pct"] >= 60  # the shipped model on unseen voices, short noisy streams
    by = summary["found_right_by_source"]
    assert set(by) == {"fsdd", "espeak"} and sum(v["digits"] for v in by.values()) == summary["keywords"]
    rows = summary["by_source"]  # every word's outcome and every false alarm counts for one source
    assert set(rows) == {"fsdd", "espeak", "silence"}
    assert sum(r["right"] for r in rows.values()) == round(summary["found_right_pct"] * summary["keywords"] / 100)
    assert sum(r["false_alarms"] for r in rows.values()) == summary["false_alarms"]


def test_eval_streams_tune_saves_the_best_settings_into_a_spotter(streams, tmp_path):
    import shutil

    from audio_rnn.training.checkpoint import pretrained_path

    out, _ = streams
    model = tmp_path / "spotter"
    shutil.copytree(pretrained_path("spotter"), model)
    # a tight tolerance: a detection placed with the wrong lag lands outside its word
    res = subprocess.run([sys.executable, "-m", "audio_rnn", "eval-streams", str(out), "--model", str(model),
                          "--tune", "--save-tuned", "--quiet", "--tolerance", "0.1"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    best = json.loads(res.stdout.splitlines()[0])
    saved = json.loads((model / "config.json").read_text())["streaming"]["detection"]
    assert saved == {k: best[k] for k in ("threshold", "smooth_s", "min_s", "suppress_s")}
    # what --tune reported for the best settings is what eval-streams then measures with them
    ev = subprocess.run([sys.executable, "-m", "audio_rnn", "eval-streams", str(out), "--model", str(model),
                         "--json", "--quiet", "--tolerance", "0.1"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert ev.returncode == 0, ev.stderr
    got = json.loads(ev.stdout.splitlines()[-1])
    for k in ("found_right_pct", "wrong_pct", "false_alarms", "fa_per_word", "fa_per_hour"):
        assert got[k] == best[k], (k, got[k], best[k])
    clip = subprocess.run([sys.executable, "-m", "audio_rnn", "eval-streams", str(out), "--model",
                           str(pretrained_path("digits")), "--tune", "--save-tuned", "--quiet"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert clip.returncode == 1 and "train-spot" in clip.stderr and "Traceback" not in clip.stderr


def test_eval_streams_without_manifest_is_one_error_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "audio_rnn", "eval-streams", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 1 and "DataError" in res.stderr and "Traceback" not in res.stderr


def test_tune_reports_what_evaluate_measures_with_those_settings(streams):
    """`tune` scores cached posteriors with the lag of the spotter's own kind (a stream-trained one here): each
    row's figures are what `evaluate` measures with that row's settings, even with a tight tolerance."""
    from audio_rnn.streams.scoring import cache_posteriors, evaluate, tune
    from audio_rnn.spotting.streaming import Spotter

    out, _ = streams
    from audio_rnn.spotting.network import spotter_path

    state = str(spotter_path("digits", mode="state"))
    spotter = Spotter(state)
    assert spotter.trained_on_streams
    rows = tune(cache_posteriors(out, spotter, progress=False), spotter,
                {"threshold": [0.3, 0.5], "smooth_s": [0.2, 0.75]}, tolerance=0.05)
    for r in rows:
        got, _ = evaluate(out, Spotter(state, threshold=r["threshold"], smooth_s=r["smooth_s"]), 0.05, progress=False)
        for k in ("found_right_pct", "wrong_pct", "false_alarms", "fa_per_word"):
            assert got[k] == r[k], (r, k, got[k])
