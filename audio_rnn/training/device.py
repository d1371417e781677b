"""The torch device a trainer runs on, checked before any data is loaded."""

from __future__ import annotations

import torch

from audio_rnn.errors import DataError


def resolve_device(spec: str) -> torch.device:
    """The torch device for --device, or a DataError naming what is wrong (checked before any data is loaded)."""
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise DataError(f"unknown --device {spec!r} (use cpu or cuda)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DataError("--device cuda: no CUDA GPU is available here")
    return dev
