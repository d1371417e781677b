"""Five simultaneous sessions classifying and generating: no errors and no crossed results.

The app shares one loaded model per process between all sessions (st.cache_resource), so the
risk is two sessions using the same Recognizer / Generator at the same moment. Tests:
  1. five threads hammer one shared Recognizer, Spotter and Generator at once, each with its own
     inputs; every result must equal the one computed alone beforehand;
  2. five Streamlit AppTest sessions run the Keywords and Generator pages at the same time in five
     threads (each its own sample and seed); each must show its own sample's prediction and its
     own seed's tune, with no exception or error.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from audio_rnn.training import checkpoint

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
N = 5
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@pytest.fixture(scope="module")
def kws_model(tmp_path_factory) -> str:
    """The shipped keyword model, or (until it lands) a seeded untrained one in the same checkpoint schema.

    Its weights are the seeded initialisation scaled by 5, so that the five test clips get five
    different (label, probability) pairs: all a crossed-results check needs.
    """
    shipped = checkpoint.pretrained_path("digits")
    if (shipped / checkpoint.WEIGHTS).is_file():
        return str(shipped)
    from audio_rnn.keywords.data import LABELS
    from audio_rnn.audio.features import FeatureConfig
    from audio_rnn.keywords.models import KeywordRNN, KWSDims

    torch.manual_seed(11)
    dims = KWSDims(n_in=FeatureConfig().dim, n_classes=len(LABELS), hidden=32, layers=1)
    cfg = {"kind": "kws", "labels": list(LABELS), "features": FeatureConfig().to_dict(), "model": dims.to_dict(),
           "window_seconds": 1.0}
    model = KeywordRNN(dims)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(5.0)
    return str(checkpoint.save(tmp_path_factory.mktemp("kws") / "model", model.state_dict(), cfg))


def _run_together(fn, args: list) -> list:
    """fn(*a) for each a in args, all started at the same instant in their own thread."""
    barrier = threading.Barrier(len(args))

    def go(a):
        barrier.wait(timeout=120)
        return fn(*a)

    with ThreadPoolExecutor(len(args)) as pool:
        return list(pool.map(go, args))


def test_five_threads_share_one_recognizer_spotter_and_generator(kws_model):
    from audio_rnn.music.generate import Generator
    from audio_rnn.keywords.recognize import Recognizer
    from audio_rnn.spotting.streaming import Spotter

    torch.set_num_threads(1)
    rec = Recognizer(kws_model)
    spot = Spotter(kws_model)
    gen = Generator(None, threads=1)
    files = sorted((SAMPLES / "digits").glob("*.wav"))
    longs = sorted((SAMPLES / "long").glob("*.wav"))
    assert len(files) >= N and longs
    work = [([files[(i + j) % len(files)] for j in range(3)], longs[i % len(longs)], 100 + i) for i in range(N)]

    def session(clips, long_wav, seed):
        probs = [r.probs for r in rec.classify_files(clips)]
        wave = rec.load(long_wav)
        times, post, _ = spot.posteriors(wave, rec.sample_rate)
        tune = gen.generate(n=1, seed=seed, length=300, primer="M:6/8\nK:D\n")[0].text
        return probs, post, tune

    alone = [session(*w) for w in work]
    for _ in range(2):  # twice: threads interleave differently each time
        together = _run_together(session, work)
        for i, (a, b) in enumerate(zip(alone, together)):
            assert a[0] == b[0], f"session {i}: classification differs when run concurrently"
            # The numpy spotter's matrix products go through OpenBLAS, whose thread split (and so
            # float32 summation order) depends on how busy its pool is: last-bit differences, ~1e-7.
            # A crossed result would differ by whole probabilities, so a 1e-5 tolerance still catches it.
            np.testing.assert_allclose(a[1], b[1], rtol=1e-5, atol=1e-6,
                                       err_msg=f"session {i}: spotter posteriors differ")
            assert a[2] == b[2], f"session {i}: generated tune differs when run concurrently"
    assert len({t for _, _, t in alone}) == N  # different seeds, different tunes: a crossing would show
    assert len({str(p) for p, _, _ in alone}) == N


@pytest.fixture
def one_runtime(monkeypatch):
    """One Streamlit runtime for all concurrent sessions, as a real server has.

    AppTest installs a mock runtime in a process-wide class attribute at the start of every run
    and clears it at the end, so runs in parallel threads pull it from under each other
    ("Runtime hasn't been created!"). Here one mock runtime stays installed for the whole test and
    AppTest's own set/clear is ignored; everything else about the runs is untouched.
    """
    from unittest.mock import MagicMock

    from streamlit.runtime import Runtime
    from streamlit.runtime.caching.storage.dummy_cache_storage import MemoryCacheStorageManager
    from streamlit.runtime.dataframe_source_manager import DataframeSourceManager
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.testing.v1 import app_test

    shared = MagicMock(spec=Runtime)
    shared.media_file_mgr = MediaFileManager(MemoryMediaFileStorage("/mock/media"))
    shared.dataframe_source_mgr = DataframeSourceManager()
    shared.cache_storage_manager = MemoryCacheStorageManager()

    class _KeepInstance(type(Runtime)):
        def __setattr__(cls, name, value):
            if name == "_instance":  # AppTest's per-run install and clear
                if value is not None and not isinstance(value.bidi_component_registry, MagicMock):
                    shared.bidi_component_registry = value.bidi_component_registry
                return
            super().__setattr__(name, value)

    class _SharedRuntime(Runtime, metaclass=_KeepInstance):
        pass

    monkeypatch.setattr(Runtime, "_instance", shared)
    monkeypatch.setattr(app_test, "Runtime", _SharedRuntime)
    return shared


def _keywords_session(sample: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string("from audio_rnn.ui.keywords import render\nrender()", default_timeout=300)
    at.run()
    at.selectbox(key="kw_sample").set_value(sample).run()
    return at


def _generator_session(seed: int):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string("from audio_rnn.ui.generator import render\nrender()", default_timeout=300)
    at.run()
    at.text_area(key="gen_primer").set_value("M:6/8\nK:G\n")
    at.number_input(key="gen_seed").set_value(seed)
    at.slider(key="gen_len").set_value(300)
    at.slider(key="gen_retries").set_value(0)
    at.button[0].click().run()
    return at


def test_five_app_sessions_at_once_keep_their_own_results(kws_model, monkeypatch, one_runtime):
    from audio_rnn.music.generate import Generator
    from audio_rnn.keywords.recognize import Recognizer

    monkeypatch.setenv("AUDIO_RNN_KWS_MODEL", kws_model)
    samples = [f"digits/{d}.wav" for d in ("one", "three", "five", "seven", "nine")]
    seeds = [21, 22, 23, 24, 25]
    rec = Recognizer(kws_model)
    want = {s: (r.label, f"p = {r.score:.2f}") for s in samples for r in rec.classify_files([SAMPLES / s])}
    assert len(set(want.values())) == N  # every session expects something different
    gen = Generator(None, threads=1)
    from audio_rnn.music.settings import DEFAULTS

    # what the page asks for: its slider defaults (generate's defaults), with the length and retries set above
    want_tune = {s: gen.generate(n=1, temperature=DEFAULTS.temperature, top_k=DEFAULTS.top_k, top_p=DEFAULTS.top_p,
                                 primer="M:6/8\nK:G\n", length=300, seed=s, until_valid=0,
                                 meter_guard=DEFAULTS.guard)[0].text for s in seeds}

    def session(i: int):
        return _keywords_session(samples[i]), _generator_session(seeds[i])

    results = _run_together(session, [(i,) for i in range(N)])
    for i, (kw, gn) in enumerate(results):
        for at in (kw, gn):
            assert not at.exception, [e.value for e in at.exception]
            assert not at.error, [e.value for e in at.error]
        assert samples[i] in " ".join(c.value for c in kw.caption), f"session {i} shows another clip"
        if kw.metric:  # the prediction panel (shown whenever a keyword model loads)
            assert (kw.metric[0].value, kw.metric[0].delta) == want[samples[i]], f"session {i}: crossed prediction"
        shown = [c.value for c in gn.code]
        assert shown, (f"session {i}: no tune shown", [w.value for w in gn.warning], [m.value[:200] for m in gn.markdown])
        assert shown[0].rstrip("\n") == want_tune[seeds[i]].rstrip("\n"), f"session {i}: crossed tune"
    assert all(kw.metric for kw, _ in results), "no prediction shown (keyword model not used by the page)"
