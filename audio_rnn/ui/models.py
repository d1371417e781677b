"""Cached model loaders and thin adapters over the package's recognizer, spotter and generator.

Models load once per process (`st.cache_resource`) and results are cached by
input (`st.cache_data`). A part whose model has not shipped yet reports why,
so pages can show a calm placeholder instead of failing.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import numpy as np
import streamlit as st

from audio_rnn.errors import AudioRnnError


def model_path(path: str | None = None) -> str | None:
    """The keyword checkpoint to use: `path` (a shipped name or a folder); None for the default digit model,
    which the registry reads from $AUDIO_RNN_KWS_MODEL when that is set."""
    return None if path in (None, "", "digits") else path


def _set_threads() -> None:
    import torch

    torch.set_num_threads(1)  # small models: one thread is as fast and does not fight other sessions


@st.cache_resource(show_spinner="Loading the keyword model...", max_entries=8)
def recognizer(path: str | None = None):
    """The keyword `Recognizer` for a checkpoint folder (None: the shipped model), loaded once."""
    _set_threads()
    from audio_rnn.keywords.recognize import Recognizer

    return Recognizer(model_path(path))


def try_recognizer(path: str | None = None) -> tuple[Any | None, str]:
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


# ----------------------------------------------------------------------------- streaming spotter


@st.cache_resource(show_spinner="Loading the keyword spotter...", max_entries=8)
def spotter(path: str | None = None):
    """The streaming `Spotter` (numpy inference) for a keyword checkpoint, loaded once."""
    from audio_rnn.spotting.streaming import Spotter

    return Spotter(model_path(path))  # a shipped name: its spotter; a folder: that model


def spot_blocks(path: str | None, data: bytes, name: str, seconds: float,
                on_progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(times, posteriors, labels) of a whole recording through the block-reading spotter (the decoded
    recording is never held whole), reporting the share heard so far; kept per session by model and content."""
    from audio_rnn.errors import EmptyAudioError
    from audio_rnn.ui.common import named

    key = (str(path), hashlib.sha1(data).hexdigest())
    done: dict = st.session_state.setdefault("_spotted", {})
    if key not in done:
        sp = spotter(path)
        parts = []
        for t, p in sp.iter_posteriors(named(data, name)):
            parts.append((t, p))
            if on_progress is not None and seconds > 0:
                on_progress(min(1.0, float(t[-1]) / seconds))
        if not parts:
            raise EmptyAudioError(f"{name}: the recording is too short to analyse")
        times, probs = np.concatenate([t for t, _ in parts]), np.concatenate([p for _, p in parts])
        while len(done) >= 4:  # a few recordings per session
            done.pop(next(iter(done)))
        done[key] = (times, probs, list(sp.labels))  # detections follow from them at any sensitivity
    return done[key]


# ----------------------------------------------------------------------------- inside the network


@st.cache_data(max_entries=16, show_spinner="Replaying the network with the numpy cells...")
def trace(path: str | None, wave: np.ndarray, max_seconds: float = 10.0) -> dict[str, Any]:
    """Hidden states and gate activations of every recurrent layer of the keyword model for a clip.

    The clip's MFCC frames go through the model's input LayerNorm, then
    `scratch.trace` replays the trained torch RNN/LSTM/GRU with the numpy equations.
    """
    import torch

    from audio_rnn.scratch.torch_bridge import trace as scratch_trace

    rec = recognizer(path)
    x = np.asarray(wave, dtype=np.float32)[: int(max_seconds * rec.sample_rate)]
    with torch.no_grad():
        feats = rec.model.norm(rec.mfcc(torch.from_numpy(x)))[0]
    out = scratch_trace(rec.model.rnn, feats)
    out["frame_rate"] = rec.features.frame_rate
    out["dims"] = rec.model.dims.to_dict()
    return out


@st.cache_data(max_entries=64, show_spinner=False)
def gradient_flow(T: int, radius: float | None, gate_bias: float, hidden: int = 32, seed: int = 0
                  ) -> dict[str, dict[str, Any]]:
    """||dL/dh_t|| against distance for RNN, LSTM and GRU at initialisation (`gradflow.flow_at_init`)."""
    from audio_rnn.scratch.gradflow import flow_at_init

    return {cell: flow_at_init(cell, T, hidden_size=hidden, radius=radius, gate_bias=gate_bias, seed=seed)
            for cell in ("rnn", "lstm", "gru")}


@st.cache_resource(show_spinner="Training RNN, LSTM and GRU on the adding problem...", max_entries=2)
def adding_models(steps: int = 400, T: int = 50) -> dict[str, dict[str, Any]]:
    """The three cells trained on the adding problem (`gradflow.train_adding`); deterministic, kept for all sessions."""
    from audio_rnn.scratch.gradflow import train_adding

    return {cell: train_adding(cell, T=T, steps=steps) for cell in ("rnn", "lstm", "gru")}


@st.cache_data(max_entries=32, show_spinner=False)
def gradient_flow_trained(T: int, steps: int = 400) -> dict[str, dict[str, Any]]:
    """||dL/dh_t|| against distance for the trained cells on sequences of length T."""
    from audio_rnn.scratch.gradflow import flow_after_training

    trained = adding_models(steps)
    out = {}
    for cell, tr in trained.items():
        out[cell] = {**flow_after_training(tr, T), "final_mse": tr["final_mse"], "baseline_mse": tr["baseline_mse"]}
    return out
