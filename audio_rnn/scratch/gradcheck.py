"""The numpy BPTT checked against finite differences and torch autograd, and the `gradcheck` command."""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from audio_rnn.scratch.cells import CELLS, Recurrent, single_blas_thread
from audio_rnn.scratch.torch_bridge import to_torch


# Thresholds of the acceptance checks (float64).
GRAD_REL_TOL = 1e-6
TORCH_ABS_TOL = 1e-8


# ----------------------------------------------------------------------------------------------
# Correctness checks: finite differences and torch autograd.


def _check_problem(cell: str, num_layers: int, seed: int, T: int = 6, B: int = 3, I: int = 4, H: int = 5):
    """A small random model, input, initial state and a random linear loss on outputs and final state."""
    rng = np.random.default_rng(seed)
    model = Recurrent.init(cell, I, H, num_layers, seed=seed)
    x = rng.standard_normal((T, B, I))
    state = model.zero_state(B)
    if cell == "lstm":
        state = tuple(rng.standard_normal(s.shape) * 0.5 for s in state)
    else:
        state = rng.standard_normal(state.shape) * 0.5
    w_out = rng.standard_normal((T, B, H))
    w_state = tuple(rng.standard_normal((num_layers, B, H)) for _ in range(2 if cell == "lstm" else 1))
    return model, x, state, w_out, w_state


def _linear_loss(out, final, w_out, w_state) -> float:
    finals = final if isinstance(final, tuple) else (final,)
    return float(np.sum(out * w_out) + sum(np.sum(f * w) for f, w in zip(finals, w_state)))


@single_blas_thread
def finite_difference_check(cell: str, *, num_layers: int = 2, seed: int = 0, eps: float = 1e-6) -> float:
    """Largest relative error ||analytic - numeric|| / (||analytic|| + ||numeric||) over every gradient.

    Central differences in float64 on every entry of every parameter, the input and the initial state.
    """
    model, x, state, w_out, w_state = _check_problem(cell, num_layers, seed)
    out, final, caches = model.forward(x, state)
    dstate = w_state if cell == "lstm" else w_state[0]
    analytic = model.backward(caches, w_out, dstate).as_dict()

    def loss() -> float:
        o, f, _ = model.forward(x, state)
        return _linear_loss(o, f, w_out, w_state)

    targets = dict(model.params, x=x)
    if cell == "lstm":
        targets["h0"], targets["c0"] = state
    else:
        targets["h0"] = state
    worst = 0.0
    for name, arr in targets.items():
        numeric = np.zeros_like(arr)
        flat, nflat = arr.reshape(-1), numeric.reshape(-1)
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            up = loss()
            flat[j] = old - eps
            down = loss()
            flat[j] = old
            nflat[j] = (up - down) / (2 * eps)
        a = analytic[name]
        denom = np.linalg.norm(a) + np.linalg.norm(numeric)
        worst = max(worst, float(np.linalg.norm(a - numeric) / denom) if denom > 0 else 0.0)
    return worst


@single_blas_thread
def torch_check(cell: str, *, num_layers: int = 2, seed: int = 0, dtype: Any = np.float64) -> float:
    """Largest |numpy - torch| over outputs, final state and every gradient, with copied weights."""
    import torch

    model, x, state, w_out, w_state = _check_problem(cell, num_layers, seed)
    model = model.astype(dtype)
    x = x.astype(dtype)
    state = tuple(s.astype(dtype) for s in state) if cell == "lstm" else state.astype(dtype)
    out, final, caches = model.forward(x, state)
    dstate = tuple(w.astype(dtype) for w in w_state) if cell == "lstm" else w_state[0].astype(dtype)
    grads = model.backward(caches, w_out.astype(dtype), dstate).as_dict()

    module = to_torch(model)
    xt = torch.tensor(x, requires_grad=True)
    states = [torch.tensor(s, requires_grad=True) for s in (state if cell == "lstm" else (state,))]
    out_t, final_t = module(xt, tuple(states) if cell == "lstm" else states[0])
    finals_t = final_t if cell == "lstm" else (final_t,)
    loss = (out_t * torch.from_numpy(w_out.astype(dtype))).sum()
    for f, w in zip(finals_t, w_state):
        loss = loss + (f * torch.from_numpy(w.astype(dtype))).sum()
    loss.backward()
    ref = {name: getattr(module, name).grad.numpy() for name in model.params}
    ref["x"] = xt.grad.numpy()
    ref["h0"] = states[0].grad.numpy()
    if cell == "lstm":
        ref["c0"] = states[1].grad.numpy()
    diffs = [np.max(np.abs(out - out_t.detach().numpy()))]
    finals = final if cell == "lstm" else (final,)
    diffs += [np.max(np.abs(f - ft.detach().numpy())) for f, ft in zip(finals, finals_t)]
    diffs += [np.max(np.abs(grads[k] - ref[k])) for k in ref]
    return float(max(diffs))


def gradcheck_all(num_layers: int = 2, seed: int = 0) -> list[dict[str, Any]]:
    """The `gradcheck` command's rows: per cell, finite-difference relative error and torch difference."""
    return [
        {
            "cell": cell,
            "grad_rel_err": finite_difference_check(cell, num_layers=num_layers, seed=seed),
            "torch_max_abs_diff": torch_check(cell, num_layers=num_layers, seed=seed),
        }
        for cell in CELLS
    ]


def row_ok(row: dict[str, Any]) -> bool:
    """Does a gradcheck row pass the issue's thresholds (rel. error < 1e-6, torch diff < 1e-8)?"""
    return bool(row["grad_rel_err"] < GRAD_REL_TOL and row["torch_max_abs_diff"] < TORCH_ABS_TOL)


#


# ----------------------------------------------------------------------------------------------
# CLI: python -m audio_rnn gradcheck [--json]


def configure_gradcheck(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON line per cell")
    parser.add_argument("--layers", type=int, default=2, help="layers in the checked models (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the check problem")


def run_gradcheck(args: argparse.Namespace) -> int:
    """Print per-cell finite-difference and torch agreement; exit 1 if any check fails."""
    import torch

    torch.set_num_threads(1)
    if args.layers < 1:
        from audio_rnn.errors import AudioRnnError

        raise AudioRnnError("--layers must be at least 1")
    rows = gradcheck_all(num_layers=args.layers, seed=args.seed)
    for row in rows:
        if args.json:
            print(json.dumps(row))
        else:
            status = "ok" if row_ok(row) else "FAIL"
            print(
                f"{row['cell']:>4}: grad_rel_err={row['grad_rel_err']:.2e} (< {GRAD_REL_TOL:g})  "
                f"torch_max_abs_diff={row['torch_max_abs_diff']:.2e} (< {TORCH_ABS_TOL:g})  {status}"
            )
    return 0 if all(row_ok(r) for r in rows) else 1
