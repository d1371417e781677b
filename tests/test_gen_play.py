"""Generate -> render -> play, with `generate`'s defaults (as the app's Generate button): every tune called
valid has a MIDI file and a WAV that decodes to sound, and the app never shows a valid badge without a player."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf

from audio_rnn.cli import main
from audio_rnn.music.settings import DEFAULTS
from audio_rnn.training.checkpoint import pretrained_path

pytestmark = pytest.mark.skipif(not (pretrained_path("abc") / "model.safetensors").is_file(),
                                reason="the shipped ABC model is missing")


def test_generate_defaults_render_and_play(tmp_path, capsys):
    assert main(["generate", "--n", "3", "--seed", "11", "--json", "--out", str(tmp_path)]) == 0
    rows = [json.loads(ln) for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    assert len(rows) == 3 and sum(r["valid"] for r in rows) >= 2, [r["reasons"] for r in rows]
    for r in rows:
        assert r["meter_guard"] is True and r["attempts"] <= DEFAULTS.until_valid + 1
        if not r["valid"]:
            continue
        files = r["files"]
        assert "mid_error" not in files and "wav_error" not in files, files
        assert open(files["mid"], "rb").read(4) == b"MThd"
        x, sr = sf.read(io.BytesIO(open(files["wav"], "rb").read()), dtype="float32", always_2d=True)
        seconds = len(x) / sr
        assert seconds > 3 and float(np.sqrt(np.mean(x**2))) > 0.01, (seconds, files)


def test_cli_defaults_are_the_apps():
    from audio_rnn.cli import build_parser

    args = build_parser("generate").parse_args(["generate"])
    assert (args.temperature, args.top_k, args.top_p, args.length, args.until_valid, args.no_guard) == (
        DEFAULTS.temperature, DEFAULTS.top_k, DEFAULTS.top_p, DEFAULTS.length, DEFAULTS.until_valid,
        not DEFAULTS.guard)


def test_app_shows_no_valid_badge_without_a_player():
    """A tune the checker passed but the renderer refuses: a warning that says why, no green badge, no player."""
    from streamlit.testing.v1 import AppTest

    script = (
        "import streamlit as st\n"
        "from audio_rnn.ui import generator\n"
        "generator._show(st.session_state['g'])\n"
    )
    at = AppTest.from_string(script)
    at.session_state["g"] = {"text": "X:1\nT:t\nM:4/4\nL:1/8\nK:G\n|:GABc dedB|GABc dedB|\n|:GABc dedB|GABc dedB|]\n",
                             "valid": True, "reasons": [], "attempts": 1, "is_abc": True}
    at.run(timeout=120)
    assert not at.exception
    assert not at.success, [s.value for s in at.success]
    assert any("Not playable" in w.value and "MIDI" in w.value for w in at.warning), [w.value for w in at.warning]
    assert len(at.get("audio")) == 0
