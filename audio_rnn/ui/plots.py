"""Figures for the app as PNG bytes: object-oriented matplotlib (no pyplot state), nothing left open.

Each function takes plain arrays and returns PNG bytes, so pages can cache the
result with `st.cache_data` and redraw nothing on reruns.
"""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

DPI = 100
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39"]


def png(fig: Figure) -> bytes:
    """Render and release a figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    fig.clear()
    return buf.getvalue()


def _envelope(x: np.ndarray, n: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index, min, max) over `n` buckets: a faithful overview of a long signal."""
    if x.size <= n:
        i = np.arange(x.size)
        return i, x, x
    edges = np.linspace(0, x.size, n + 1).astype(int)
    lo = np.minimum.reduceat(x, edges[:-1])
    hi = np.maximum.reduceat(x, edges[:-1])
    return edges[:-1], lo, hi


def waveform_overview(x: np.ndarray, sr: int, region: tuple[float, float]) -> bytes:
    """The whole waveform with the zoomed region shaded."""
    fig = Figure(figsize=(9, 1.8))
    ax = fig.add_subplot()
    i, lo, hi = _envelope(x)
    ax.fill_between(i / sr, lo, hi, color=COLORS[0], linewidth=0.5)
    ax.axvspan(*region, color=COLORS[1], alpha=0.25, label="zoomed region")
    ax.set_xlim(0, max(x.size / sr, 1e-3))
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("time (s)")
    ax.legend(loc="upper right", fontsize=8)
    return png(fig)


def waveform_frames(x: np.ndarray, sr: int, region: tuple[float, float], starts: np.ndarray,
                    frame_len: int, max_frames: int = 60) -> bytes:
    """Samples in the region with the analysis frames drawn under them as staggered brackets."""
    t0, t1 = region
    a, b = int(t0 * sr), max(int(t1 * sr), int(t0 * sr) + 2)
    seg = x[a:b]
    t = (a + np.arange(seg.size)) / sr
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot()
    ax.plot(t, seg, color=COLORS[0], linewidth=0.8, marker="." if seg.size <= 400 else None, markersize=2)
    dur = frame_len / sr
    idx = np.flatnonzero((starts + dur > t0) & (starts < t1))[:max_frames]
    rows = max(1, int(np.ceil(dur / (starts[1] - starts[0])))) if starts.size > 1 else 1
    peak = max(float(np.abs(seg).max()) if seg.size else 0.0, 1e-3)
    for k in idx:
        y = -peak * (1.15 + 0.18 * (k % rows))
        ax.plot([starts[k], starts[k] + dur], [y, y], color=COLORS[2 + k % rows], linewidth=2.5, solid_capstyle="butt")
        ax.axvline(starts[k], color="0.75", linewidth=0.5, zorder=0)
        if len(idx) <= 30:
            ax.text(starts[k], y - 0.06 * peak, str(k), fontsize=7, va="top", clip_on=True)
    ax.set_xlim(t0, t1)
    ax.set_ylim(-peak * (1.35 + 0.18 * rows), peak * 1.1)
    ax.set_xlabel("time (s)")
    ax.set_title(f"{len(idx)} frames of {dur * 1000:.0f} ms every "
                 f"{(starts[1] - starts[0]) * 1000 if starts.size > 1 else 0:.0f} ms (bars: frame windows, numbered)",
                 fontsize=9)
    return png(fig)


def heatmap(m: np.ndarray, frame_rate: float, title: str, ylabel: str, cmap: str = "viridis",
            symmetric: bool = False, height: float = 2.6, span: tuple[float, float] | None = None) -> bytes:
    """A (time, channels) matrix as an image, time along x in seconds; `span` outlines a time region."""
    m = np.asarray(m, dtype=np.float32)
    fig = Figure(figsize=(9, height))
    ax = fig.add_subplot()
    kw = {}
    if symmetric:
        v = max(float(np.abs(m).max()) if m.size else 1.0, 1e-6)
        kw = {"vmin": -v, "vmax": v}
    im = ax.imshow(m.T, aspect="auto", origin="lower", cmap=cmap, interpolation="nearest",
                   extent=(0, m.shape[0] / frame_rate, -0.5, m.shape[1] - 0.5), **kw)
    fig.colorbar(im, ax=ax, pad=0.01)
    if span is not None:
        for t in span:
            ax.axvline(t, color="white", linewidth=1.2)
            ax.axvline(t, color="black", linewidth=0.6, linestyle="--")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    return png(fig)


def prob_bars(labels: Sequence[str], probs: Sequence[float]) -> bytes:
    """Horizontal probability bars, the winner highlighted."""
    p = np.asarray(probs, dtype=float)
    order = np.argsort(p)
    fig = Figure(figsize=(5, 0.28 * len(labels) + 0.8))
    ax = fig.add_subplot()
    best = int(np.argmax(p))
    ax.barh([labels[i] for i in order], p[order], color=[COLORS[1] if i == best else COLORS[0] for i in order])
    for y, i in enumerate(order):
        ax.text(min(p[i] + 0.01, 0.9), y, f"{p[i]:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    return png(fig)


def curves(y: np.ndarray, frame_rate: float, labels: Sequence[str], title: str, ylabel: str,
           top: int = 6, ylim: tuple[float, float] | None = (0, 1), times: np.ndarray | None = None) -> bytes:
    """(time, classes) curves; only the `top` classes by peak value get a colour and a legend entry."""
    y = np.asarray(y, dtype=float)
    t = np.arange(y.shape[0]) / frame_rate if times is None else np.asarray(times, dtype=float)
    fig = Figure(figsize=(9, 2.8))
    ax = fig.add_subplot()
    keep = set(np.argsort(y.max(axis=0))[::-1][:top].tolist()) if y.size else set()
    for j in range(y.shape[1]):
        if j in keep:
            ax.plot(t, y[:, j], label=labels[j], color=COLORS[j % len(COLORS)], linewidth=1.4)
        else:
            ax.plot(t, y[:, j], color="0.85", linewidth=0.8)
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if keep:
        ax.legend(loc="upper left", fontsize=8, ncol=min(6, len(keep)))
    return png(fig)


def gradflow(norms: dict[str, np.ndarray], title: str) -> bytes:
    """Gradient norm vs steps back in time, one line per cell type, log scale."""
    fig = Figure(figsize=(6.5, 3.4))
    ax = fig.add_subplot()
    for k, (name, v) in enumerate(norms.items()):
        v = np.asarray(v, dtype=float)
        ax.semilogy(np.arange(v.size), np.clip(v, 1e-30, None), label=name, color=COLORS[k], linewidth=1.6)
    ax.set_xlabel("steps back in time (t_end - t)")
    ax.set_ylabel("||dL/dh_t||")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=9)
    ax.grid(alpha=0.3, which="both")
    return png(fig)


def training_curve(history: Sequence[dict]) -> bytes:
    """Loss and accuracy per epoch from a fine-tuning run."""
    fig = Figure(figsize=(6, 2.6))
    ax = fig.add_subplot()
    ep = [h["epoch"] for h in history]
    ax.plot(ep, [h["loss"] for h in history], color=COLORS[0], label="loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if any("accuracy" in h for h in history):
        ax2 = ax.twinx()
        ax2.plot(ep, [h.get("accuracy", np.nan) for h in history], color=COLORS[1], label="accuracy")
        ax2.set_ylim(0, 1.02)
        ax2.set_ylabel("accuracy")
    return png(fig)
