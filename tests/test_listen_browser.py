"""Listen live in a real browser: Chromium plays a WAV with known keywords as its microphone over WebRTC
to `streamlit run app.py` on localhost, and the page must list the keywords as they are spoken, in order.
Marked `browser`."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soundfile as sf

from test_browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, open_page, server, shoot  # noqa: F401 (fixture)
from live_streams import keywords, real_stream

pytestmark = pytest.mark.browser

LEAD_S = 1.5  # Chromium's fake microphone loses the first 0.5-1.1 s of its file


@pytest.fixture(scope="module")
def mic_file(fsdd_dir, tmp_path_factory):
    """The real stream at 48 kHz stereo, led by 1.5 s of silence: what the fake microphone plays once."""
    import soxr

    folder = tmp_path_factory.mktemp("mic")
    words = real_stream(fsdd_dir, folder / "stream.wav")
    x, sr = sf.read(folder / "stream.wav", dtype="float32")
    x = np.concatenate([np.zeros(int(LEAD_S * sr), np.float32), x])
    y = soxr.resample(x, sr, 48000).astype(np.float32)
    path = folder / "mic.wav"
    sf.write(path, np.stack([y, y], axis=1), 48000, subtype="PCM_16")
    return path, [dict(w, start=w["start"] + LEAD_S, end=w["end"] + LEAD_S) for w in words], len(x) / sr


def heard_words(page) -> list[str]:
    """The words the page lists, oldest first."""
    text = page.locator(".st-key-live_words").inner_text()
    rows = re.findall(r"^\s*(\d+)\s+(\S+)\s+[\d.]+-[\d.]+\s+[\d.]+\s*$", text, re.M)
    return [w for _, w in sorted(rows, key=lambda r: int(r[0]))]


def listen(browser_args: list[str], url: str, seconds: float, shot: str | None = None, times: dict | None = None,
           after: dict | None = None):
    """Open Listen live, press Start, poll the word list for `seconds`, press Stop: (polls, final words).
    `times` gets the wall time of the click on Start ("start_clicked"); `after` gets the list 5 s after Stop
    ("kept", once the session is idle) and after a click on Clear ("cleared")."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=browser_args)
        page = b.new_context(viewport=VIEWPORT).new_page()
        page.set_default_timeout(90_000)
        open_page(page, url, "listen")
        frame = page.frame_locator("iframe[title*='webrtc']")
        if times is not None:
            times["start_clicked"] = page.evaluate("Date.now()") / 1000
        frame.get_by_role("button", name="Start").click()
        frame.get_by_role("button", name="Stop").wait_for(timeout=30_000)
        seen: list[tuple[float, list[str]]] = []
        t0 = page.evaluate("Date.now()") / 1000
        while page.evaluate("Date.now()") / 1000 - t0 < seconds:
            seen.append((page.evaluate("Date.now()") / 1000, heard_words(page)))
            if shot and len(seen[-1][1]) >= 4 and not any(s for s in seen[:-1] if len(s[1]) >= 4):
                shoot(page, shot)
            page.wait_for_timeout(100)
        frame.get_by_role("button", name="Stop").click()
        page.wait_for_timeout(1500)
        final = heard_words(page)
        if after is not None:
            page.wait_for_timeout(5000)
            after["kept"] = heard_words(page)
            after["status"] = page.get_by_text("Not listening").count()
            page.get_by_role("button", name="Clear").click()
            page.wait_for_timeout(1500)
            after["cleared"] = heard_words(page)
            after["empty_note"] = page.get_by_text("No keywords yet").count()
        b.close()
    return seen, final


def test_the_page_lists_the_spoken_keywords_in_order(server, mic_file):  # noqa: F811
    path, words, seconds = mic_file
    args = [*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={path}%noloop"]
    after: dict = {}
    seen, final = listen(args, server, seconds + 3.0, shot="listen", after=after)
    expected = [w["label"] for w in keywords(words)]
    assert final == expected, (final, expected)
    # the microphone stopped: the page says so and keeps what it heard until Clear
    assert after["kept"] == expected and after["status"] >= 1, after
    assert after["cleared"] == [] and after["empty_note"] >= 1, after
    # listed while the file was still playing, one by one
    counts = [len(s) for _, s in seen]
    assert counts == sorted(counts) and len(set(counts)) >= len(expected)
