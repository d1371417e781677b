"""Page 2, Sequence generator: sample ABC tunes (or text) from a character RNN and hear them."""

from __future__ import annotations

import streamlit as st

from audio_rnn.ui import models
from audio_rnn.ui.common import unavailable


def render() -> None:
    """The Sequence generator page."""
    st.header("Sequence generator")
    gen, why = models.module("generate")
    if gen is None:
        unavailable("The generator", why)
        return
