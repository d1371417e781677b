"""Where the sound is in a short recording: the loud part above its own noise floor (a take's word)."""

from __future__ import annotations

import numpy as np


def active_bounds(x: np.ndarray, sr: int, frame_s: float = 0.02, rel: float = 0.3, span_db: float = 34.0,
                  margin_s: float = 0.03) -> tuple[int, int]:
    """[start, end) samples of the frames louder than the recording's own floor, a `margin_s` kept either side.

    A frame counts when its RMS is above both `span_db` below the loudest frame (a clean take's near-silence
    stays out) and `rel` of the way from the noise floor (the 10th-percentile frame) to that peak, so that a
    take through a hissing, humming microphone still has a background around its word. The whole recording
    when it has no frame, or no word stands `span_db` / 4 above its floor.
    """
    x = np.asarray(x, dtype=np.float64)
    hop = max(1, int(frame_s * sr))
    n = len(x) // hop
    if n < 3:
        return 0, len(x)
    db = 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    floor, peak = float(np.percentile(db, 10)), float(db.max())
    if peak - floor < span_db / 4:
        return 0, len(x)
    loud = np.flatnonzero(db >= max(peak - span_db, floor + rel * (peak - floor)))
    m = int(margin_s * sr)
    return max(0, int(loud[0]) * hop - m), min(len(x), (int(loud[-1]) + 1) * hop + m)
