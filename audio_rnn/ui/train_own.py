"""Page 4, Train your own keywords: a few examples per word, a short fine-tune, test and download."""

from __future__ import annotations

import streamlit as st

from audio_rnn.ui import models
from audio_rnn.ui.common import unavailable


def render() -> None:
    """The Train your own keywords page."""
    st.header("Train your own keywords")
    ft, why = models.module("finetune")
    if ft is None:
        unavailable("Fine-tuning", why)
        return
