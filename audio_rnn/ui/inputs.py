"""One audio input widget, three ways in: a bundled sample, an upload, or a microphone recording."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from audio_rnn.ui.common import SAMPLES

UPLOAD_TYPES = ["wav", "flac", "ogg", "mp3", "m4a", "webm"]
SOURCES = ["Sample", "Upload", "Record"]


@dataclass(frozen=True)
class Clip:
    """Raw bytes of the chosen audio and a display name (never executed or unpickled)."""

    name: str
    data: bytes
    source: str = "upload"  # sample | upload | record


def sample_files(root: Path = SAMPLES) -> list[Path]:
    """Bundled sample clips: digits first, then the command words, then the long recordings."""
    return sorted(root.glob("*/*.wav"), key=lambda p: (p.parent.name == "long", p.parent.name != "digits", p.parent.name, p.name))


def audio_source(key: str, default_sample: str = "digits/seven.wav") -> Clip | None:
    """Render the source picker and return the chosen clip, or None until there is one."""
    source = st.radio("Audio", SOURCES, horizontal=True, key=f"{key}_source")
    if source == "Sample":
        files = sample_files()
        if not files:
            st.warning(f"No samples found in {SAMPLES}; run `python samples/make_samples.py`.")
            return None
        names = [f"{p.parent.name}/{p.name}" for p in files]
        index = names.index(default_sample) if default_sample in names else 0
        name = st.selectbox("Sample", names, index=index, key=f"{key}_sample")
        return Clip(name, (SAMPLES / name).read_bytes(), "sample")
    if source == "Upload":
        up = st.file_uploader("Audio file", type=UPLOAD_TYPES, key=f"{key}_upload",
                              help="wav, flac, ogg, mp3, m4a or webm; the size limit is set in .streamlit/config.toml")
        return Clip(up.name, up.getvalue()) if up is not None else None
    rec = st.audio_input("Record from your microphone", key=f"{key}_record")
    return Clip("recording.wav", rec.getvalue(), "record") if rec is not None else None
