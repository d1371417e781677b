"""Page 2, Sequence generator: sample ABC tunes (or text) from a character RNN, see and hear them.

The engraved score is verovio's SVG shown through `st.image` (an <img> data URI:
no script runs and no user text becomes HTML); ABC and primers are shown as code.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import streamlit as st

from audio_rnn.music.settings import DEFAULTS
from audio_rnn.ui import models
from audio_rnn.ui.common import md_escape, unavailable, user_errors

DEFAULT_PRIMER = "M:6/8\nK:D\n"


def charlm_models() -> dict[str, str]:
    """Character models by display name -> folder: $AUDIO_RNN_GEN_MODEL, then the shipped ones, music first."""
    import os

    from audio_rnn.training.checkpoint import PRETRAINED, load_config
    from audio_rnn.training.registry import SHIPPED

    env = SHIPPED["abc"].env or ""  # optional: a character checkpoint offered before the shipped ones
    found: dict[str, str] = {}
    extra = [Path(os.environ[env])] if os.environ.get(env) else []
    for folder in extra + sorted(PRETRAINED.glob("*")):
        try:
            cfg = load_config(folder, "charlm")
        except Exception:  # not a character model (or not a model): not offered
            continue
        source = (cfg.get("corpus") or {}).get("source")
        name = "Music (ABC)" if source == "abc" else f"Text ({folder.name})"
        found.setdefault(name, str(folder))
    return dict(sorted(found.items(), key=lambda kv: not kv[0].startswith("Music")))


@st.cache_resource(show_spinner="Loading the character model...", max_entries=4)
def _generator(path: str):
    from audio_rnn.music.generate import Generator

    return Generator(path, threads=1)


MAX_TUNES = 6


@st.cache_data(max_entries=64, show_spinner="Sampling...")
def _generate(path: str, temperature: float, top_k: int, top_p: float, length: int, primer: str, seed: int,
              retries: int, n: int = 1) -> list[dict[str, Any]]:
    """n tunes sampled as one batch (the CLI's `generate --n`), each checked and resampled when invalid."""
    gen = _generator(path)
    out = gen.generate(n=n, temperature=temperature, top_k=top_k, top_p=top_p, primer=primer or None,
                       length=length, seed=seed, until_valid=retries, meter_guard=DEFAULTS.guard)
    return [{**g.to_dict(), "is_abc": gen.is_abc} for g in out]


def svg_pages(svg: str) -> list[str]:
    """Split verovio's concatenated pages into standalone SVG documents (nested <svg> elements kept)."""
    pages, depth, start = [], 0, None
    for m in re.finditer(r"<svg\b|</svg\s*>", svg):
        if m.group(0).startswith("<svg"):
            if depth == 0:
                start = m.start()
            depth += 1
        else:
            depth -= 1
            if depth == 0 and start is not None:
                pages.append(svg[start:m.end()])
                start = None
    return pages


# verovio's ABC reader can abort the whole process on odd input (an uncaught C++ exception), which would
# take the server down with it; the engraver therefore runs in a short-lived child process.
ENGRAVE = "import sys; from audio_rnn.music.render import render_svg; sys.stdout.write(render_svg(sys.stdin.read()))"


@st.cache_data(max_entries=32, show_spinner="Engraving the score...")
def _score(abc: str, timeout: float = 60.0) -> list[str]:
    """verovio SVG pages for a tune, engraved in a child process (a crash there is only an error here)."""
    try:
        proc = subprocess.run([sys.executable, "-c", ENGRAVE], input=abc.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the score engraver took longer than {timeout:.0f} s") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        why = lines[-1][:200] if lines else f"exit status {proc.returncode}"
        raise RuntimeError(f"the score engraver (verovio) failed on this tune: {why}")
    return svg_pages(proc.stdout.decode("utf-8"))


@st.cache_data(max_entries=32, show_spinner="Rendering audio...")
def _wav(abc: str) -> bytes:
    from audio_rnn.music.render import abc_to_wav

    return abc_to_wav(abc)


@st.cache_data(max_entries=32, show_spinner=False)
def _midi(abc: str) -> bytes:
    from audio_rnn.music.render import abc_to_midi

    return abc_to_midi(abc)


def _try(what: str, fn, arg, failed: list[str] | None = None):
    """Run a renderer; a tune music21/verovio cannot handle gets a warning (and a line in `failed`), not a traceback."""
    try:
        return fn(arg)
    except Exception as exc:  # music21 and verovio raise many types on odd ABC
        why = f"could not {what}: {type(exc).__name__}: {str(exc)[:200]}"
        st.warning(md_escape(why[0].upper() + why[1:]))
        if failed is not None:
            failed.append(why)
        return None


def render() -> None:
    """The Sequence generator page."""
    st.header("Sequence generator")
    st.caption("A character-level recurrent network writes a tune in ABC notation one character at a time.")
    choices = charlm_models()
    if not choices:
        unavailable("The generator", "no character model is in audio_rnn/pretrained/ (nor in $AUDIO_RNN_GEN_MODEL)")
        return
    with st.form("gen_form"):
        c1, c2, c3 = st.columns(3)
        with c1:
            name = st.selectbox("Model", list(choices), key="gen_model")
            temperature = st.slider("Temperature", 0.1, 1.5, DEFAULTS.temperature, step=0.05, key="gen_temp",
                                    help="lower: safer, more repetitive; higher: more surprising")
            n = int(st.number_input("Tunes", 1, MAX_TUNES, 1, key="gen_n", help="sampled together, one tab each"))
        with c2:
            top_k = st.slider("Top-k (0 = off)", 0, 40, DEFAULTS.top_k, key="gen_topk")
            top_p = st.slider("Top-p (1 = off)", 0.5, 1.0, DEFAULTS.top_p, step=0.05, key="gen_topp",
                              help="sample among the likeliest characters that hold this share of the probability")
            length = st.slider("Maximum length (characters)", 100, 3000, DEFAULTS.length, step=50, key="gen_len")
        with c3:
            seed = int(st.number_input("Seed", 0, 2**31 - 1, 0, key="gen_seed"))
            retries = st.slider("Resample invalid tunes (tries)", 0, 8, DEFAULTS.until_valid, key="gen_retries",
                                help="an invalid tune is sampled again with a new seed, up to this many times")
        primer = st.text_area("Primer (ABC header fields or the start of a tune)", DEFAULT_PRIMER, height=90,
                              max_chars=2000, key="gen_primer")
        go = st.form_submit_button("Generate", type="primary")
    if go:
        with user_errors("generation"):
            st.session_state["gen_result"] = _generate(choices[name], float(temperature), int(top_k), float(top_p),
                                                       int(length), primer, seed, int(retries), n)
    results = st.session_state.get("gen_result")
    if results and len(results) == 1:
        _show(results[0], 0)
    elif results:
        for k, (tab, g) in enumerate(zip(st.tabs([f"Tune {k + 1}" for k in range(len(results))]), results)):
            with tab:
                _show(g, k)


def _title(text: str) -> str:
    """The tune's title as a file name ("tune" when it has none)."""
    m = re.search(r"(?m)^T:(.*)$", text)
    name = re.sub(r"[^A-Za-z0-9]+", "_", m.group(1)).strip("_")[:40] if m else ""
    return name or "tune"


def _show(g: dict[str, Any], k: int = 0) -> None:
    """One result: the ABC, score and player; the valid badge only once the tune has rendered to audio and MIDI."""
    text = g["text"]
    if g.get("unknown_chars"):
        st.warning(md_escape("The primer has characters the model has never seen (treated as unknown): "
                             + ", ".join(repr(c) for c in g["unknown_chars"])))
    if not g.get("is_abc", True):
        st.code(text, language=None, wrap_lines=True)
        st.download_button("Download .txt", text.encode(), "generated.txt", "text/plain", key=f"gen_dl_txt{k}")
        return
    tries = f" (after {g['attempts']} tries)" if g.get("attempts", 1) > 1 else ""
    badge = st.empty()  # filled once we know whether the tune renders: no valid badge without a player
    left, right = st.columns([2, 3])
    with left:
        st.subheader("ABC")
        st.code(text, language=None, wrap_lines=True)
    failed: list[str] = []
    with right:
        st.subheader("Score")
        pages = _try("engrave the score", _score, text)
        for svg in pages or []:
            st.image(svg, width="stretch")
        wav = _try("render audio", _wav, text, failed)
        if wav:
            st.audio(wav, format="audio/wav")
    midi = _try("write MIDI", _midi, text, failed)
    with badge.container():
        if g["valid"] and wav and midi:
            st.success(f"Valid tune{tries}: headers present, at least 8 full bars and a proper ending, repeats well "
                       "formed, music21 parses it and plays it, every bar fits the meter.",
                       icon=":material/check_circle:")
        elif g["valid"]:
            st.warning(md_escape(f"Not playable{tries}: the checks passed but rendering failed: " + "; ".join(failed)),
                       icon=":material/warning:")
        else:
            st.warning(md_escape(f"Invalid tune{tries}: " + "; ".join(g["reasons"])), icon=":material/warning:")
    stem = _title(text)
    c1, c2, c3, c4 = st.columns(4)
    c1.download_button("Download .abc", text.encode(), f"{stem}.abc", "text/vnd.abc", key=f"gen_dl_abc{k}")
    if midi:
        c2.download_button("Download .mid", midi, f"{stem}.mid", "audio/midi", key=f"gen_dl_mid{k}")
    if wav:
        c3.download_button("Download .wav", wav, f"{stem}.wav", "audio/wav", key=f"gen_dl_wav{k}")
    for p, svg in enumerate(pages or []):
        label, name = ("Download .svg", f"{stem}.svg") if len(pages) == 1 else \
            (f"Download .svg (page {p + 1})", f"{stem}_{p + 1}.svg")
        c4.download_button(label, svg.encode("utf-8"), name, "image/svg+xml", key=f"gen_dl_svg{k}_{p}")
