"""The Streamlit app's pages, driven headless with streamlit.testing.v1.AppTest (real models, real files)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
TIMEOUT = 120  # the first run imports torch and loads models; the machine may be busy


def page(name: str) -> AppTest:
    """One page of the app as its own script (the same function app.py registers with st.navigation)."""
    return AppTest.from_string(f"from audio_rnn.ui.{name} import render\nrender()", default_timeout=TIMEOUT)


def wav_bytes(x: np.ndarray, sr: int = 16000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def errors(at: AppTest) -> list[str]:
    """Error texts as the user reads them (user text in them is markdown-escaped)."""
    return [e.value.replace("\\", "") for e in at.error]


def no_crash(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def kws_shipped() -> bool:
    """The shipped keyword model is there (or $AUDIO_RNN_KWS_MODEL names another one)."""
    import os

    from audio_rnn.training.checkpoint import pretrained_path

    return bool(os.environ.get("AUDIO_RNN_KWS_MODEL")) or (pretrained_path("digits") / "model.safetensors").is_file()


needs_kws = pytest.mark.skipif(not kws_shipped(), reason="the shipped keyword model (issue 3) has not landed yet")


# ----------------------------------------------------------------------------- the whole app


def test_app_opens_on_keywords_page_with_a_sample():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    no_crash(at)
    assert [h.value for h in at.header] == ["Keywords"]
    assert at.selectbox(key="kw_sample").value == "digits/seven.wav"
    assert not errors(at)
    assert len(at.get("image")) >= 3  # overview, frame grid, MFCC heatmap (+ model plots when shipped)
    assert len(at.get("audio")) == 1


# ----------------------------------------------------------------------------- page 1: keywords


def test_keywords_front_end_shows_frames_and_mfcc_for_every_sample():
    at = page("keywords").run()
    no_crash(at)
    names = at.selectbox(key="kw_sample").options
    assert "digits/seven.wav" in names and "long/three_words.wav" in names
    at.selectbox(key="kw_sample").set_value("digits/three.wav").run()
    no_crash(at)
    assert "digits/three.wav" in " ".join(c.value for c in at.caption)
    # zoom: a 0.05 s region, which the region slider moves across the whole clip
    wave, sr = sf.read(ROOT / "samples" / "digits" / "three.wav", dtype="float32")
    at.select_slider(key="kw_zoom").set_value(0.05).run()
    no_crash(at)
    (start,) = [s for s in at.slider if s.key.startswith("kw_start_")]
    assert start.key.endswith("_0.05") and start.max == pytest.approx(len(wave) / sr - 0.05, abs=1e-3)
    start.set_value(0.2).run()
    no_crash(at)
    (start,) = [s for s in at.slider if s.key.startswith("kw_start_")]
    assert start.value == pytest.approx(0.2)
    assert len(at.get("image")) >= 3 and not errors(at)  # overview, the region's frames, MFCCs


def test_keywords_bad_upload_is_one_clear_error_not_a_traceback():
    at = page("keywords").run()
    at.radio(key="kw_source").set_value("Upload").run()
    at.file_uploader(key="kw_upload").set_value(("notes.wav", b"this is not audio at all" * 10, "audio/wav")).run()
    no_crash(at)
    errs = errors(at)
    assert len(errs) == 1 and "Error: " in errs[0], errs
    # an empty file, and a WAV with NaN samples
    at.file_uploader(key="kw_upload").set_value(("empty.wav", b"", "audio/wav")).run()
    no_crash(at)
    buf = io.BytesIO()
    sf.write(buf, np.full(1600, np.nan, np.float32), 16000, format="WAV", subtype="FLOAT")
    at.file_uploader(key="kw_upload").set_value(("nan.wav", buf.getvalue(), "audio/wav")).run()
    no_crash(at)
    assert any("NaN" in e for e in errors(at)), errors(at)
    # a file name is user text: shown, but never as a link, emphasis or HTML
    name = "[x](http://evil.example) **b** <i>y</i>.wav"
    at.file_uploader(key="kw_upload").set_value((name, (SAMPLES / "digits" / "two.wav").read_bytes(), "audio/wav"))
    at.run()
    no_crash(at)
    shown = " ".join(c.value for c in at.caption)
    assert "\\[x\\]\\(http" in shown and "\\*\\*b\\*\\*" in shown and "\\<i\\>" in shown, shown


@needs_kws
def test_keywords_sample_upload_and_recording_are_classified():
    at = page("keywords").run()
    no_crash(at)
    assert at.metric[0].value == "seven"
    # upload the same word as a 44.1 kHz FLAC
    import soxr

    x, sr = sf.read(SAMPLES / "digits" / "three.wav", dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, soxr.resample(x, sr, 44100), 44100, format="FLAC")
    at.radio(key="kw_source").set_value("Upload").run()
    at.file_uploader(key="kw_upload").set_value(("three.flac", buf.getvalue(), "audio/flac")).run()
    no_crash(at)
    assert at.metric[0].value == "three"
    at.radio(key="kw_source").set_value("Record").run()
    at.audio_input(key="kw_record").set_value(("recording.wav", (SAMPLES / "digits" / "five.wav").read_bytes(),
                                               "audio/wav")).run()
    no_crash(at)
    assert at.metric[0].value == "five"


@needs_kws
def test_keywords_long_recording_shows_spotter_detections():
    at = page("keywords").run()
    at.selectbox(key="kw_sample").set_value("long/three_words.wav").run()
    no_crash(at)
    assert "Keyword spotting over time" in [s.value for s in at.subheader]
    truth = [line.split("\t")[2] for line in (SAMPLES / "long" / "three_words.txt").read_text().splitlines()]
    tables = at.table
    assert tables, "no detection table"
    found = list(tables[0].value["keyword"])
    assert found == truth, found


# ----------------------------------------------------------------------------- page 3: inside the RNN


def test_inside_gradient_flow_sliders_change_the_picture():
    at = page("inside").run()
    no_crash(at)
    at.slider(key="gf_T").set_value(60).run()
    at.slider(key="gf_radius").set_value(0.5).run()
    no_crash(at)
    rows = at.table[-1].value
    rnn_small = float(rows[rows["cell"] == "RNN"]["factor per step"].iloc[0])
    at.slider(key="gf_radius").set_value(1.8).run()
    rows = at.table[-1].value
    rnn_big = float(rows[rows["cell"] == "RNN"]["factor per step"].iloc[0])
    assert rnn_small < 1.0 < rnn_big  # vanishing below radius 1, exploding above
    assert len(at.get("image")) >= 1 and not errors(at)


@needs_kws
def test_inside_shows_hidden_state_and_gate_heatmaps():
    at = page("inside").run()
    no_crash(at)
    from audio_rnn.keywords.recognize import Recognizer
    from audio_rnn.ui.models import model_path

    cell = Recognizer(model_path()).model.dims.cell
    gates = {"rnn": 0, "lstm": 4, "gru": 3}[cell]
    # hidden (+ cell state for LSTM) + one per gate, plus the gradient-flow plot on the other tab
    assert len(at.get("image")) >= 1 + gates + 1
    assert any("max |numpy - torch|" in c.value for c in at.caption)


def test_pages_let_the_user_pick_digits_commands_or_their_own_model():
    """Keywords, Inside the RNN and Train your own each pick Digits, Commands or the model trained on page 4,
    and say which vocabulary listens."""
    at = page("keywords").run()
    no_crash(at)
    assert at.radio(key="kw_model").options == ["Digits", "Commands"]
    assert any("zero, one, two" in c.value for c in at.caption)
    at.radio(key="kw_model").set_value("commands")
    at.selectbox(key="kw_sample").set_value("commands/yes.wav").run()
    no_crash(at)
    assert any("yes, no, up, down, left, right, on, off, stop, go" in c.value for c in at.caption)
    assert at.metric[0].value == "yes"
    at.session_state["tr_result"] = {"folder": str(ROOT / "audio_rnn" / "pretrained" / "digits"),
                                     "labels": ["zero", "one", "two", "three", "four", "five", "six", "seven",
                                                "eight", "nine", "_silence_", "_unknown_"]}
    at.run()
    assert at.radio(key="kw_model").options[-1].startswith("Your model (zero, one")
    inside = page("inside").run()
    no_crash(inside)
    inside.radio(key="in_model").set_value("commands").run()
    no_crash(inside)
    assert any("yes, no, up" in c.value for c in inside.caption)
    train = page("train_own").run()
    no_crash(train)
    assert train.radio(key="tr_base").options == ["Digits", "Commands"]
    train.radio(key="tr_base").set_value("commands").run()
    assert any(c.value.startswith("Starting from: Listening for 10 keywords: yes") for c in train.caption)


# ----------------------------------------------------------------------------- page 4: train your own keywords


def _speak_wav(word: str, variant: str, speed: int, pitch: int) -> bytes:
    from audio_rnn.keywords.synth_speech import SynthItem, render

    return wav_bytes(render(SynthItem("x.wav", word, word, "en-us", variant, speed, pitch, "train")))


def test_train_page_trains_tests_and_offers_the_download():
    voices = [("", 150, 50), ("m1", 170, 40), ("f1", 140, 60), ("m3", 160, 35), ("f2", 180, 70)]
    clips = {w: [(f"{w}_{k}.wav", _speak_wav(w, *v), "audio/wav") for k, v in enumerate(voices)]
             for w in ("lights", "music")}
    at = page("train_own").run()
    no_crash(at)
    assert at.button(key="tr_train").disabled
    assert at.number_input(key="tr_n").value == 1  # one wake word is enough; two here
    at.number_input(key="tr_n").set_value(2).run()
    for i, (w, files) in enumerate(clips.items()):
        at.text_input(key=f"tr_word_{i}").set_value(w)
        at.file_uploader(key=f"tr_up_{i}").set_value(files[:4])
    at.run()
    assert at.button(key="tr_train").disabled  # 4 examples are not enough
    assert any("need at least 5" in c.value for c in at.caption)
    # a bad file among the uploads is reported and skipped
    at.file_uploader(key="tr_up_0").set_value(clips["lights"] + [("junk.wav", b"junk" * 100, "audio/wav")])
    at.file_uploader(key="tr_up_1").set_value(clips["music"])
    at.slider(key="tr_budget").set_value(10)
    at.slider(key="tr_reject").set_value(0.9)
    at.run()
    assert any("junk.wav" in e for e in errors(at))
    assert not at.button(key="tr_train").disabled
    at.button(key="tr_train").click().run(timeout=300)
    no_crash(at)
    assert at.metric[0].value == "lights, music"
    assert at.metric[1].label == "Takes it never trained on, right"  # an estimate, not training accuracy
    assert at.metric[1].value.endswith("%") and "other real words rejected" in at.metric[1].proto.delta
    assert len(at.get("download_button")) == 1
    saved = json.loads((Path(at.session_state["tr_result"]["folder"]) / "config.json").read_text())
    assert saved["finetune"]["reject_aim"] == 0.9  # the strictness chosen on the page is what was calibrated to
    at.radio(key="tr_test_source").set_value("Upload").run()
    at.file_uploader(key="tr_test_upload").set_value(clips["music"][0]).run()
    no_crash(at)
    assert at.metric[-1].label == "Your model hears" and at.metric[-1].value == "music"


# ----------------------------------------------------------------------------- page 2: generator


def abc_shipped() -> bool:
    """The shipped ABC model is there (or $AUDIO_RNN_GEN_MODEL names another one)."""
    import os

    from audio_rnn.training.checkpoint import pretrained_path

    return bool(os.environ.get("AUDIO_RNN_GEN_MODEL")) or (pretrained_path("abc") / "model.safetensors").is_file()


@pytest.mark.skipif(not abc_shipped(), reason="the shipped ABC model (issue 5) has not landed yet")
def test_generator_page_generates_a_rendered_tune_with_downloads():
    at = page("generator").run()
    no_crash(at)
    assert at.selectbox(key="gen_model").value == "Music (ABC)"
    at.text_area(key="gen_primer").set_value("M:6/8\nK:G\n")
    at.number_input(key="gen_seed").set_value(3)
    at.slider(key="gen_retries").set_value(8)  # about half of the raw samples are valid tunes
    at.button[0].click().run(timeout=300)
    no_crash(at)
    code = at.code[0].value
    assert code.startswith("X:") and "K:G" in code
    assert any("Valid tune" in s.value for s in at.success), [w.value for w in at.warning]
    images = at.get("image")
    assert images and "data:image/svg+xml" in str(images[0].proto)
    assert len(at.get("audio")) == 1
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels[:3] == ["Download .abc", "Download .mid", "Download .wav"] and "Download .svg" in labels[3]
    # user text in the primer is only ever shown as code, and a broken tune is a warning, not a crash
    at.text_area(key="gen_primer").set_value("M:6/8\nK:G\n<script>alert(1)</script>|]]]")
    at.button[0].click().run(timeout=300)
    no_crash(at)
    assert "<script>" in at.code[0].value
    assert not any("<script>" in m.value for m in at.markdown)


@pytest.mark.skipif(not abc_shipped(), reason="the shipped ABC model has not landed yet")
def test_generator_page_writes_several_tunes_with_top_p():
    """Several tunes at once, one tab each, sampled with the top-p the page sets (as `generate --n --top-p`)."""
    at = page("generator").run()
    at.number_input(key="gen_n").set_value(3)
    at.slider(key="gen_topp").set_value(0.9)
    at.number_input(key="gen_seed").set_value(7)
    at.button[0].click().run(timeout=300)
    no_crash(at)
    assert [t.label for t in at.tabs] == ["Tune 1", "Tune 2", "Tune 3"]
    texts = [c.value for c in at.code]
    assert len(texts) == 3 and len(set(texts)) == 3 and all(t.startswith("X:") for t in texts)
    from audio_rnn.music.generate import get_generator

    expected = get_generator().generate(n=3, top_p=0.9, seed=7, primer="M:6/8\nK:D\n")
    assert texts == [g.text.rstrip("\n") for g in expected]


def test_a_tune_that_aborts_verovio_is_an_error_not_a_dead_server():
    """verovio's ABC reader aborts its process on an unterminated chord symbol; the app engraves in a child."""
    from audio_rnn.ui.generator import _score

    crash = 'X:1\nK:D\n(Ad) | d>d|g aagafg | cage a>fg e fg"|.gfd dA cABc|cdcAde| BBd \n'
    with pytest.raises(RuntimeError, match="engraver"):
        _score(crash)
    pages = _score("X:1\nT:ok\nM:4/4\nL:1/8\nK:D\nDEFG ABcd|d8|]\n")
    assert len(pages) == 1 and pages[0].startswith("<svg") and pages[0].rstrip().endswith("</svg>")


@pytest.mark.slow
def test_inside_trains_the_three_cells_on_demand():
    at = page("inside").run()
    at.button(key="gf_train").click().run(timeout=600)
    no_crash(at)
    rows = at.table[-1].value
    assert list(rows["cell"]) == ["RNN", "LSTM", "GRU"]
    assert float(rows[rows["cell"] == "GRU"]["final MSE"].iloc[0]) < 0.05  # the gated cell solves it


def test_train_page_explains_bad_keywords_before_training():
    at = page("train_own").run()
    at.number_input(key="tr_n").set_value(2).run()
    at.text_input(key="tr_word_0").set_value("lights")
    at.text_input(key="tr_word_1").set_value("Lights").run()
    no_crash(at)
    assert any("given twice" in e for e in errors(at)), errors(at)
    at.text_input(key="tr_word_1").set_value("<b>x</b>").run()
    assert any("letters, digits" in e for e in errors(at)), errors(at)
    assert at.button(key="tr_train").disabled


def test_keywords_page_shows_the_shipped_models_evidence_on_held_out_speakers():
    at = page("keywords").run()
    no_crash(at)
    (box,) = [e for e in at.expander if e.label == "How well this model hears people it never heard"]
    text = " ".join(m.value for m in box.markdown)
    assert "held out of training" in text and "speakers" in text
    tables = box.table
    assert len(tables) == 2 and "zero" in list(tables[0].value["word"])  # per word, then the threshold sweep
    assert "other words rejected" in tables[1].value.columns


def test_keywords_page_mfcc_view_shows_the_models_own_features():
    """The MFCC view is what the chosen model reads: the shipped digit model's 20 MFCCs with deltas (60 values)."""
    import numpy as np

    from audio_rnn.keywords.recognize import Recognizer
    from audio_rnn.ui.keywords import _mfcc

    import torch

    rec = Recognizer()
    wave = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    feats, rate = _mfcc(wave, rec.features.to_dict())
    assert feats.shape[1] == rec.model.dims.n_in == 60 and rate == 100.0
    with torch.no_grad():  # value for value what the recognizer feeds its network
        model_input = rec.mfcc(torch.from_numpy(wave)[None])[0].numpy()
    assert feats.shape == model_input.shape and np.allclose(feats, model_input, atol=1e-4)
