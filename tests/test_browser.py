"""End to end in a real browser: `streamlit run app.py` on localhost, driven by Playwright in Debian's Chromium.

Each page is opened, used the way a person would (upload a clip, generate a
tune, train on uploaded examples, test the new model), and screenshotted into
runs/screenshots/ (docs/screenshots/ with AUDIO_RNN_SCREENSHOTS=docs/screenshots). Marked `browser`; the whole module takes
about two minutes on a quiet machine.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
# Screenshots go to runs/screenshots (git-ignored); AUDIO_RNN_SCREENSHOTS=docs/screenshots refreshes the README's.
SHOTS = Path(os.environ.get("AUDIO_RNN_SCREENSHOTS", ROOT / "runs" / "screenshots"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
                 "--use-fake-device-for-media-stream"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
VIEWPORT = {"width": 1400, "height": 1800}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A `streamlit run app.py` on a free localhost port, stopped after the module."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    port = _free_port()
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(tmp_path_factory.mktemp("tmp"))}
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--global.developmentMode", "false"]
    log = (home / "streamlit.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("streamlit did not start:\n" + (home / "streamlit.log").read_text()[-2000:])
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport=VIEWPORT)
    pg = ctx.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    ctx.close()


def open_page(page, url: str, path: str) -> None:
    page.goto(f"{url}/{path}")
    page.wait_for_selector(IDLE, timeout=120_000)
    page.wait_for_selector("[data-testid='stHeading']")


def wait_idle(page, timeout: float = 120_000) -> None:
    """Let a rerun start, then wait until the script is idle again."""
    page.wait_for_timeout(300)
    page.wait_for_selector(IDLE, timeout=timeout)


def shoot(page, name: str, top: bool = True) -> Path:
    """Screenshot the whole page: the viewport is stretched to the app's scroll height for the shot."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    out = SHOTS / f"{name}.png"
    height = page.evaluate("() => { const m = document.querySelector(\"[data-testid='stMain']\");"
                           " if (m) m.scrollTop = 0; return m ? m.scrollHeight : document.body.scrollHeight; }")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": int(min(max(height, 900), 5000))})
    page.wait_for_timeout(400)
    page.screenshot(path=str(out))
    page.set_viewport_size(VIEWPORT)
    return out


def metric_value(page, index: int = 0) -> str:
    return page.locator("[data-testid='stMetricValue']").nth(index).inner_text().strip()


def choose_radio(page, label: str) -> None:
    page.locator("[data-testid='stRadio'] label").filter(has_text=label).first.click()
    wait_idle(page)


def speak(word: str, variant: str, speed: int, pitch: int, accent: str = "en-us") -> np.ndarray:
    from audio_rnn.keywords.synth_speech import SynthItem, render

    return render(SynthItem("x.wav", word, word, accent, variant, speed, pitch, "train"))


# ----------------------------------------------------------------------------- tests


def test_keywords_upload_shows_the_right_label(server, page, tmp_path):
    open_page(page, server, "")
    assert page.locator("[data-testid='stAudio']").count() >= 1
    assert metric_value(page) == "seven"  # the default sample
    shoot(page, "keywords")
    choose_radio(page, "Upload")
    clip = tmp_path / "three.wav"
    shutil.copy(SAMPLES / "digits" / "three.wav", clip)
    timings = []
    for name in ("three", "nine", "four"):
        clip = tmp_path / f"{name}.wav"
        shutil.copy(SAMPLES / "digits" / f"{name}.wav", clip)
        t0 = time.perf_counter()
        page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(clip))
        page.wait_for_function(
            "name => { const m = document.querySelector(\"[data-testid='stMetricValue']\");"
            " return m && m.innerText.trim() === name; }", arg=name, timeout=60_000)
        timings.append(time.perf_counter() - t0)
        wait_idle(page)
    # the first upload warms the caches; later ones are the steady-state upload -> prediction time
    print(json.dumps({"upload_to_prediction_s": [round(t, 3) for t in timings]}))
    bad = tmp_path / "notes.wav"
    bad.write_bytes(b"not audio " * 100)
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(bad))
    page.wait_for_selector("[data-testid='stAlertContentError']", timeout=60_000)
    err = page.locator("[data-testid='stAlertContentError']").first.inner_text()
    assert "Error" in err and "Traceback" not in page.content()


def test_commands_model_is_chosen_and_names_the_command(server, page):
    """Pick Commands on the Keywords page: the page says what listens, and a command sample is named."""
    open_page(page, server, "")
    choose_radio(page, "Commands")
    page.get_by_text("Listening for 10 keywords: yes, no, up").wait_for(timeout=60_000)
    page.locator("[data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name="commands/stop.wav").click()
    page.wait_for_function(
        "() => { const m = document.querySelector(\"[data-testid='stMetricValue']\");"
        " return m && m.innerText.trim() === 'stop'; }", timeout=60_000)
    choose_radio(page, "Digits")
    page.get_by_text("Listening for 10 keywords: zero, one, two").wait_for(timeout=60_000)


@pytest.fixture(scope="module")
def spoken_three(tmp_path_factory) -> Path:
    """A real "three" (the 1 s sample) at 48 kHz stereo, 0.1 s of quiet before and 1 s after: the microphone plays it
    once from when recording starts."""
    import soxr

    x, sr = sf.read(SAMPLES / "digits" / "three.wav", dtype="float32", always_2d=True)
    y = soxr.resample(x.mean(axis=1), sr, 48000).astype(np.float32)
    y = np.concatenate([np.zeros(4800, np.float32), y, np.zeros(48000, np.float32)])
    path = tmp_path_factory.mktemp("mic") / "three.wav"
    sf.write(path, np.stack([y, y], axis=1), 48000, subtype="PCM_16")
    return path


def test_microphone_recording_is_decoded_and_classified(server, browser, spoken_three):
    """Chromium's microphone plays a real "three" into st.audio_input: the page decodes it and names the word."""
    b = browser.browser_type.launch(executable_path=CHROMIUM,
                                    args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={spoken_three}%noloop"])
    try:
        page = b.new_context(viewport=VIEWPORT, permissions=["microphone"]).new_page()
        page.set_default_timeout(90_000)
        open_page(page, server, "")
        choose_radio(page, "Record")
        page.get_by_role("button", name="Record").click()
        page.wait_for_timeout(1600)  # a short take (<= 2 s) goes to the clip recognizer
        page.locator("[data-testid='stAudioInputActionButton']").click()  # stop
        page.get_by_text("recording.wav:").wait_for(timeout=60_000)
        wait_idle(page)
        assert page.locator("[data-testid='stAlertContentError']").count() == 0
        assert metric_value(page) == "three"
    finally:
        b.close()


def test_long_recording_shows_detections(server, page):
    open_page(page, server, "")
    page.locator("[data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name="long/three_words.wav").click()
    page.get_by_text("Keyword spotting over time").wait_for(timeout=60_000)
    wait_idle(page)
    table = page.locator("[data-testid='stTable']").first.inner_text()
    for word in ("three", "seven", "one"):
        assert word in table, table
    shoot(page, "keywords_long")


def test_generator_shows_score_and_audio(server, page):
    open_page(page, server, "generator")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_selector("[data-testid='stImage'] img[src^='data:image/svg+xml']", timeout=120_000)
    page.locator("[data-testid='stDownloadButton']").nth(3).wait_for(timeout=120_000)  # .abc .mid .wav .svg
    wait_idle(page)
    assert page.locator("[data-testid='stAudio']").count() >= 1
    assert page.locator("[data-testid='stCode']").first.inner_text().startswith("X:")
    assert page.locator("[data-testid='stDownloadButton']").count() == 4
    assert "Download .svg" in page.locator("[data-testid='stDownloadButton']").nth(3).inner_text()
    shoot(page, "generator")


def test_inside_the_rnn(server, page):
    """The hidden state and gates are drawn; the gradient-flow tab shows the factor per step that backpropagation
    through time gives each cell (the scratch package's own computation)."""
    import re

    from audio_rnn.scratch.gradflow import flow_at_init

    open_page(page, server, "inside")
    assert page.locator("[data-testid='stImage']").count() >= 2  # hidden state + gates
    shoot(page, "inside")
    page.get_by_role("tab", name="Gradient flow").click()
    page.get_by_text("factor per step").first.wait_for()
    table = page.locator("[data-testid='stTable']").first.inner_text()
    shown = dict(re.findall(r"^\s*\d*\s*(RNN|LSTM|GRU)\s+([\d.]+)\s+[\d.]+e[-+]\d+", table, re.M))
    # the page's defaults: T = 100, spectral radius 1, gate bias 0; the numbers are the numpy BPTT's own
    flows = {c.upper(): flow_at_init(c, 100, hidden_size=32, radius=1.0, gate_bias=0.0, seed=0) for c in ("rnn", "lstm", "gru")}
    expected = {c: f"{f['decay_per_step']:.3f}" for c, f in flows.items()}
    assert shown == expected, table
    shoot(page, "inside_gradient_flow")


def test_train_your_own_keywords(server, page, tmp_path):
    words = {"lights": [], "music": []}
    voices = [("", 150, 50), ("m1", 170, 40), ("f1", 140, 60), ("m3", 160, 35), ("f2", 180, 70), ("klatt", 130, 45)]
    for w in words:
        for k, (v, s, p) in enumerate(voices):
            path = tmp_path / f"{w}_{k}.wav"
            sf.write(path, speak(w, v, s, p), 16000, subtype="PCM_16")
            words[w].append(str(path))
    open_page(page, server, "train")
    count = page.get_by_label("Number of keywords")
    count.fill("2")  # one (a wake word) is the default
    count.press("Enter")
    wait_idle(page)
    for i, (w, files) in enumerate(words.items()):
        box = page.get_by_label(f"Keyword {i + 1}", exact=True)
        box.fill(w)
        box.press("Enter")
        wait_idle(page)
        page.locator("[data-testid='stFileUploader'] input[type='file']").nth(i).set_input_files(files)
        page.get_by_text(f"{len(files)} example(s) for this keyword").nth(0).wait_for(timeout=60_000)
        wait_idle(page)
    # a 20 s budget keeps the test short; the default is 35 s (steps of 5 s)
    thumb = page.get_by_role("slider").first
    thumb.focus()
    for _ in range(3):
        thumb.press("ArrowLeft")
    wait_idle(page)
    t0 = time.perf_counter()
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Download model").wait_for(timeout=150_000)
    print(json.dumps({"train_in_browser_s": round(time.perf_counter() - t0, 1)}))
    wait_idle(page)
    # test live: a new voice saying one of the words
    test = tmp_path / "test_music.wav"
    sf.write(test, speak("music", "m6", 155, 55), 16000, subtype="PCM_16")
    page.locator("[data-testid='stRadio'] label").filter(has_text="Upload").last.click()
    wait_idle(page)
    page.locator("[data-testid='stFileUploader'] input[type='file']").last.set_input_files(str(test))
    page.get_by_text("Your model hears").wait_for(timeout=60_000)
    wait_idle(page)
    assert page.locator("[data-testid='stMetricValue']").last.inner_text().strip() == "music"
    shoot(page, "train")
