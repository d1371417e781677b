"""Page 3, Inside the RNN: hidden states and gates over time, and gradient flow through time."""

from __future__ import annotations

import streamlit as st

from audio_rnn.ui import models
from audio_rnn.ui.common import unavailable


def render() -> None:
    """The Inside the RNN page."""
    st.header("Inside the RNN")
    rec, why = models.kws()
    if rec is None:
        unavailable("The keyword model", why)
