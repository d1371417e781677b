"""How many BLAS threads numpy may use: one place for every numpy loop over small matrices."""

from __future__ import annotations

import contextlib


def limit_blas_threads(n: int | None = 1) -> contextlib.AbstractContextManager:
    """Context limiting BLAS to `n` threads (None or 0: as is). Small matrix products are fastest on one
    thread, and oversubscribed BLAS threads are ~20x slower on a loaded machine."""
    if not n:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a declared dependency
        return contextlib.nullcontext()
    return threadpool_limits(n, user_api="blas")
