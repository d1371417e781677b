"""Listen live with several browsers at once: does each session keep up, and what does the server pay?

    .venv/bin/python benchmarks/live_browsers.py [--sessions 1,5] [--json]

One `streamlit run app.py` on localhost; N Chromium browsers (one Playwright per thread, all on this
machine) open Listen live at once, each with the same recording as its fake microphone: 8 s of
background, then eight held-out digits (FSDD's george, test takes, and espeak-ng's m6 voice) 1.2 s
apart over pink noise at 25 dB. Reported per run: the digits each page lists (right ones, others),
the median and worst time from a word's end (its wall time on the server's stream clock, from
AUDIO_RNN_LIVE_LOG) to its row on the page, and the server process's CPU seconds per second of
audio per session (WebRTC decoding, spotting and the page's refreshes included; the browsers are
separate processes and not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

PLAN = [("fsdd", "seven"), ("espeak", "two"), ("fsdd", "five"), ("espeak", "eight"), ("fsdd", "one"),
        ("espeak", "four"), ("fsdd", "six"), ("espeak", "nine")]
LEAD_S = 8.0


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def warm_up(url: str) -> None:
    """Open Listen live once, so the server has imported and loaded the spotter before anything is timed."""
    from playwright.sync_api import sync_playwright

    import test_listen_browser as tlb

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=tlb.CHROMIUM, args=tlb.CHROMIUM_ARGS)
        page = b.new_context(viewport=tlb.VIEWPORT).new_page()
        page.set_default_timeout(120_000)
        tlb.open_page(page, url, "listen")
        page.frame_locator("iframe[title*='webrtc']").get_by_role("button", name="Start").wait_for()
        b.close()


def run(n: int, url: str, mic: Path, seconds: float, log: Path, pid: int) -> dict:
    """N browsers at once; the words each lists and when, and the server's CPU over the run."""
    import test_listen_browser as tlb

    args = [*tlb.CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={mic}%noloop"]
    results: list = [None] * n
    clicks: list[dict] = [{} for _ in range(n)]
    log.write_text("")

    def one(k: int) -> None:
        try:
            results[k] = tlb.listen(args, url, seconds, times=clicks[k])
        except Exception as exc:  # a browser that failed is reported, the others still count
            results[k] = exc

    cpu0 = server_cpu_s(pid)
    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = server_cpu_s(pid) - cpu0
    events = [json.loads(l) for l in log.read_text().splitlines() if l]
    starts = sorted(e["wall"] for e in events if e["event"] == "start")
    clicked = sorted(c["start_clicked"] for c in clicks if c)
    connect = [s - c for s, c in zip(starts, clicked)]  # click on Start -> the first audio frame at the server
    return {"results": results, "cpu_s": cpu, "log": events, "connect_s": connect}


def score(out: dict, expected: list[str], seconds: float) -> dict:
    """Right and other words per page, and the server's CPU per audio second per session."""
    rows = []
    for r in out["results"]:
        if isinstance(r, Exception):
            rows.append({"error": f"{type(r).__name__}: {str(r)[:100]}"})
            continue
        final = r[1]
        right = sum(min(final.count(w), expected.count(w)) for w in set(expected))
        rows.append({"listed": final, "right": right, "other": len(final) - right})
    heard = [e["heard_s"] for e in out["log"] if e["event"] == "stop"]
    audio = sum(heard) if heard else len(rows) * seconds
    return {"sessions": len(rows), "pages": rows, "audio_s": round(audio, 1),
            "cpu_s_per_audio_s_per_session": round(out["cpu_s"] / audio, 4),
            "min_right": min((r.get("right", 0) for r in rows), default=0),
            "max_other": max((r.get("other", 0) for r in rows), default=0)}


def page_latency(out: dict, words: list[dict], onset_file: float, server: list[float] | None = None) -> list[float]:
    """Seconds from each listed word's end to its row on the page (pages matched to sessions by start order);
    `server` gets the seconds from the word's end to the server's decision."""
    sessions: dict[str, list] = {}
    for e in out["log"]:
        if e["event"] == "detection":
            sessions.setdefault(e["session"], []).append(e)
    lat = []
    pages = [r for r in out["results"] if not isinstance(r, Exception)]
    for dets, (seen, _) in zip(sessions.values(), pages):
        for n, d in enumerate(dets, 1):
            shown = next((t for t, s in seen if len(s) >= n), None)
            if shown is None or d["onset_s"] is None:
                continue
            shift = onset_file - d["onset_s"]  # file time - stream time
            w = min(words, key=lambda w: abs(w["end"] - shift - d["end"]))
            if w["label"] != d["label"] or abs(w["end"] - shift - d["end"]) > 1.0:
                continue
            end_stream = w["end"] - (onset_file - d["onset_s"])
            end_wall = d["wall"] - (d["heard_s"] - end_stream)
            lat.append(shown - end_wall)
            if server is not None:
                server.append(d["wall"] - end_wall)
    return lat


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", default="1,5")
    ap.add_argument("--fsdd", default=str(ROOT.parent / "shared" / "data" / "fsdd" / "recordings"))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    import soxr

    from live_latency import _server
    from live_streams import real_stream

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        words = real_stream(Path(a.fsdd), tmp / "stream.wav", lead_s=LEAD_S, plan=PLAN)
        x, sr = sf.read(tmp / "stream.wav", dtype="float32")
        y = soxr.resample(x, sr, 48000).astype(np.float32)
        sf.write(tmp / "mic.wav", np.stack([y, y], axis=1), 48000, subtype="PCM_16")
        frames = y[: len(y) // 960 * 960].reshape(-1, 960)
        onset_file = int(np.argmax(10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
                                   > -30.0)) * 0.02
        seconds = len(x) / sr
        log = tmp / "live_log.jsonl"
        os.environ["AUDIO_RNN_LIVE_LOG"] = str(log)
        gen = _server(tmp)
        url = next(gen)
        import live_latency

        pid = live_latency.LAST_SERVER_PID
        print(f"server pid {pid}", file=sys.stderr, flush=True)
        warm_up(url)
        report = []
        try:
            for n in [int(v) for v in a.sessions.split(",")]:
                out = run(n, url, tmp / "mic.wav", seconds + 3.0, log, pid)
                row = score(out, [w["label"] for w in words], seconds)
                server_lat: list[float] = []
                lat = page_latency(out, words, onset_file, server_lat)
                row["server_latency_median_s"] = round(statistics.median(server_lat), 3) if server_lat else None
                row["page_latency_median_s"] = round(statistics.median(lat), 3) if lat else None
                row["page_latency_max_s"] = round(max(lat), 3) if lat else None
                row["start_to_first_audio_s"] = [round(c, 2) for c in out["connect_s"]]
                report.append(row)
                if not a.json:
                    lists = ", ".join(f"{r.get('right', 0)}/8 (+{r.get('other', 0)})" if "error" not in r
                                      else r["error"] for r in row["pages"])
                    print(f"{n} session(s): pages list {lists}; word end -> page median "
                          f"{row['page_latency_median_s']} s, max {row['page_latency_max_s']} s (decided at the server after "
                          f"{row['server_latency_median_s']} s); server "
                          f"{row['cpu_s_per_audio_s_per_session']:.3f} CPU-s per audio-s per session; Start -> "
                          f"first audio at the server {row['start_to_first_audio_s']} s")
        finally:
            next(gen, None)
    if a.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
