"""Listen live page: the browser's microphone streams over WebRTC to the spotter (the same runner as for files).

Wiring only: `streamlit-webrtc` receives the audio (SENDONLY, a no-drop sink
callback on aiortc's loop) and pushes each frame into this browser session's
`spotting.listen_session.ListenSession`; a refresh loop draws its snapshot.
"""

from __future__ import annotations

import time

import streamlit as st

from audio_rnn.ui import charts
from audio_rnn.ui.common import listening_caption, md_escape, pick_model, sensitivity_slider, unavailable

REFRESH_S = 0.1  # page refresh while listening: detections show within this of being decided
CHART_EVERY = 5  # redraw the posterior chart every this many refreshes (the chart costs the browser most)
WINDOW_S = 5.0
CONSTRAINTS = {"audio": {"autoGainControl": False, "echoCancellation": False, "noiseSuppression": False},
               "video": False}  # the browser's processing distorts and clips what the model hears


@st.cache_resource(max_entries=4, show_spinner=False)
def _spotter(model: str):
    """One loaded spotter per model, shared by every session (it holds no stream state)."""
    from audio_rnn.spotting.network import spotter_path
    from audio_rnn.spotting.streaming import Spotter

    return Spotter(str(spotter_path(model)))


def ice_servers() -> list[dict]:
    """STUN/TURN servers for WebRTC: $AUDIO_RNN_ICE_SERVERS (JSON list), else `ice_servers` in Streamlit's
    secrets, else none (enough on localhost)."""
    import json
    import os

    raw = os.environ.get("AUDIO_RNN_ICE_SERVERS")
    if raw:
        return list(json.loads(raw))
    try:
        return [dict(s) for s in st.secrets.get("ice_servers", [])]
    except Exception:  # no secrets file: Streamlit raises when it finds none
        return []


def _session(model: str, spotter):
    """This browser session's live stream for `model` at the spotter's settings (a new one when they change)."""
    from audio_rnn.spotting.listen_session import ListenSession

    want = (model, spotter.config)
    held = st.session_state.get("live_session")
    if held is None or held[0] != want:
        if held is not None:
            held[1].stop()
        held = (want, ListenSession(spotter))
        st.session_state["live_session"] = held
    return held[1]


def _words_md(words: list[dict]) -> str:
    if not words:
        return "_No keywords yet: say one._"
    rows = ["| # | word | at (s) | score |", "|---:|---|---:|---:|"]
    for i, w in enumerate(words):
        rows.append(f"| {len(words) - i} | **{md_escape(w['label'])}** | {w['start']:.2f}-{w['end']:.2f} | "
                    f"{w['score']:.2f} |")
    return "\n".join(rows)


def _status(snap: dict) -> str:
    """Level and time heard, and whether the server keeps up (how far behind, audio it could not take)."""
    text = f"Level {snap['level_db']:.0f} dBFS · heard {snap['heard_s']:.1f} s"
    if snap.get("behind_s", 0) >= 0.5:
        text += f" · behind by {snap['behind_s']:.1f} s (the server is busy; catching up)"
    if snap.get("dropped_s", 0) > 0:
        text += f" · {snap['dropped_s']:.1f} s of audio dropped: the server could not keep up"
    return text


def _draw(snap: dict, level, pending, words, chart, draw_chart: bool) -> None:
    db = snap["level_db"]
    level.progress(min(1.0, max(0.0, (db + 70) / 70)),
                   text=_status(snap) if snap["active"] else "Not listening")
    p = snap["pending"]
    pending.markdown(f"Hearing **{md_escape(p['label'])}** ({p['score']:.2f})…" if p else "&nbsp;")
    words.markdown(_words_md(snap["words"]))
    if draw_chart and snap["active"]:
        chart.altair_chart(charts.live_posteriors(snap["times"], snap["probs"], snap["labels"], WINDOW_S),
                           width="stretch")


def render() -> None:
    st.title("Listen live")
    st.caption("Press Start and speak: the spotter hears your microphone as it arrives and lists each keyword "
               "as soon as it decides.")
    try:
        from streamlit_webrtc import WebRtcMode, create_audio_sink_track, webrtc_streamer
    except ImportError as exc:
        unavailable("Listening live", f"streamlit-webrtc is not installed ({exc}); pip install -r requirements.txt")
        return
    model = pick_model("live_model", "Spotter")
    from audio_rnn.errors import AudioRnnError

    try:
        session = _session(model, sensitivity_slider(_spotter(model), "live_sensitivity"))
    except AudioRnnError as exc:
        unavailable("Listening live with this model", exc.one_line())
        return
    how = session.spotter.describe()
    st.caption(f"{listening_caption(session.labels)} {how[:1].upper()}{how[1:]}.")

    def on_frame(frame) -> None:  # aiortc's loop: 48 kHz interleaved int16, 20 ms per frame
        session.push(frame.to_ndarray(), frame.sample_rate, len(frame.layout.channels))

    ctx = webrtc_streamer(
        key="listen", mode=WebRtcMode.SENDONLY, rtc_configuration={"iceServers": ice_servers()},
        media_stream_constraints=CONSTRAINTS,
        sink_audio_track=create_audio_sink_track(on_frame, key="listen-sink", on_ended=session.stop))
    level, pending = st.empty(), st.empty()
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Keyword posteriors, last 5 s")
        chart = st.empty()
    with right:
        st.subheader("Heard, newest first")
        words = st.container(key="live_words").empty()
    if not ctx.state.playing:
        if session.active:
            session.stop()
        _draw(session.snapshot(WINDOW_S), level, pending, words, chart, False)
        return
    turn = 0
    while ctx.state.playing:  # touches elements every turn: a silent loop is torn down as a stale context
        _draw(session.snapshot(WINDOW_S), level, pending, words, chart, turn % CHART_EVERY == 0)
        turn += 1
        time.sleep(REFRESH_S)
    session.stop()
