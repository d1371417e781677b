"""The Keywords page on long recordings: the block-reading spotter's timeline, no one-word prediction, and
too-long or bad files refused with an error that names the file (AppTest, real models, real files)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SR = 16000
pytestmark = pytest.mark.timeout(600)


def page() -> AppTest:
    return AppTest.from_string("from audio_rnn.ui.keywords import render\nrender()", default_timeout=300)


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.radio(key="kw_source").set_value("Upload").run()
    at.file_uploader(key="kw_upload").set_value((name, data, "audio/wav")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def long_recording(minutes: float, every_s: float = 6.0, seed: int = 0) -> tuple[bytes, list[tuple[float, str]]]:
    """A 16 kHz WAV of the bundled digit samples, one every `every_s` seconds over faint noise; (bytes, words)."""
    rng = np.random.default_rng(seed)
    digits = sorted((SAMPLES / "digits").glob("*.wav"))
    wave = (rng.standard_normal(int(minutes * 60 * SR)) * 0.002).astype(np.float32)
    words = []
    for k, t in enumerate(np.arange(1.0, minutes * 60 - 2, every_s)):
        p = digits[k % len(digits)]
        x, sr = sf.read(p, dtype="float32")
        assert sr == SR
        a = int(t * SR)
        wave[a:a + len(x)] += x
        words.append((a / SR + len(x) / SR / 2, p.stem))
    buf = io.BytesIO()
    sf.write(buf, np.clip(wave, -1, 1), SR, format="WAV", subtype="PCM_16")
    return buf.getvalue(), words


def test_a_nine_minute_upload_is_spotted_on_an_interactive_timeline():
    data, words = long_recording(9.0)
    at = upload(page().run(), "nine_minutes.wav", data)
    assert not at.error, [e.value for e in at.error]
    heads = [s.value for s in at.subheader]
    assert "Keyword spotting over time" in heads and "Prediction" not in heads and not at.metric
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1 and "\"bind\": \"scales\"" in charts[0].proto.spec, "no interactive timeline"
    assert any("detected in 9.0 min" in c.value for c in at.caption)
    table = at.dataframe[0].value  # 90 words: a scrolling table
    found = list(zip(table["start (s)"], table["end (s)"], table["keyword"]))
    hits = sum(any(abs((s + e) / 2 - t) < 0.75 and lab == w for s, e, lab in found) for t, w in words)
    assert hits >= 0.8 * len(words) and len(found) <= 1.2 * len(words), (hits, len(found), len(words))


def test_too_long_and_bad_files_are_refused_naming_the_file():
    buf = io.BytesIO()  # 61 min at 4 kHz, 8-bit: over the page's hour, in 15 MB
    sf.write(buf, np.zeros(61 * 60 * 4000, np.float32), 4000, format="WAV", subtype="PCM_U8")
    at = upload(page().run(), "meeting.wav", buf.getvalue())
    errs = [e.value.replace("\\", "") for e in at.error]
    assert len(errs) == 1 and "meeting.wav: 61.0 min is longer than the 60 min" in errs[0], errs
    assert "audio-rnn spot FILE" in errs[0] and "<bytes>" not in errs[0]
    assert "Keyword spotting over time" not in [s.value for s in at.subheader]
    at = upload(at, "notes.wav", b"this is not audio at all" * 10)
    errs = [e.value.replace("\\", "") for e in at.error]
    assert len(errs) == 1 and "notes.wav: not an audio file" in errs[0], errs


def test_the_sensitivity_slider_trades_keywords_found_for_false_alarms_and_says_what_it_costs():
    data, words = long_recording(1.0, every_s=4.0, seed=1)
    at = upload(page().run(), "one_minute.wav", data)
    slider = at.slider(key="kw_sensitivity")
    shipped = slider.value
    assert any("false alarms per hour" in c.value and "(the tuned setting)" in c.value for c in at.caption)
    counts = {}
    for value in (0.05, shipped, 0.95):
        at.slider(key="kw_sensitivity").set_value(value).run()
        assert not at.exception, [e.value for e in at.exception]
        counts[value] = next(int(c.value.split(" keyword")[0].rsplit(". ", 1)[1]) for c in at.caption
                             if "detected in" in c.value)
        costs = [c.value for c in at.caption if "false alarms per hour" in c.value]
        assert costs and f"At sensitivity {value:.2f}" in costs[0]
    assert counts[0.05] < counts[shipped] <= counts[0.95], counts
