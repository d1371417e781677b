"""Shared app plumbing: per-session temp dir, cached decoding, and errors shown as one line."""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import streamlit as st

from audio_rnn.audio.decode import DEFAULT_SR
from audio_rnn.errors import AudioRnnError

log = logging.getLogger("audio_rnn.ui")

MAX_SECONDS = 600.0  # longest recording the app decodes (the CLI streams longer ones)
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"


def session_dir() -> Path:
    """This browser session's private temp folder; removed when the session's state is dropped."""
    holder = st.session_state.get("_tmpdir")
    if holder is None or not Path(holder.name).is_dir():
        holder = tempfile.TemporaryDirectory(prefix="audio_rnn_session_")
        st.session_state["_tmpdir"] = holder
    return Path(holder.name)


@st.cache_data(max_entries=64, show_spinner=False)
def decode(data: bytes, sr: int = DEFAULT_SR) -> np.ndarray:
    """Decode uploaded bytes (never unpickled) to mono float32 at `sr`; cached by content."""
    from audio_rnn.audio.decode import load_audio

    return load_audio(data, sr=sr, max_seconds=MAX_SECONDS)


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
    """A calm placeholder for a part whose model or module has not shipped yet."""
    st.info(f"{what} is not available yet: {md_escape(why)}")


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
