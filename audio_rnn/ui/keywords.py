"""Page 1, Keywords: hear, see and classify a clip; spot words in longer recordings."""

from __future__ import annotations

import numpy as np
import streamlit as st

from audio_rnn.audio.decode import DEFAULT_SR
from audio_rnn.ui import charts, models, plots
from audio_rnn.ui.common import (SAMPLES, SPOT_MAX_SECONDS, VIEW_SECONDS, decode, decode_head, duration,
                                 listening_caption, md_escape, pick_model, sensitivity_slider, too_long, unavailable,
                                 user_errors)
from audio_rnn.ui.inputs import audio_source

LONG_SECONDS = 2.0  # recordings longer than this go through the streaming spotter instead of the clip recognizer


@st.cache_data(max_entries=32, show_spinner=False)
def _frames_png(wave: np.ndarray, sr: int, region: tuple[float, float], win_ms: float, hop_ms: float) -> bytes:
    from audio_rnn.audio.framing import frame

    f = frame(wave, win_ms, hop_ms, sr)
    return plots.waveform_frames(wave, sr, region, f.starts, f.frame_len)


@st.cache_data(max_entries=32, show_spinner=False)
def _overview_png(wave: np.ndarray, sr: int, region: tuple[float, float]) -> bytes:
    return plots.waveform_overview(wave, sr, region)


@st.cache_data(max_entries=32, show_spinner=False)
def _mfcc(wave: np.ndarray, features: dict) -> tuple[np.ndarray, float]:
    """The clip's features exactly as the chosen model reads them (its own FeatureConfig)."""
    from audio_rnn.audio.features import FeatureConfig, compute

    cfg = FeatureConfig.from_dict(features)
    return compute(wave, cfg), cfg.frame_rate


@st.cache_data(max_entries=32, show_spinner=False)
def _mfcc_png(wave: np.ndarray, region: tuple[float, float], features: dict) -> bytes:
    feats, rate = _mfcc(wave, features)
    what = f"{features['n_mfcc']} MFCCs" + (" with deltas and delta-deltas" if features.get("deltas") else "")
    return plots.heatmap(feats, rate, f"The model's input: {what} ({feats.shape[1]} values x {feats.shape[0]} "
                         "frames, normalised; dashed: the zoomed region)", "feature", cmap="magma", span=region)


def loudest_region(wave: np.ndarray, sr: int, width: float) -> tuple[float, float]:
    """A `width`-second window centred on the loudest 10 ms of the clip: where the frames are worth seeing."""
    dur = wave.size / sr
    if dur <= width:
        return 0.0, dur
    hop = sr // 100
    e = np.add.reduceat(np.square(wave[: wave.size // hop * hop]), np.arange(0, wave.size // hop * hop, hop))
    centre = (int(np.argmax(e)) + 0.5) * hop / sr if e.size else dur / 2
    t0 = min(max(0.0, centre - width / 2), dur - width)
    return round(t0, 3), round(t0 + width, 3)


def render() -> None:
    """The Keywords page."""
    st.header("Keywords")
    st.caption("A recurrent network reads MFCC frames (25 ms every 10 ms) and names the word: "
               "one of its keywords, silence, or unknown.")
    path = pick_model("kw_model")
    rec, _ = models.try_recognizer(path)
    if rec is not None:
        st.caption(listening_caption(rec.labels))
    clip = audio_source("kw")
    if clip is None:
        st.info("Pick a sample, upload a file or record a word.")
        return
    with user_errors("audio"):
        seconds = duration(clip.data, clip.name)
        if seconds > SPOT_MAX_SECONDS:
            raise too_long(clip.name, seconds, SPOT_MAX_SECONDS, "trim it, or spot keywords in the whole file "
                           "on the command line: `audio-rnn spot FILE` (no length limit)")
        if seconds <= VIEW_SECONDS:  # also when the header does not say: decoding is bounded by the page's limit
            wave = decode(clip.data, DEFAULT_SR, clip.name, SPOT_MAX_SECONDS)
            seconds = wave.size / DEFAULT_SR
            wave = wave[: int(VIEW_SECONDS * DEFAULT_SR)]
        else:
            wave = decode_head(clip.data, DEFAULT_SR, clip.name, VIEW_SECONDS)
        st.session_state["current_clip"] = clip  # the Inside the RNN page looks at the same audio
        _show(clip, wave, seconds, path)


def _show(clip, wave: np.ndarray, dur: float, path: str | None) -> None:
    """A clip: its prediction and running belief; a longer recording: the spotter's timeline. Then the front-end."""
    name, sr = clip.name, DEFAULT_SR
    st.audio(clip.data)
    st.caption(f"{md_escape(name)}: {dur:.2f} s at {sr} Hz after decoding (mono)")

    rec, why = models.try_recognizer(path)
    if dur > LONG_SECONDS:
        _spotter(rec, path, clip, dur)
    else:
        _prediction(rec, why, path, wave)
    if rec is not None:
        _evidence(rec)
    if wave.size < dur * sr - 1:
        st.caption(f"The waveform and MFCC views show the first {wave.size / sr / 60:g} minutes.")
    _front_end(rec, name, wave, sr)


def _evidence(rec) -> None:
    """What the model's report measured on people it never trained on: per word, the confusions, the threshold
    trade-off (shipped models); the leave-one-take-out estimate (a model trained on the Train page)."""
    import json
    from pathlib import Path

    folder = Path(rec.path) if Path(rec.path).is_dir() else Path(rec.path).parent
    report = folder / "report.json"
    real = json.loads(report.read_text()).get("conditions", {}).get("real_speech_commands_val") \
        if report.is_file() else None
    cal = (rec.config.get("finetune") or {}).get("calibration")
    if not real and not cal:
        return
    with st.expander("How well this model hears people it never heard"):
        if cal:
            st.write(f"Estimated leaving one take out ({cal['folds']} runs): {cal['heldout_takes_right']:.0%} of "
                     f"takes it did not train on named right; {cal['other_words_rejected']:.0%} of "
                     f"{cal['negatives']} other real words it never trained on rejected, at threshold "
                     f"{cal['threshold']:.2f}.")
        if not real:
            return
        st.write(f"{real['n']} clips by {real['speakers']} Speech Commands speakers held out of training "
                 f"(they chose the training epochs, so the figures are a little optimistic): "
                 f"{real['accuracy']:.1%} right.")
        origins = real.get("by_origin") or {}
        if origins:
            st.write("By recording pipeline: " + "; ".join(
                f"{o} ({r['speakers']} speakers, {r['n']} clips) {r['accuracy']:.1%} right"
                + (f", keywords {r['keyword_accuracy']:.1%}" if r.get("keyword_accuracy") is not None else "")
                + (f", other words rejected {r['unknown_rejected']:.1%}" if r.get("unknown_rejected") is not None
                   else "") for o, r in origins.items()) + ".")
        st.table([{"word": k, "recall": f"{v:.0%}"} for k, v in real["per_class_recall"].items()])
        if (folder / "confusion_real.png").is_file():
            st.image(str(folder / "confusion_real.png"), caption="Confusions on the held-out speakers")
        sweep = real.get("threshold_sweep") or []
        if sweep:
            st.write("The keyword threshold trades keywords for rejection (the model uses "
                     f"{real.get('keyword_threshold', 0):g}):")
            st.table([{"threshold": r["threshold"], "keywords right": f"{r['keyword_accuracy']:.1%}",
                       "other words rejected": f"{r['unknown_rejected']:.1%}", "all clips": f"{r['accuracy']:.1%}"}
                      for r in sweep])


def _prediction(rec, why: str, path: str | None, wave: np.ndarray) -> None:
    """The clip recognizer's one word with its probabilities, and its running belief frame by frame."""
    left, right = st.columns([2, 3])
    with left:
        st.subheader("Prediction")
        if rec is None:
            unavailable("The keyword model", why)
        else:
            res = models.classify(path, wave)
            st.metric("Predicted keyword", res["label"], f"p = {res['score']:.2f}", delta_color="off", delta_arrow="off")
            labels = list(res["probs"])
            st.image(plots.prob_bars(labels, [res["probs"][k] for k in labels]))
    with right:
        st.subheader("Running belief")
        if rec is not None:
            post, ends = models.posteriors(path, wave)
            st.image(plots.curves(post, rec.features.frame_rate, rec.labels,
                                  "the window the model hears, frame by frame: the prediction if it ended here "
                                  "(its last frame is the prediction)", "probability", times=ends))


def _front_end(rec, name: str, wave: np.ndarray, sr: int) -> None:
    """The waveform with its analysis frames in a zoomable region, and the MFCC features."""
    dur = wave.size / sr
    st.subheader("Waveform and frames")
    width = st.select_slider("Zoom width (s)", options=[0.05, 0.1, 0.2, 0.5, 1.0, 2.0], value=0.1, key="kw_zoom")
    width = min(width, dur)
    t0d, _ = loudest_region(wave, sr, width)
    start = st.slider("Region start (s)", 0.0, max(0.0, round(dur - width, 3)), float(t0d), step=0.005,
                      key=f"kw_start_{name}_{width}") if dur > width else 0.0
    region = (start, start + width)
    st.image(_overview_png(wave, sr, region))
    feats = rec.features if rec is not None else None
    st.image(_frames_png(wave, sr, region, feats.win_ms if feats else 25.0, feats.hop_ms if feats else 10.0))
    st.subheader("MFCC features")
    from audio_rnn.audio.feature_config import FeatureConfig

    st.image(_mfcc_png(wave, region, (feats or FeatureConfig()).to_dict()))


def reference_words(name: str) -> list[dict]:
    """Known word times of a bundled sample (samples/<name>.txt: start, end, label per line), if any."""
    txt = (SAMPLES / name).with_suffix(".txt")
    if not txt.resolve().is_relative_to(SAMPLES.resolve()) or not txt.is_file():
        return []
    rows = [line.split("\t") for line in txt.read_text().splitlines() if line.strip()]
    return [{"label": r[2], "start": float(r[0]), "end": float(r[1])} for r in rows if len(r) == 3]


def _spotter(rec, path: str | None, clip, dur: float) -> None:
    """The streaming spotter over the whole recording, read in blocks with a progress bar; an interactive timeline."""
    st.subheader("Keyword spotting over time")
    if rec is None:
        unavailable("The streaming spotter", "it needs the keyword model")
        return
    bar = st.progress(0.0, text=f"Spotting keywords in {dur / 60:.1f} min of audio...")
    times, probs, labels = models.spot_blocks(
        path, clip.data, clip.name, dur, lambda f: bar.progress(f, text=f"Spotting keywords: {f:.0%} heard"))
    bar.empty()
    sp = sensitivity_slider(models.spotter(path), "kw_sensitivity")
    dets = [d.to_dict() for d in sp.detect((times, probs))]
    st.caption(f"Listening: {sp.describe()}. {len(dets)} keyword"
               f"{'' if len(dets) == 1 else 's'} detected in {dur / 60:.1f} min.")
    truth = reference_words(clip.name) if clip.source == "sample" else []
    st.altair_chart(charts.timeline(dur, dets, truth, times, probs, labels), width="stretch")
    rows = [{"keyword": d["label"], "start (s)": d["start"], "end (s)": d["end"], "score": round(d["score"], 3)}
            for d in dets]
    if not rows:
        st.write("No keyword detected.")
    elif len(rows) <= 30:
        st.table(rows)
    else:  # a long list scrolls
        st.dataframe(rows, hide_index=True)
