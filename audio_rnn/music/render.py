"""Rendering a tune: MIDI (music21), WAV (fluidsynth, or a numpy synth without it), an engraved SVG
score (verovio), and the `render` command."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from audio_rnn.music.notation import split_tunes
from audio_rnn.music.validity import check_tune, parse_abc


SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


def abc_to_midi(abc: str) -> bytes:
    """Standard MIDI file bytes for a tune (music21)."""
    from music21 import midi

    score = parse_abc(abc)
    mf = midi.translate.music21ObjectToMidiFile(score)
    return mf.writestr()


def _synth_notes(abc: str) -> list[tuple[float, float, float]]:
    """(start s, duration s, frequency Hz) of every sounding note, at the tune's tempo (default 120 bpm)."""
    score = parse_abc(abc)
    bpm = 120.0
    marks = list(score.recurse().getElementsByClass("MetronomeMark"))
    if marks and marks[0].getQuarterBPM():
        bpm = float(marks[0].getQuarterBPM())
    spq = 60.0 / bpm
    out = []
    for n in score.flatten().notes:
        if n.duration.quarterLength <= 0:
            continue
        for p in getattr(n, "pitches", []):
            out.append((float(n.offset) * spq, float(n.duration.quarterLength) * spq, float(p.frequency)))
    return out


def synth_wave(abc: str, sr: int = 22050) -> np.ndarray:
    """A small numpy synthesizer: plucked-string-like harmonics with a decaying envelope; float32 mono."""
    notes = _synth_notes(abc)
    if not notes:
        return np.zeros(sr // 2, dtype=np.float32)
    end = max(s + d for s, d, _ in notes) + 0.5
    out = np.zeros(int(end * sr) + 1, dtype=np.float32)
    for start, dur, freq in notes:
        n = int((dur + 0.15) * sr)
        t = np.arange(n, dtype=np.float32) / sr
        wave = sum((0.6**k) * np.sin(2 * np.pi * freq * (k + 1) * t) for k in range(4))
        env = np.exp(-3.0 * t / max(dur, 0.1)) * np.minimum(1.0, t / 0.005)
        i = int(start * sr)
        seg = (wave * env).astype(np.float32)
        out[i : i + len(seg)] += seg[: len(out) - i]
    peak = float(np.max(np.abs(out))) or 1.0
    return (0.8 * out / peak).astype(np.float32)


def _wav_bytes(wave: np.ndarray, sr: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _compact_wav(data: bytes, sr: int) -> bytes:
    """fluidsynth writes 44.1 kHz stereo with a long silent tail: make it mono at `sr`, tail trimmed."""
    import soundfile as sf

    x, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if rate != sr:
        import soxr

        x = soxr.resample(x, rate, sr)
    loud = np.flatnonzero(np.abs(x) > 1e-3)
    end = min(len(x), (int(loud[-1]) if len(loud) else 0) + sr // 2)
    return _wav_bytes(np.clip(x[: max(end, sr // 2)], -1, 1).astype(np.float32), sr)


def abc_to_wav(abc: str, sr: int = 22050, synth: str = "auto") -> bytes:
    """WAV bytes: fluidsynth with the GM soundfont when installed ('auto'/'fluidsynth'), else the numpy synth."""
    exe = shutil.which("fluidsynth")
    if synth != "numpy" and exe and SOUNDFONT.is_file():
        midi_bytes = abc_to_midi(abc)
        with tempfile.TemporaryDirectory(prefix="audio_rnn_render_") as tmp:
            mid, wav = Path(tmp) / "tune.mid", Path(tmp) / "tune.wav"
            mid.write_bytes(midi_bytes)
            cmd = [exe, "-ni", "-q", "-g", "0.8", "-r", str(sr), "-F", str(wav), str(SOUNDFONT), str(mid)]
            proc = subprocess.run(cmd, capture_output=True, timeout=120)
            if proc.returncode == 0 and wav.is_file() and wav.stat().st_size > 44:
                return _compact_wav(wav.read_bytes(), sr)
        if synth == "fluidsynth":
            raise RuntimeError(f"fluidsynth failed: {proc.stderr.decode(errors='replace')[:200]}")
    return _wav_bytes(synth_wave(abc, sr), sr)


_VEROVIO_LOCK = threading.Lock()


def render_svg(abc: str, page_width: int = 2100, scale: int = 40) -> str:
    """Engraved score as one SVG string (verovio), safe to call from any thread.

    The tune goes ABC -> music21 -> MusicXML -> verovio: verovio's own ABC reader
    aborts the whole process on some malformed tunes (seen with generated text),
    while music21 refuses them with an exception. verovio.toolkit() in a non-main
    thread cannot find its fonts and renders an empty page, so the toolkit is
    created without resources and pointed at the package's data folder explicitly.
    """
    import verovio
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    score = parse_abc(abc)  # raises on ABC that music21 cannot read
    if not list(score.recurse().notes):
        raise ValueError("the tune has no notes to engrave")
    xml = GeneralObjectExporter(score).parse().decode("utf-8")
    opts = {"pageWidth": page_width, "scale": scale, "adjustPageHeight": True, "pageHeight": 60000,
            "header": "auto", "footer": "none", "breaks": "auto", "inputFrom": "musicxml"}
    with _VEROVIO_LOCK:
        verovio.enableLog(verovio.LOG_ERROR)  # its import warnings (open ties, bar styles) are not ours to print
        tk = verovio.toolkit(False)
        tk.setResourcePath(str(Path(verovio.__file__).resolve().parent / "data"))
        tk.setOptions(opts)
        if not tk.loadData(xml) or tk.getPageCount() == 0:
            raise ValueError("verovio could not engrave this tune")
        return "".join(tk.renderToSVG(p) for p in range(1, tk.getPageCount() + 1))


def render_files(abc: str, out: str | Path, stem: str) -> dict[str, str]:
    """Write stem.abc, .mid, .wav, .svg into `out`; returns the paths (a failed step is reported, not raised)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    (out / f"{stem}.abc").write_text(abc, encoding="utf-8")
    paths["abc"] = str(out / f"{stem}.abc")
    for ext, fn in (("mid", abc_to_midi), ("wav", abc_to_wav)):
        try:
            (out / f"{stem}.{ext}").write_bytes(fn(abc))
            paths[ext] = str(out / f"{stem}.{ext}")
        except Exception as exc:  # an invalid generated tune may not render; say so
            paths[f"{ext}_error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    try:
        (out / f"{stem}.svg").write_text(render_svg(abc), encoding="utf-8")
        paths["svg"] = str(out / f"{stem}.svg")
    except Exception as exc:
        paths["svg_error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    return paths


def configure_render(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="an ABC file (the first tune is rendered; '-' reads stdin)")
    p.add_argument("--out", required=True, help="folder for .abc, .mid, .wav, .svg")
    p.add_argument("--json", action="store_true", help="print paths and validity as JSON")


def run_render(args: argparse.Namespace) -> int:
    import sys

    if args.file == "-":
        text = sys.stdin.read()
    else:
        from audio_rnn.music.text import read_text

        text = read_text(args.file)
    tunes = split_tunes(text) or [text]
    abc = tunes[0].strip() + "\n"
    validity = check_tune(abc)
    stem = Path(args.file).stem if args.file != "-" else "tune"
    paths = render_files(abc, args.out, stem)
    if args.json:
        print(json.dumps({**paths, **validity.to_dict()}))
    else:
        print(("valid" if validity.valid else "invalid: " + "; ".join(validity.reasons)))
        for k, v in paths.items():
            print(f"{k}: {v}")
    return 0
