"""Cached model loaders and thin adapters over the package's recognizer, spotter and generator.

Models load once per process (`st.cache_resource`) and results are cached by
input (`st.cache_data`). A part whose model has not shipped yet reports why,
so pages can show a calm placeholder instead of failing.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import streamlit as st

from audio_rnn.errors import AudioRnnError


def _set_threads() -> None:
    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@st.cache_resource(show_spinner="Loading the keyword model...", max_entries=8)
def recognizer(path: str | None = None):
    """The keyword `Recognizer` for a checkpoint folder (None: the shipped model), loaded once."""
    _set_threads()
    from audio_rnn.recognize import Recognizer

    return Recognizer(path)


def kws(path: str | None = None) -> tuple[Any | None, str]:
    """(recognizer, "") or (None, why it is unavailable)."""
    try:
        return recognizer(path), ""
    except ImportError as exc:
        return None, f"the recognizer module is missing ({exc})"
    except AudioRnnError as exc:
        return None, exc.one_line()


@st.cache_data(max_entries=64, show_spinner=False)
def classify(path: str | None, wave: np.ndarray) -> dict[str, Any]:
    """The clip's prediction as {label, score, probs}."""
    return recognizer(path).classify_waves([wave])[0].to_dict()


@st.cache_data(max_entries=64, show_spinner=False)
def posteriors(path: str | None, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running per-frame probabilities (T, C) and frame end times."""
    return recognizer(path).posteriors(wave)


def module(name: str) -> tuple[Any | None, str]:
    """Import `audio_rnn.<name>` if it exists yet: (module, "") or (None, why)."""
    try:
        return importlib.import_module(f"audio_rnn.{name}"), ""
    except ImportError as exc:
        return None, f"audio_rnn.{name} is not available ({exc})"
