"""How many BLAS threads numpy may use: one place for every numpy loop over small matrices."""

from __future__ import annotations

import contextlib
import functools


@functools.lru_cache(maxsize=1)
def _controller():
    """threadpoolctl's view of the loaded BLAS libraries, found once (finding them costs milliseconds a call)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a declared dependency
        return None
    return ThreadpoolController()


def limit_blas_threads(n: int | None = 1) -> contextlib.AbstractContextManager:
    """Context limiting BLAS to `n` threads (None or 0: as is). Small matrix products are fastest on one
    thread, and oversubscribed BLAS threads are ~20x slower on a loaded machine."""
    controller = _controller() if n else None
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=n, user_api="blas")
