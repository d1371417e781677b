"""Upload -> prediction time in the real app, in a real browser, against the in-process floor.

    .venv/bin/python benchmarks/app_latency.py [--clips 10] [--json]

Starts `streamlit run app.py` on a free localhost port, opens it in Debian's
Chromium (Playwright), warms it up with one upload, then uploads each bundled
digit clip (1 s, 16 kHz) and times from handing the file to the page until the
predicted keyword shows. The peer, measured in the same run, is the work alone
in this process: decode the same bytes and classify them with a loaded
`Recognizer`. The ratio says how much the browser round trip, upload and page
rendering add.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_browser import CHROMIUM, CHROMIUM_ARGS, IDLE, VIEWPORT, _free_port  # noqa: E402


def browser_times(clips: list[Path]) -> tuple[list[float], list[str]]:
    """Seconds from upload to the expected label, and the labels shown, for each clip after a warm-up upload."""
    from playwright.sync_api import sync_playwright

    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none"]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "HOME": tmp}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                    break
                except OSError:
                    time.sleep(0.3)
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = b.new_page(viewport=VIEWPORT)
                page.set_default_timeout(120_000)
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector(IDLE)
                page.locator("[data-testid='stRadio'] label").filter(has_text="Upload").first.click()
                page.wait_for_timeout(300)
                page.wait_for_selector(IDLE)
                uploader = page.locator("[data-testid='stFileUploader'] input[type='file']")
                times, shown = [], []
                for k, clip in enumerate([clips[-1], *clips]):  # the first upload is the warm-up
                    t0 = time.perf_counter()
                    uploader.set_input_files(str(clip))
                    # the caption naming this file and a fresh metric come from the same rerun
                    page.wait_for_function(
                        "name => { const c = Array.from(document.querySelectorAll(\"[data-testid='stCaptionContainer']\"))"
                        ".some(e => e.innerText.startsWith(name + ':'));"
                        " const m = document.querySelector(\"[data-testid='stMetricValue']\");"
                        " return c && m && !m.closest('[data-stale=\"true\"]'); }", arg=clip.name)
                    dt = time.perf_counter() - t0
                    page.wait_for_selector(IDLE)
                    if k:
                        times.append(dt)
                        shown.append(page.locator("[data-testid='stMetricValue']").first.inner_text().strip())
                b.close()
        finally:
            proc.terminate()
            proc.wait(10)
    return times, shown


def floor_times(clips: list[Path]) -> list[float]:
    """Decode + classify each clip's bytes in this process with a warm Recognizer."""
    import torch

    from audio_rnn.audio.decode import load_audio
    from audio_rnn.keywords.recognize import Recognizer

    torch.set_num_threads(1)
    rec = Recognizer(os.environ.get("AUDIO_RNN_KWS_MODEL") or None)
    rec.classify_waves([load_audio(clips[0].read_bytes())])
    out = []
    for c in clips:
        data = c.read_bytes()
        t0 = time.perf_counter()
        rec.classify_waves([load_audio(data)])
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=10, help="digit clips to upload (max 10)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    clips = sorted((ROOT / "samples" / "digits").glob("*.wav"))[: args.clips]
    times, shown = browser_times(clips)
    floor = floor_times(clips)
    row = {
        "clips": len(clips),
        "browser_upload_to_prediction_s": {"median": round(statistics.median(times), 3), "max": round(max(times), 3)},
        "in_process_decode_classify_s": {"median": round(statistics.median(floor), 4), "max": round(max(floor), 4)},
        "ratio_browser_vs_in_process": round(statistics.median(times) / statistics.median(floor), 1),
        "labels_correct": sum(s == c.stem for s, c in zip(shown, clips)),
    }
    print(json.dumps(row) if args.json else "\n".join(f"{k}: {v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
