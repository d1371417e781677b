"""Page 3, Inside the RNN: hidden states and gates over time, and gradient flow through time."""

from __future__ import annotations

import numpy as np
import streamlit as st

from audio_rnn.audio.decode import DEFAULT_SR
from audio_rnn.ui import models, plots
from audio_rnn.ui.common import decode, listening_caption, pick_model, unavailable, user_errors
from audio_rnn.ui.inputs import audio_source

EQUATIONS = {
    "rnn": [r"h_t = \tanh(W_{ih} x_t + W_{hh} h_{t-1} + b)"],
    "lstm": [
        r"i_t = \sigma(W_{ii} x_t + W_{hi} h_{t-1} + b_i)",
        r"f_t = \sigma(W_{if} x_t + W_{hf} h_{t-1} + b_f)",
        r"g_t = \tanh(W_{ig} x_t + W_{hg} h_{t-1} + b_g)",
        r"o_t = \sigma(W_{io} x_t + W_{ho} h_{t-1} + b_o)",
        r"c_t = f_t \odot c_{t-1} + i_t \odot g_t",
        r"h_t = o_t \odot \tanh(c_t)",
    ],
    "gru": [
        r"r_t = \sigma(W_{ir} x_t + W_{hr} h_{t-1} + b_r)",
        r"z_t = \sigma(W_{iz} x_t + W_{hz} h_{t-1} + b_z)",
        r"\begin{aligned} n_t = \tanh\big(&W_{in} x_t + b_{in} \\ &+ r_t \odot (W_{hn} h_{t-1} + b_{hn})\big)"
        r"\end{aligned}",
        r"h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}",
    ],
}
GRADIENT_EQUATIONS = [
    r"\frac{\partial L}{\partial h_t} = \frac{\partial L}{\partial h_T}\prod_{k=t+1}^{T}"
    r"\frac{\partial h_k}{\partial h_{k-1}}",
    r"\text{RNN: } \frac{\partial h_k}{\partial h_{k-1}} = \operatorname{diag}(1-h_k^2)\,W_{hh}",
    r"\Rightarrow\; \Big\|\frac{\partial L}{\partial h_t}\Big\| \lesssim \rho(W_{hh})^{T-t}"
    r"\Big\|\frac{\partial L}{\partial h_T}\Big\|",
    r"\text{LSTM: } \frac{\partial c_k}{\partial c_{k-1}} \supset \operatorname{diag}(f_k)",
    r"\text{GRU: } \frac{\partial h_k}{\partial h_{k-1}} \supset \operatorname{diag}(z_k)",
]
GATE_HELP = {
    "input": "how much of the new candidate enters the cell",
    "forget": "how much of the old cell state is kept (near 1 = remember)",
    "cell": "the candidate values g_t (tanh)",
    "output": "how much of the cell is shown as h_t",
    "reset": "how much of h_{t-1} the candidate may use",
    "update": "how much of h_{t-1} is kept (near 1 = remember)",
    "new": "the candidate state n_t (tanh)",
}


def render() -> None:
    """The Inside the RNN page."""
    st.header("Inside the RNN")
    tab_states, tab_flow = st.tabs(["Hidden states and gates", "Gradient flow"])
    with tab_states:
        _states()
    with tab_flow:
        _gradient_flow()


def _states() -> None:
    path = pick_model("in_model")
    rec, why = models.try_recognizer(path)
    if rec is None:
        unavailable("The keyword model", why)
        return
    st.caption(listening_caption(rec.labels))
    cell = rec.model.dims.cell
    left, right = st.columns([5, 3])
    with right:
        st.markdown(f"**{cell.upper()} equations** (torch's gate order)")
        for eq in EQUATIONS[cell]:
            st.latex(eq)
    with left:
        current = st.session_state.get("current_clip")
        use_current = current is not None and st.toggle(f"Use the Keywords page's clip ({current.name})", value=True,
                                                        key="in_use_current")
        clip = current if use_current else audio_source("in")
        if clip is None:
            st.info("Pick a sample, upload a file or record a word.")
            return
        with user_errors("audio"):
            wave = decode(clip.data, DEFAULT_SR)
            tr = models.trace(path, wave)
            _show_trace(tr)


def _show_trace(tr: dict) -> None:
    layers = tr["layers"]
    dims = tr["dims"]
    st.caption(f"{dims['cell'].upper()}, {dims['layers']} layer(s) x {dims['hidden']} units, replayed with the numpy "
               f"equations of `audio_rnn.scratch.cells` (max |numpy - torch| = {tr['torch_max_abs_diff']:.1e}).")
    k = st.radio("Layer", list(range(1, len(layers) + 1)), horizontal=True, key="in_layer") if len(layers) > 1 else 1
    layer = layers[k - 1]
    rate = tr["frame_rate"]
    order = _unit_order(layer["hidden"])
    st.image(plots.heatmap(layer["hidden"][:, order], rate, f"hidden state h_t, layer {k} (units sorted by when they "
                           "peak)", "unit", cmap="RdBu_r", symmetric=True))
    if "cell" in layer:
        st.image(plots.heatmap(layer["cell"][:, order], rate, f"cell state c_t, layer {k}", "unit", cmap="RdBu_r",
                               symmetric=True))
    for name in tr["gate_names"]:
        g = layer["gates"][name][:, order]
        tanh = name in ("cell", "new")
        st.image(plots.heatmap(g, rate, f"{name} gate, layer {k}: {GATE_HELP.get(name, '')} "
                               f"(mean {float(np.mean(g)):.2f})", "unit", cmap="RdBu_r" if tanh else "viridis",
                               symmetric=tanh))


def _after_training(T: int) -> None:
    """The same curves for cells trained on the adding problem (on demand: it takes a while)."""
    st.markdown("**After training** on the adding problem (T = 50, 400 steps, gate bias 1)")
    if not (st.session_state.get("gf_trained") or st.button("Train the three cells (about 30 s)", key="gf_train")):
        return
    st.session_state["gf_trained"] = True
    flows = models.gradient_flow_trained(T)
    st.image(plots.gradflow({c.upper(): f["relative"] for c, f in flows.items()},
                            f"after training, T = {T}"))
    st.table([{"cell": c.upper(), "factor per step": f"{f['decay_per_step']:.3f}",
               "final MSE": f"{f['final_mse']:.4f}", "baseline MSE": f"{f['baseline_mse']:.4f}"}
              for c, f in flows.items()])


def _unit_order(h: np.ndarray) -> np.ndarray:
    """Units sorted by the time of their largest activation, so the picture reads as a sweep."""
    return np.argsort(np.argmax(np.abs(h), axis=0), kind="stable") if h.size else np.arange(h.shape[1])


def _gradient_flow() -> None:
    left, right = st.columns([3, 2])
    with right:
        T = st.slider("Sequence length T", 10, 400, 100, step=10, key="gf_T")
        scale_on = st.toggle("Set the recurrent weight scale (spectral radius)", value=True, key="gf_scale_on")
        radius = st.slider("Recurrent weight scale ρ(W_hh)", 0.25, 2.0, 1.0, step=0.05, key="gf_radius",
                           disabled=not scale_on)
        bias = st.slider("Forget (LSTM) / update (GRU) gate bias", 0.0, 4.0, 0.0, step=0.5, key="gf_bias")
        st.markdown("**Backpropagation through time**")
        for eq in GRADIENT_EQUATIONS:
            st.latex(eq)
    with left:
        with user_errors("gradient flow"):
            flows = models.gradient_flow(int(T), float(radius) if scale_on else None, float(bias))
            norms = {c.upper(): f["relative"] for c, f in flows.items()}
            st.image(plots.gradflow(norms, f"||dL/dh_t|| / ||dL/dh_T|| at initialisation, T = {T}"))
            st.table([{"cell": c.upper(), "factor per step": f"{f['decay_per_step']:.3f}",
                       f"gradient left after {T - 1} steps": f"{f['relative'][-1]:.2e}",
                       "spectral radius": f"{f['spectral_radius']:.2f}"} for c, f in flows.items()])
            _after_training(int(T))
            st.caption("Adding problem, hidden size 32, numpy BPTT (`audio_rnn.scratch.gradflow`). A factor below 1 "
                       "vanishes, above 1 explodes. Raise the gate bias: a forget/update gate near 1 gives LSTM/GRU "
                       "a path whose factor is about f_t or z_t.")
