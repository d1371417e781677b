"""Interactive charts for the app (Vega-Lite through altair, as `st.altair_chart` draws them).

Unlike the PNG figures of `plots`, these zoom and pan in the browser and show
labels on hover, so a timeline stays readable at any length: at 26 minutes a
detection is a thin line with its label in the tooltip, never overlapping text.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MAX_POINTS = 4000  # posterior buckets drawn; a bucket keeps its highest keyword probability


def keyword_curve(times: np.ndarray, probs: np.ndarray, labels: Sequence[str], max_points: int = MAX_POINTS
                  ) -> list[dict]:
    """[{t, p, keyword}]: the most likely keyword's probability over time, max-pooled to at most `max_points` rows."""
    kw = [i for i, lab in enumerate(labels) if not lab.startswith("_")]
    if not len(times) or not kw:
        return []
    p = np.asarray(probs, np.float32)[:, kw]
    best, arg = p.max(axis=1), p.argmax(axis=1)
    size = max(1, int(np.ceil(len(times) / max_points)))
    starts = np.arange(0, len(times), size)
    peak = np.maximum.reduceat(best, starts)
    at = np.array([s + int(np.argmax(best[s:s + size])) for s in starts])
    return [{"t": round(float(times[i]), 3), "p": round(float(v), 3), "keyword": labels[kw[arg[i]]]}
            for i, v in zip(at, peak)]


def timeline(duration: float, detections: Sequence[dict], truth: Sequence[dict], times: np.ndarray,
             probs: np.ndarray, labels: Sequence[str]):
    """Keyword probability over time with a line per detection (reference words above, when known); scroll or
    drag to zoom and pan the time axis, hover for labels, scores and times."""
    import altair as alt

    x = alt.X("t:Q", title="time (s)", scale=alt.Scale(domain=[0, max(duration, 1e-3)], nice=False))
    curve = alt.Chart(alt.Data(values=keyword_curve(times, probs, labels))).mark_area(
        opacity=0.35, color="#1f77b4", interpolate="step-after").encode(
        x, alt.Y("p:Q", title="keyword probability", scale=alt.Scale(domain=[0, 1.15])),
        tooltip=[alt.Tooltip("t:Q", title="time (s)"), alt.Tooltip("keyword:N"), alt.Tooltip("p:Q", format=".2f")])
    dets = [{"t": round((d["start"] + d["end"]) / 2, 3), "start": d["start"], "end": d["end"], "label": d["label"],
             "score": round(float(d["score"]), 3), "y0": 0.0, "y1": 1.0} for d in detections]
    found = alt.Chart(alt.Data(values=dets)).mark_rule(strokeWidth=2.5).encode(
        x, alt.Y("y0:Q"), alt.Y2("y1:Q"), alt.Color("label:N", title="detected"),
        tooltip=[alt.Tooltip("label:N", title="detected"), "score:Q", alt.Tooltip("start:Q", title="start (s)"),
                 alt.Tooltip("end:Q", title="end (s)")])
    layers = [curve, found]
    if truth:
        ref = [{"t": round((w["start"] + w["end"]) / 2, 3), "label": w["label"], "start": w["start"],
                "end": w["end"], "y0": 1.03, "y1": 1.13} for w in truth]
        layers.append(alt.Chart(alt.Data(values=ref)).mark_rule(strokeWidth=2.5, color="#2ca02c").encode(
            x, alt.Y("y0:Q"), alt.Y2("y1:Q"),
            tooltip=[alt.Tooltip("label:N", title="reference"), alt.Tooltip("start:Q", title="start (s)"),
                     alt.Tooltip("end:Q", title="end (s)")]))
    zoom = alt.selection_interval(bind="scales", encodings=["x"])
    title = "scroll to zoom, drag to pan, hover for labels" + ("; green: reference words" if truth else "")
    return alt.layer(*layers).add_params(zoom).properties(height=220, title=title)


def live_posteriors(times: np.ndarray, probs: np.ndarray, labels: Sequence[str], window_s: float) -> dict:
    """Each keyword's posterior over the last `window_s` seconds as a Vega-Lite spec, on a fixed 0-1 axis (a
    quiet room stays at the bottom instead of being stretched into a false peak).

    A plain spec for `st.vega_lite_chart`: the live page redraws it every second per listener, and building
    it through altair (which validates the schema) cost the server more than the spotting."""
    kw = [i for i, lab in enumerate(labels) if not lab.startswith("_")]
    rows = []
    if len(times):
        ago = np.asarray(times) - float(times[-1])
        step = max(1, len(ago) // 250)  # at most ~250 points per keyword
        rows = [{"ago": round(float(ago[t]), 3), "p": round(float(probs[t, i]), 3), "keyword": labels[i]}
                for t in range(0, len(ago), step) for i in kw]
    return {
        "data": {"values": rows},
        "mark": "line",
        "height": 260,
        "encoding": {
            "x": {"field": "ago", "type": "quantitative", "title": "seconds ago",
                  "scale": {"domain": [-window_s, 0], "nice": False}},
            "y": {"field": "p", "type": "quantitative", "title": "posterior", "scale": {"domain": [0, 1]}},
            "color": {"field": "keyword", "type": "nominal", "sort": [labels[i] for i in kw]},
        },
    }
