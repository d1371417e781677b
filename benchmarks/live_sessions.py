"""Server cost of Listen live: CPU seconds per second of audio per session, at 1, 5 and 10 sessions at once.

    .venv/bin/python benchmarks/live_sessions.py [--sessions 1,5,10] [--seconds 20] [--json]

Each session is a `ListenSession` (what the app's Listen live page runs per browser) fed its own real test
stream as 48 kHz stereo 20 ms frames (what WebRTC delivers), from its own thread at real-time pace, as
receivers would. Measured: the process's CPU time over the run (numpy with one BLAS thread), divided by the
audio heard by all sessions, and how far behind real time the slowest session ended. WebRTC decoding and the
page's refreshes are not included.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", default="1,5,10")
    p.add_argument("--seconds", type=float, default=20.0, help="audio per session")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    import numpy as np
    import soundfile as sf
    import soxr

    from audio_rnn.ui.listen_session import ListenSession
    from audio_rnn.spotting.streaming import Spotter
    from audio_rnn.training.threads import limit_blas_threads
    from live_streams import real_stream

    fsdd = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
    spotter = Spotter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, limit_blas_threads(1):
        streams = []
        for k in range(max(int(n) for n in args.sessions.split(","))):
            real_stream(fsdd, Path(tmp) / f"s{k}.wav", seed=20 + k)
            x, sr = sf.read(Path(tmp) / f"s{k}.wav", dtype="float32")
            x = np.tile(x, int(np.ceil(args.seconds * sr / len(x))))[: int(args.seconds * sr)]
            y = (soxr.resample(x, sr, 48000) * 32767).astype(np.int16)
            st = np.stack([y, y], axis=1).reshape(-1)
            streams.append([st[i:i + 1920] for i in range(0, len(st), 1920)])
        for n in (int(v) for v in args.sessions.split(",")):
            sessions = [ListenSession(spotter) for _ in range(n)]
            lag = [0.0] * n

            def feed(k: int) -> None:
                t0 = time.perf_counter()
                for i, f in enumerate(streams[k]):
                    sessions[k].push(f, 48000, 2)
                    delay = t0 + (i + 1) * 0.02 - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                end = time.perf_counter()
                sessions[k].stop()
                lag[k] = time.perf_counter() - end

            c0, w0 = time.process_time(), time.perf_counter()
            threads = [threading.Thread(target=feed, args=(k,)) for k in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            rows.append({"sessions": n, "audio_s_each": args.seconds, "wall_s": round(wall, 1),
                         "cpu_s_per_audio_s_per_session": round(cpu / (n * args.seconds), 4),
                         "slowest_finish_after_stream_end_s": round(max(lag), 2),
                         "dropped_s": round(sum(s.dropped_s for s in sessions), 2),
                         "words": [len(s.snapshot()["words"]) for s in sessions]})
            if not args.json:
                print(json.dumps(rows[-1]), flush=True)
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
