"""Live latency: end of a spoken keyword -> its detection at the server, and -> its row on the Listen live page.

    .venv/bin/python benchmarks/live_latency.py [--skip-browser]

1. `spot - --raw --rate 16000 --json` fed the real test stream (tests/live_streams.py) in 20 ms chunks at
   real-time pace: wall time from writing a keyword's last sample to reading its JSON line (early
   decisions, and with --final).
2. The app in Chromium with that stream (48 kHz stereo, 1.5 s lead) as its fake microphone, with
   AUDIO_RNN_LIVE_LOG set: the server logs each decision's wall time; the page is polled every 50 ms.
   Word ends are placed on the server's stream clock by the first loud frame (onset); the wall time a
   word's end arrived is the decision's wall time less the audio heard since.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def pipe_latency(path: Path, words: list[dict], final: bool) -> list[float]:
    import subprocess
    import threading
    import time

    from live_streams import keywords

    x, sr = sf.read(path, dtype="int16")
    cmd = [sys.executable, "-m", "audio_rnn", "spot", "-", "--raw", "--rate", str(sr), "--json"]
    proc = subprocess.Popen(cmd + (["--final"] if final else []), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            cwd=ROOT)
    lines: list[tuple[float, dict]] = []
    reader = threading.Thread(target=lambda: [lines.append((time.monotonic(), json.loads(l))) for l in proc.stdout])
    reader.start()
    chunk, written = sr // 50, []
    t0 = None
    for i in range(0, len(x), chunk):
        proc.stdin.write(x[i:i + chunk].tobytes())
        proc.stdin.flush()
        written.append(time.monotonic())
        t0 = t0 or written[0]
        time.sleep(max(0.0, t0 + (i + chunk) / sr - time.monotonic()))
    proc.stdin.close()
    proc.wait()
    reader.join()
    kws = keywords(words)
    assert [r["label"] for _, r in lines] == [w["label"] for w in kws], lines
    return [t - written[min(len(written) - 1, int(w["end"] * sr) // chunk)] for (t, _), w in zip(lines, kws)]


def page_latency(fsdd: Path, tmp: Path) -> dict[str, list[float]]:
    import soxr

    import test_listen_browser as tlb
    from live_streams import keywords, real_stream

    words = real_stream(fsdd, tmp / "stream.wav")
    x, sr = sf.read(tmp / "stream.wav", dtype="float32")
    x = np.concatenate([np.zeros(int(tlb.LEAD_S * sr), np.float32), x])
    y = soxr.resample(x, sr, 48000).astype(np.float32)
    sf.write(tmp / "mic.wav", np.stack([y, y], axis=1), 48000, subtype="PCM_16")
    frames = y[: len(y) // 960 * 960].reshape(-1, 960)
    db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    onset_file = int(np.argmax(db > -30.0)) * 0.02
    log = tmp / "live_log.jsonl"
    os.environ["AUDIO_RNN_LIVE_LOG"] = str(log)
    gen = _server(tmp)
    url = next(gen)
    try:
        args = [*tlb.CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={tmp / 'mic.wav'}%noloop"]
        seen, final = tlb.listen(args, url, len(x) / sr + 3.0)
    finally:
        next(gen, None)
    kws = keywords(words)
    dets = [json.loads(l) for l in log.read_text().splitlines() if '"detection"' in l]
    assert [d["label"] for d in dets] == [w["label"] for w in kws] == final, (dets, final)
    shown = []
    for n in range(1, len(kws) + 1):
        shown.append(next(t for t, s in seen if len(s) >= n))
    server_lat, page_lat = [], []
    for d, w, t_page in zip(dets, kws, shown):
        # the word's end on the server's stream clock; it arrived (heard_s - that) before the decision's frame
        end_stream = (w["end"] + tlb.LEAD_S) - (onset_file - d["onset_s"])
        end_wall = d["wall"] - (d["heard_s"] - end_stream)
        server_lat.append(d["wall"] - end_wall)
        page_lat.append(t_page - end_wall)
    return {"server": server_lat, "page": page_lat}


LAST_SERVER_PID = 0  # the pid of the server `_server` started last (benchmarks read its CPU time)


def _server(tmp: Path):
    """`streamlit run app.py` on a free localhost port (a generator: yields the url, then stops it)."""
    import subprocess
    import time
    import urllib.request

    from test_browser import _free_port

    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]
    global LAST_SERVER_PID
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "HOME": str(tmp)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    LAST_SERVER_PID = proc.pid
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _fmt(xs: list[float]) -> str:
    return f"median {statistics.median(xs):.2f} s, max {max(xs):.2f} s over {len(xs)} keywords"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-browser", action="store_true")
    ap.add_argument("--skip-pipe", action="store_true")
    ap.add_argument("--fsdd", default=str(ROOT.parent / "shared" / "data" / "fsdd" / "recordings"))
    a = ap.parse_args()
    from live_streams import real_stream

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        words = real_stream(Path(a.fsdd), tmp / "s.wav")
        if not a.skip_pipe:
            print("spot - (early), word end -> JSON line:", _fmt(pipe_latency(tmp / "s.wav", words, False)))
            print("spot - --final, word end -> JSON line:", _fmt(pipe_latency(tmp / "s.wav", words, True)))
        if not a.skip_browser:
            r = page_latency(Path(a.fsdd), tmp)
            print("app, word end -> decided at the server:", _fmt(r["server"]))
            print("app, word end -> row on the page:", _fmt(r["page"]))


if __name__ == "__main__":
    main()
