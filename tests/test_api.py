"""The package's face: `from audio_rnn import Recognizer, Spotter, LiveSpotter, Generator` works, lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def test_importing_the_package_loads_no_torch_and_lists_its_face():
    code = ("import sys, audio_rnn; assert 'torch' not in sys.modules; "
            "print(sorted(n for n in dir(audio_rnn) if n[0].isupper()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(["Detection", "Generator", "LiveSpotter", "Recognizer", "Spotter", "StreamConfig"])


def test_the_readme_example_spots_classifies_and_streams_a_sample():
    from audio_rnn import LiveSpotter, Recognizer, Spotter

    path = ROOT / "samples" / "long" / "three_words.wav"
    truth = [line.split("\t")[2] for line in (path.with_suffix(".txt")).read_text().splitlines() if line.strip()]
    found = Spotter().detect(str(path))
    assert [d.label for d in found] == truth
    x, sr = sf.read(path, dtype="float32")
    live = LiveSpotter(Spotter(), rate=sr)
    assert [d.label for d in live.feed(x) + live.close()] == truth
    digit = sorted((ROOT / "samples" / "digits").glob("*.wav"))[0]
    assert Recognizer().classify_files([str(digit)])[0].label == digit.stem.split("_")[0]


def test_the_command_line_runs_without_the_app_extras():
    """`pip install audio_rnn` (no [app] extras: no streamlit, altair or streamlit-webrtc) runs the CLI:
    classify, spot and generate work with those packages made unimportable."""
    block = ("import sys\nfor m in ('streamlit', 'altair', 'streamlit_webrtc', 'aiortc'):\n    sys.modules[m] = None\n"
             "from audio_rnn.cli import main\n")
    wav = ROOT / "samples" / "long" / "three_words.wav"
    for args in (["classify", str(wav), "--json"], ["spot", str(wav), "--json"],
                 ["generate", "--seed", "1", "--json"]):
        code = block + f"raise SystemExit(main({args!r}))"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert out.returncode == 0, (args, out.stderr[-800:])
        assert out.stdout.strip().startswith("{"), (args, out.stdout[:200])


def test_the_app_extras_are_declared_apart_from_the_core():
    core = (ROOT / "requirements-core.txt").read_text()
    app = (ROOT / "requirements-app.txt").read_text()
    assert "streamlit" not in core and "streamlit-webrtc" in app and "torch==" in core
    assert "optional-dependencies.app" in (ROOT / "pyproject.toml").read_text()
