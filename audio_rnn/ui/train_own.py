"""Page 4, Train your own keywords: a few examples per word, a short training run, test and download."""

from __future__ import annotations

import numpy as np
import streamlit as st

from audio_rnn.audio.decode import DEFAULT_SR
from audio_rnn.errors import AudioRnnError
from audio_rnn.ui import models, plots
from audio_rnn.ui.common import decode, listening_caption, md_escape, pick_model, session_dir, user_errors
from audio_rnn.ui.inputs import UPLOAD_TYPES, audio_source

MAX_KEYWORDS = 5
DEFAULT_WORDS = ("", "")


def _recordings(i: int | str) -> list[bytes]:
    return st.session_state.setdefault(f"tr_recs_{i}", [])


def _add_recording(i: int | str) -> None:
    """audio_input callback: keep the recording and clear the widget for the next one."""
    nonce = st.session_state.get(f"tr_nonce_{i}", 0)
    rec = st.session_state.get(f"tr_rec_{i}_{nonce}")
    if rec is not None:
        _recordings(i).append(rec.getvalue())
        st.session_state[f"tr_nonce_{i}"] = nonce + 1


def _audio_inputs(i: int | str, what: str, record: str) -> list[np.ndarray]:
    """Uploads and recordings of `what`, decoded (bad files are reported and skipped)."""
    c1, c2 = st.columns(2)
    with c1:
        ups = st.file_uploader(f"Upload {what}", type=UPLOAD_TYPES, accept_multiple_files=True, key=f"tr_up_{i}")
    with c2:
        nonce = st.session_state.get(f"tr_nonce_{i}", 0)
        st.audio_input(f"Record {record}", key=f"tr_rec_{i}_{nonce}", on_change=_add_recording, args=(i,))
        recs = _recordings(i)
        if recs and st.button(f"Clear {len(recs)} recording(s)", key=f"tr_clear_{i}"):
            recs.clear()
            st.rerun()
    waves, bad = [], []
    for name, data in [(u.name, u.getvalue()) for u in ups or []] + \
                      [(f"recording {k + 1}", d) for k, d in enumerate(_recordings(i))]:
        try:
            waves.append(decode(data, DEFAULT_SR))
        except AudioRnnError as exc:
            bad.append(f"{md_escape(name)}: {md_escape(exc.one_line())}")
    for msg in bad:
        st.error(msg)
    return waves


def _keyword_box(i: int, ft) -> tuple[str, list[np.ndarray]]:
    """One keyword's name and its decoded examples."""
    with st.container(border=True):
        word = st.text_input(f"Keyword {i + 1}", key=f"tr_word_{i}", max_chars=24,
                             placeholder="e.g. lights", help="letters, digits, _ ' or -")
        waves = _audio_inputs(i, f"examples of keyword {i + 1}",
                              f"examples of keyword {i + 1} (one word per recording)")
        need = ft.MIN_EXAMPLES
        ok = len(waves) >= need
        st.caption(f"{':material/check_circle:' if ok else ':material/hourglass_empty:'} {len(waves)} "
                   f"example(s) for this keyword"
                   f"{'' if ok else f' (need at least {need})'}")
    return word, waves


def _channel_box() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Optional recordings through the user's microphone: the room with nobody speaking, and other words."""
    with st.expander("Your microphone (optional): the room, and a few other words"):
        st.caption("A model learns whatever sets your takes apart from its other words, the microphone too. A "
                   "few other words said into the same microphone teach it to reject them, and they join the check "
                   "that sets how sure it must be; a few seconds of your room with nobody speaking count as "
                   "silence. For a wake word, also raise \"Other words to reject\" below.")
        room = _audio_inputs("room", "recordings of your room", "your room, a few seconds, nobody speaking")
        others = _audio_inputs("others", "other words (not keywords)", "another word, not a keyword")
    return room, others


def render() -> None:
    """The Train your own keywords page."""
    st.header("Train your own keywords")
    from audio_rnn.keywords import finetune as ft
    st.caption(f"Record or upload at least {ft.MIN_EXAMPLES} examples of each word: one word is a wake word, "
               "heard against everything else. Silence and unknown words (real people's words from Speech "
               "Commands, and espeak-ng voices) are added automatically. The model must be sure enough to reject "
               "the share of other real words you set below (as it scores words it never trained on), and short "
               "leave-one-take-out runs estimate how many of your words it then finds in other takes; all of it "
               "takes about twice the training budget.")
    n = int(st.number_input("Number of keywords", ft.MIN_WORDS, MAX_KEYWORDS, ft.MIN_WORDS, key="tr_n"))
    examples: dict[str, list[np.ndarray]] = {}
    ready = True
    for i in range(n):
        word, waves = _keyword_box(i, ft)
        if not word.strip() or len(waves) < ft.MIN_EXAMPLES:
            ready = False
        if not word.strip():
            continue
        try:
            label = ft.clean_word(word)
        except AudioRnnError as exc:
            st.error(md_escape(exc.one_line()))
            ready = False
            continue
        if label in examples:
            st.error(md_escape(f"Keyword {label!r} is given twice; each box needs a different word."))
            ready = False
        examples[label] = waves
    room, others = _channel_box()
    base_path = pick_model("tr_base", "Model to fine-tune")
    base, _ = models.try_recognizer(base_path)
    if base is not None:
        st.caption("Starting from: " + listening_caption(base.labels))
    c1, c2 = st.columns(2)
    with c1:
        modes = {"fine-tune the chosen model": "finetune", "train a small new model": "scratch"}
        mode_name = st.radio("Start from", list(modes), index=0 if base is not None else 1, key="tr_mode",
                             disabled=base is None,
                             help=None if base is not None else "the chosen keyword model is not available")
    with c2:
        budget = st.slider("Training time budget (s)", 10, 60, 35, step=5, key="tr_budget",
                           help="for the training loop; making the examples adds a few seconds")
        reject = st.slider("Other words to reject", 0.80, 0.99, ft.FinetuneConfig.reject_aim, step=0.01,
                           key="tr_reject", help="the threshold is calibrated to reject this share of other real "
                                                 "people's words: lower hears more of your words, and lets more "
                                                 "other words through")
    if st.button("Train", type="primary", disabled=not ready, key="tr_train"):
        cfg = ft.FinetuneConfig(mode=modes[mode_name] if base is not None else "scratch", max_minutes=budget / 60,
                                reject_aim=float(reject))
        _train(ft, examples, cfg, base_path, room, others)
    result = st.session_state.get("tr_result")
    if result:
        _results(ft, result)


def _train(ft, examples: dict[str, list[np.ndarray]], cfg, base: str, room: list[np.ndarray],
           others: list[np.ndarray]) -> None:
    runs = int(st.session_state.get("tr_runs", 0)) + 1
    st.session_state["tr_runs"] = runs
    out = session_dir() / "models" / f"run_{runs}"
    bar = st.progress(0.0, text="starting")
    with user_errors("training"):
        res = ft.train(examples, out, cfg, progress=lambda f, msg: bar.progress(min(1.0, max(0.0, f)), text=msg),
                       base=models.model_path(base), room=room, others=others)
        st.session_state["tr_result"] = res.to_dict()
        bar.progress(1.0, text=f"done in {res.seconds:.1f} s")


def _results(ft, r: dict) -> None:
    st.subheader("Your model")
    keywords = [lab for lab in r["labels"] if not lab.startswith("_")]
    c1, c2, c3 = st.columns(3)
    c1.metric("Keywords", ", ".join(keywords))
    st.caption(listening_caption(r["labels"]))
    cal = r.get("calibration")
    if cal:
        c2.metric("Takes it never trained on, right", f"{cal['heldout_takes_right']:.0%}",
                  f"{cal['other_words_rejected']:.0%} of other real words rejected", delta_color="off",
                  delta_arrow="off", help=f"an estimate: {cal['folds']} runs each left one take of every word out "
                                          f"and scored it; this model scored {cal['negatives']} real words it never "
                                          f"trained on. The keyword threshold {cal['threshold']:.2f} was chosen "
                                          f"on those scores")
    else:
        c2.metric("Accuracy on your examples", f"{r['train_accuracy']:.0%}", "not an estimate for other speakers",
                  delta_color="off", delta_arrow="off")
    c3.metric("Training time", f"{r['seconds']:.1f} s", f"{r['epochs']} epochs, {r['mode']}", delta_color="off", delta_arrow="off")
    if r["history"]:
        st.image(plots.training_curve(r["history"]))
    st.download_button("Download model (.zip: model.safetensors + config.json)", ft.zip_checkpoint(r["folder"]),
                       file_name="my_keywords.zip", mime="application/zip", key="tr_download")
    st.code("unzip my_keywords.zip\npython -m audio_rnn classify --model my_keywords/ my_clip.wav", language="bash")
    st.subheader("Test it live")
    clip = audio_source("tr_test", default_sample="")
    if clip is None:
        return
    with user_errors("audio"):
        wave = decode(clip.data, DEFAULT_SR)
        st.audio(clip.data)
        res = models.classify(r["folder"], wave)
        st.metric("Your model hears", res["label"], f"p = {res['score']:.2f}", delta_color="off", delta_arrow="off")
        labels = list(res["probs"])
        st.image(plots.prob_bars(labels, [res["probs"][k] for k in labels]))
