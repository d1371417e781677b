"""Speed of the numpy BPTT vs torch autograd on the same sizes, and of the app's at-init gradient-flow curve.

Run: .venv/bin/python benchmarks/scratch_speed.py  (prints one line per case; ratios vs torch in the same run)
"""

from __future__ import annotations

import time

import numpy as np
import torch

from audio_rnn.scratch import cells, gradflow, torch_bridge


def best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    torch.set_num_threads(1)
    T, B, I, H = 200, 8, 16, 64
    x = np.random.default_rng(0).standard_normal((T, B, I))
    print(f"forward+backward, T={T} B={B} input={I} hidden={H}, float64, best of 5, one thread")
    for cell in cells.CELLS:
        model = cells.Recurrent.init(cell, I, H)
        module = torch_bridge.to_torch(model)
        xt = torch.from_numpy(x)

        def numpy_step():
            with cells.one_blas_thread():
                out, _, caches = model.forward(x)
                model.backward(caches, np.ones_like(out))

        def torch_step():
            module.zero_grad()
            out, _ = module(xt)
            out.sum().backward()

        t_np, t_torch = best_of(numpy_step), best_of(torch_step)
        print(f"  {cell:>4}: numpy {t_np * 1e3:7.1f} ms   torch {t_torch * 1e3:7.1f} ms   numpy/torch {t_np / t_torch:.2f}")
    print("gradflow.flow_at_init (the app's slider curve), hidden 32, batch 8")
    for T in (100, 200, 400):
        row = "  ".join(f"{cell} {best_of(lambda c=cell: gradflow.flow_at_init(c, T), 3) * 1e3:6.1f} ms" for cell in cells.CELLS)
        print(f"  T={T:>3}: {row}")


if __name__ == "__main__":
    main()
