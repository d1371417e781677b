"""Shared app plumbing: per-session temp dir, cached decoding, and errors shown as one line."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import streamlit as st

from audio_rnn.audio.decode import DEFAULT_SR
from audio_rnn.errors import AudioError, AudioRnnError, TooLongError

log = logging.getLogger("audio_rnn.ui")

MAX_SECONDS = 600.0  # longest recording the app decodes whole (Inside the RNN, Train your own)
# longest recording the Keywords page spots (read in blocks): past any 16 kHz WAV under the 50 MB upload limit
SPOT_MAX_SECONDS = 3600.0
VIEW_SECONDS = 120.0  # waveform and MFCC views of a longer recording show its first two minutes
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"


def session_dir() -> Path:
    """This browser session's private temp folder; removed when the session's state is dropped."""
    holder = st.session_state.get("_tmpdir")
    if holder is None or not Path(holder.name).is_dir():
        holder = tempfile.TemporaryDirectory(prefix="audio_rnn_session_")
        st.session_state["_tmpdir"] = holder
    return Path(holder.name)


def named(data: bytes, name: str) -> io.BytesIO:
    """Upload bytes as a file object that carries the file's name, so decoding errors name the file."""
    buf = io.BytesIO(data)
    buf.name = name
    return buf


def too_long(name: str, seconds: float | None, limit: float, hint: str) -> TooLongError:
    """The one-line error for a recording over a page's limit: the file, its length, the limit, what to do."""
    length = f"{seconds / 60:.1f} min" if seconds else "it"
    return TooLongError(f"{name}: {length} is longer than the {limit / 60:g} min this page takes; {hint}")


def duration(data: bytes, name: str = "upload") -> float:
    """The recording's length from its header (0.0 when the container does not say), without decoding it."""
    from audio_rnn.audio.decode import probe

    return probe(named(data, name)).duration


@st.cache_data(max_entries=64, show_spinner=False)
def decode(data: bytes, sr: int = DEFAULT_SR, name: str = "upload", max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """Decode uploaded bytes (never unpickled) to mono float32 at `sr`; cached by content."""
    from audio_rnn.audio.decode import load_audio

    try:
        return load_audio(named(data, name), sr=sr, max_seconds=max_seconds)
    except TooLongError:
        raise too_long(name, duration(data, name), max_seconds,
                       "trim it, or spot keywords in it on the Keywords page (up to "
                       f"{SPOT_MAX_SECONDS / 60:g} min) or with `audio-rnn spot FILE`") from None


@st.cache_data(max_entries=8, show_spinner=False)
def decode_head(data: bytes, sr: int = DEFAULT_SR, name: str = "upload", seconds: float = VIEW_SECONDS) -> np.ndarray:
    """The first `seconds` of a long recording, read block by block (the rest is never decoded), DC removed."""
    from audio_rnn.audio.decode import read_blocks, remove_dc

    parts, n = [], 0
    for b in read_blocks(named(data, name), sr=sr, block_seconds=10.0):
        parts.append(b)
        n += b.size
        if n >= seconds * sr:
            break
    if not parts:
        raise AudioError(f"{name}: no samples could be decoded")
    return remove_dc(np.concatenate(parts)[: int(seconds * sr)])


@contextlib.contextmanager
def user_errors(what: str = "") -> Iterator[None]:
    """Show a user error as one clear `st.error` line; unexpected errors too, never a traceback."""
    try:
        yield
    except AudioRnnError as exc:
        st.error(md_escape(exc.one_line()))
    except Exception as exc:  # anything else still reaches the user as one line; the log keeps the traceback
        log.exception("error in %s", what or "app")
        st.error(md_escape(f"{what + ': ' if what else ''}{type(exc).__name__}: {str(exc)[:300]}"))


def md_escape(text: str) -> str:
    """User text (file names) made inert for Streamlit markdown: no links, emphasis or HTML."""
    return re.sub(r"([\\`*_{}\[\]()#+\-!|<>~:$])", r"\\\1", str(text))


def unavailable(what: str, why: str) -> None:
    """A calm note, with the reason, for a part that cannot run here (a model file missing, a package absent)."""
    st.info(f"{what} cannot run here: {md_escape(why)}")


SHIPPED_MODELS = {"digits": "Digits", "commands": "Commands"}


def pick_model(key: str, label: str = "Model") -> str:
    """A radio of the shipped vocabularies and, once trained in this session, the user's own model.

    Returns what `Recognizer` takes: "digits", "commands", or the folder of the Train page's model.
    """
    options = list(SHIPPED_MODELS)
    mine = st.session_state.get("tr_result")
    if mine:
        options.append(mine["folder"])

    def name(option: str) -> str:
        if option in SHIPPED_MODELS:
            return SHIPPED_MODELS[option]
        return "Your model (" + ", ".join(lab for lab in mine["labels"] if not lab.startswith("_")) + ")"

    if st.session_state.get(key) not in options:  # a model from an earlier run of the Train page is gone
        st.session_state.pop(key, None)
    return st.radio(label, options, format_func=name, horizontal=True, key=key)


def listening_caption(labels: list[str]) -> str:
    """Which vocabulary listens: the keywords, then the two background classes."""
    words = [lab for lab in labels if not lab.startswith("_")]
    return f"Listening for {len(words)} keywords: {', '.join(words)} (anything else is unknown or silence)."


def sensitivity_slider(spotter, key: str):
    """A sensitivity slider under a spotter, with what the setting cost on its validation streams; the spotter
    at the chosen sensitivity."""
    default = min(0.95, max(0.05, round(spotter.sensitivity * 20) / 20))
    value = st.slider("Sensitivity", 0.05, 0.95, default, step=0.05, key=key,
                      help="Higher finds more keywords and raises more false alarms (the detection threshold is "
                           "1 - sensitivity).")
    tuned = spotter.with_sensitivity(value)
    point = tuned.expected()
    if point:
        st.caption(f"At sensitivity {value:.2f}, on the validation recordings of held-out speakers: about "
                   f"{point['found_right_pct']:.0f}% of keywords found and right, "
                   f"{point['fa_per_hour']:.0f} false alarms per hour of speech"
                   f"{' (the tuned setting)' if abs(value - default) < 1e-9 else ''}.")
    return tuned
