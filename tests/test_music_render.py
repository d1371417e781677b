"""ABC -> MIDI, WAV and engraved SVG; SVG rendering from a non-main thread (as Streamlit runs it)."""

from __future__ import annotations

import io
import json
import threading

import numpy as np
import soundfile as sf

from audio_rnn.music import render
from audio_rnn.cli import main

TUNE = """X:1
T:The Kesh
M:6/8
L:1/8
K:G
|:GAG GAB|ABA ABd|edd gdd|edB dBA|
GAG GAB|ABA ABd|edd gdB|AGF G3:|
"""


def test_svg_in_a_thread_is_a_real_score():
    out: dict = {}

    def work():
        try:
            out["svg"] = render.render_svg(TUNE)
        except Exception as exc:  # surfaced below
            out["error"] = exc

    th = threading.Thread(target=work)
    th.start()
    th.join(60)
    assert "error" not in out, out.get("error")
    svg = out["svg"]
    assert svg.lstrip().startswith(("<svg", "<?xml")) and svg.rstrip().endswith("</svg>")
    assert svg.count('class="note"') >= 40  # every note of the tune is engraved
    assert render.render_svg(TUNE).count('class="note"') == svg.count('class="note"')  # main thread agrees


def test_midi_bytes():
    data = render.abc_to_midi(TUNE)
    assert data[:4] == b"MThd" and b"MTrk" in data and len(data) > 200


def _decode(wav: bytes) -> tuple[np.ndarray, int]:
    x, sr = sf.read(io.BytesIO(wav), dtype="float32")
    return (x.mean(axis=1) if x.ndim > 1 else x), sr


def test_wav_fluidsynth_or_fallback_and_numpy_synth():
    for synth in ("auto", "numpy"):
        x, sr = _decode(render.abc_to_wav(TUNE, synth=synth))
        seconds = len(x) / sr
        assert 5 < seconds < 30, (synth, seconds)  # 16 bars of 6/8 at 120 bpm is about 12 s
        assert float(np.sqrt(np.mean(x**2))) > 0.01, synth


def test_render_command_writes_all_files(tmp_path, capsys):
    src = tmp_path / "kesh.abc"
    src.write_text(TUNE)
    assert main(["render", str(src), "--out", str(tmp_path / "out"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["valid"] is True
    for ext in ("abc", "mid", "wav", "svg"):
        p = tmp_path / "out" / f"kesh.{ext}"
        assert p.is_file() and p.stat().st_size > 90, ext
