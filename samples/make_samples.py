"""Regenerate the bundled sample clips with espeak-ng, deterministically.

    .venv/bin/python samples/make_samples.py            # writes samples/{digits,commands,long}/*
    .venv/bin/python samples/make_samples.py --check    # exit 1 if the files on disk differ

The clips are project-made (synthetic speech, no third-party recordings): one
16 kHz mono 16-bit WAV per spoken digit and per command word (yes, no, up, ...), padded to 1 s, and one longer recording
of three words separated by pauses over faint pink noise (a fixed seed), for the
streaming spotter. `speak()` is also used by the tests to make user examples.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
SR = 16000
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
COMMANDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]  # samples/commands/*.wav
LONG_WORDS = ["three", "seven", "one"]  # samples/long/three_words.wav, in this order
LONG_GAP_S = 0.9


def speak(text: str, voice: str = "en-us", speed: int = 150, pitch: int = 50, sr: int = SR) -> np.ndarray:
    """espeak-ng speech for `text` as mono float32 at `sr`, leading/trailing silence trimmed."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    out = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                         capture_output=True, check=True, timeout=60)
    x, rate = sf.read(io.BytesIO(out.stdout), dtype="float32", always_2d=True)
    from audio_rnn.audio.decode import resample

    x = resample(x.mean(axis=1), rate, sr)
    return trim(x)


def trim(x: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Cut the silence before the first and after the last sample above `threshold` of the peak."""
    loud = np.flatnonzero(np.abs(x) > threshold * max(float(np.abs(x).max()), 1e-9))
    return x[loud[0]: loud[-1] + 1] if loud.size else x[:0]


def pad_center(x: np.ndarray, n: int) -> np.ndarray:
    """Centre `x` in `n` samples (cropping the middle if it is longer)."""
    if x.size >= n:
        start = (x.size - n) // 2
        return x[start: start + n]
    left = (n - x.size) // 2
    return np.pad(x, (left, n - x.size - left))


def digit_clip(word: str) -> np.ndarray:
    """One word centred in 1 s at peak 0.5."""
    x = pad_center(speak(word), SR)
    return (0.5 * x / max(float(np.abs(x).max()), 1e-9)).astype(np.float32)


def long_clip(words: list[str] = LONG_WORDS, gap_s: float = LONG_GAP_S, seed: int = 0) -> tuple[np.ndarray, list[dict]]:
    """Words separated by `gap_s` of pause over faint pink noise; returns (wave, [{label, start, end}])."""
    from audio_rnn.audio.augment import colored_noise

    gap = np.zeros(int(gap_s * SR), np.float32)
    parts, events, t = [gap], [], gap.size
    for w in words:
        x = speak(w)
        x = 0.5 * x / max(float(np.abs(x).max()), 1e-9)
        events.append({"label": w, "start": round(t / SR, 3), "end": round((t + x.size) / SR, 3)})
        parts += [x, gap]
        t += x.size + gap.size
    wave = np.concatenate(parts).astype(np.float32)
    noise = colored_noise(wave.size, "pink", np.random.default_rng(seed))
    noise = noise / max(float(np.abs(noise).max()), 1e-9)
    return np.clip(wave + 0.005 * noise, -1, 1).astype(np.float32), events


def wav_bytes(x: np.ndarray, sr: int = SR) -> bytes:
    """16-bit PCM WAV bytes of a float signal."""
    buf = io.BytesIO()
    sf.write(buf, x, sr, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def build() -> dict[str, bytes]:
    """Every sample file's relative path -> its bytes."""
    files = {f"digits/{w}.wav": wav_bytes(digit_clip(w)) for w in DIGITS}
    files.update({f"commands/{w}.wav": wav_bytes(digit_clip(w)) for w in COMMANDS})
    wave, events = long_clip()
    files["long/three_words.wav"] = wav_bytes(wave)
    files["long/three_words.txt"] = ("".join(f"{e['start']}\t{e['end']}\t{e['label']}\n" for e in events)).encode()
    return files


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare with the files on disk instead of writing")
    p.add_argument("--out", default=str(HERE), help="folder to write into (default: samples/)")
    args = p.parse_args(argv)
    out = Path(args.out)
    bad = []
    for rel, data in build().items():
        path = out / rel
        if args.check:
            if not path.is_file() or path.read_bytes() != data:
                bad.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path} ({len(data)} bytes)")
    if bad:
        print("differs: " + ", ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
