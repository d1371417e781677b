"""Listen live page: the browser's microphone streams over WebRTC to the spotter (the same runner as for files).

Wiring only: `streamlit-webrtc` receives the audio (SENDONLY, a no-drop sink
callback on aiortc's loop) and pushes each frame into this browser session's
`ui.listen_session.ListenSession`. Two fragments redraw only what they
hold from its snapshot: the level, pending word and word list several times a
second, the posterior chart once a second; the rest of the page stays put.
"""

from __future__ import annotations

import streamlit as st

from audio_rnn.ui import charts
from audio_rnn.ui.common import listening_caption, md_escape, pick_model, sensitivity_slider, unavailable

REFRESH_S = 0.1  # the word list's refresh while listening: detections show within this of being decided
CHART_S = 1.0  # the posterior chart's refresh (a chart costs the server and the browser most)
IDLE_STOP_S = 3.0  # no audio for this long and the stream is not playing: the session is over
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
    from audio_rnn.ui.listen_session import ListenSession

    want = (model, spotter.config)
    held = st.session_state.get("live_session")
    if held is None or held[0] != want:
        if held is not None:
            held[1].stop()
        held = (want, ListenSession(spotter))
        st.session_state["live_session"] = held
    return held[1]


def _words_md(words: list[dict]) -> str:
    """The words heard, newest first; with more than one take (Start .. Stop), which take each came from."""
    if not words:
        return "_No keywords yet: say one._"
    takes = len({w.get("take", 1) for w in words}) > 1
    rows = ["| # | word | at (s) | score |" + (" take |" if takes else ""),
            "|---:|---|---:|---:|" + ("---:|" if takes else "")]
    for i, w in enumerate(words):
        rows.append(f"| {len(words) - i} | **{md_escape(w['label'])}** | {w['start']:.2f}-{w['end']:.2f} | "
                    f"{w['score']:.2f} |" + (f" {w.get('take', 1)} |" if takes else ""))
    return "\n".join(rows)


def _status(snap: dict) -> str:
    """Level and time heard, and whether the server keeps up (how far behind, audio it could not take)."""
    text = f"Level {snap['level_db']:.0f} dBFS · heard {snap['heard_s']:.1f} s"
    if snap.get("behind_s", 0) >= 0.5:
        text += f" · behind by {snap['behind_s']:.1f} s (the server is busy; catching up)"
    if snap.get("dropped_s", 0) > 0:
        text += f" · {snap['dropped_s']:.1f} s of audio dropped: the server could not keep up"
    return text


def _draw_words(snap: dict, playing: bool) -> None:
    """The level meter with the keep-up status, the word being heard, and the words so far."""
    db = snap["level_db"]
    idle = "Connecting: speak once this meter moves" if playing else "Not listening"
    st.progress(min(1.0, max(0.0, (db + 70) / 70)), text=_status(snap) if snap["active"] else idle)
    p = snap["pending"]
    st.markdown(f"Hearing **{md_escape(p['label'])}** ({p['score']:.2f})…" if p else "&nbsp;")
    st.markdown(_words_md(snap["words"]))


def _draw_chart(snap: dict) -> None:
    if snap["active"]:
        st.vega_lite_chart(charts.live_posteriors(snap["times"], snap["probs"], snap["labels"], WINDOW_S),
                           width="stretch")
    else:
        st.caption("The chart shows the last 5 s while listening.")


def _live_view(session, playing: bool) -> None:
    """Words and chart; while playing each part is a fragment that reruns on its own timer."""
    words_every, chart_every = (REFRESH_S, CHART_S) if playing else (None, None)
    left, right = st.columns([3, 2])

    @st.fragment(run_every=words_every)
    def words() -> None:
        _draw_words(session.snapshot(0.0), playing)

    @st.fragment(run_every=chart_every)
    def chart() -> None:
        _draw_chart(session.snapshot(WINDOW_S))

    with right:
        st.subheader("Heard, newest first")
        if st.button("Clear", key="live_clear", help="forget the words listed so far"):
            session.clear()
        with st.container(key="live_words"):
            words()
    with left:
        st.subheader("Keyword posteriors, last 5 s")
        chart()


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
    playing = bool(ctx.state.playing)
    if not playing and session.active and session.idle_s() > IDLE_STOP_S:
        session.stop()  # the track ended without telling us (on_ended stops it otherwise)
    _live_view(session, playing)
