"""Gradient flow through time, measured with the numpy BPTT: vanishing, exploding, gates, clipping.

The quantity is ||dL/dh_t|| against the distance T-t from the loss at the last step, on the adding
problem (Hochreiter & Schmidhuber): at initialisation (fast, numpy only; for app sliders) and after
training (torch trains, then the weights are copied into the numpy model and measured).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from audio_rnn.scratch import cells, char_demo, torch_bridge
from audio_rnn.scratch.cells import CELLS, Recurrent, single_blas_thread

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ADDING_BASELINE_MSE = 1.0 / 6.0  # always answering 1.0 (the mean of a sum of two U(0,1) values)


def adding_batch(T: int, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The adding problem: x (T, B, 2) = (value in [0,1], marker); target = sum of the two marked values.

    One marker lies in the first 10% of the sequence and one in the second half, so the answer needs
    information from about T steps back.
    """
    values = rng.uniform(0.0, 1.0, (T, batch))
    marks = np.zeros((T, batch))
    cols = np.arange(batch)
    marks[rng.integers(0, max(1, T // 10), batch), cols] = 1.0
    marks[rng.integers(T // 2, T, batch), cols] = 1.0
    return np.stack([values, marks], axis=-1), (values * marks).sum(axis=0)


def set_spectral_radius(model: Recurrent, radius: float) -> None:
    """Rescale each H x H gate block of weight_hh_l0 so its largest |eigenvalue| equals `radius`."""
    H = model.hidden_size
    w = model.params["weight_hh_l0"]
    for k in range(cells.GATE_COUNT[model.cell]):
        block = w[k * H : (k + 1) * H]
        block *= radius / max(float(np.max(np.abs(np.linalg.eigvals(block)))), 1e-12)


def spectral_radius(model: Recurrent) -> float:
    """Largest |eigenvalue| over the H x H gate blocks of weight_hh_l0."""
    H = model.hidden_size
    w = model.params["weight_hh_l0"]
    return max(
        float(np.max(np.abs(np.linalg.eigvals(w[k * H : (k + 1) * H])))) for k in range(cells.GATE_COUNT[model.cell])
    )


def add_gate_bias(model: Recurrent, bias: float) -> None:
    """Add `bias` to the LSTM forget gate / GRU update gate (the 'remember' gates); no-op for the RNN."""
    if model.cell != "rnn" and bias:
        H = model.hidden_size
        model.params["bias_hh_l0"][H : 2 * H] += bias


def init_model(
    cell: str,
    hidden_size: int = 32,
    *,
    radius: float | None = None,
    gate_bias: float = 0.0,
    seed: int = 0,
) -> tuple[Recurrent, tuple[np.ndarray, np.ndarray]]:
    """A torch-style initialised numpy cell for the adding problem and a linear read-out (w (1,H), b (1,))."""
    model = Recurrent.init(cell, 2, hidden_size, seed=seed)
    if radius is not None:
        set_spectral_radius(model, radius)
    add_gate_bias(model, gate_bias)
    rng = np.random.default_rng(seed + 1)
    k = 1.0 / math.sqrt(hidden_size)
    return model, (rng.uniform(-k, k, (1, hidden_size)), rng.uniform(-k, k, (1,)))


def dh_norms(model: Recurrent, readout: tuple[np.ndarray, np.ndarray], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean over the batch of ||dL/dh_t|| indexed by distance T-t (index 0 = last step), L = MSE at the end."""
    out, _, caches = model.forward(x)
    w, b = readout
    pred = out[-1] @ w.T + b  # (B, 1)
    dpred = 2.0 * (pred[:, 0] - y)[:, None] / len(y)
    dout = np.zeros_like(out)
    dout[-1] = dpred @ w
    dh = model.backward(caches, dout).dh[-1]  # (T, B, H)
    return np.linalg.norm(dh, axis=2).mean(axis=1)[::-1].copy()


def decay_per_step(norms: np.ndarray) -> float:
    """Geometric factor per step from a log-linear fit of norm vs distance (<1 vanishing, >1 exploding)."""
    k = np.arange(len(norms))
    ok = np.isfinite(norms) & (norms > 0)
    if ok.sum() < 2:
        return float("nan")
    return float(np.exp(np.polyfit(k[ok], np.log(norms[ok]), 1)[0]))


def _flow_result(model: Recurrent, norms: np.ndarray) -> dict[str, Any]:
    return {
        "cell": model.cell,
        "distance": np.arange(len(norms)),
        "norm": norms,
        "relative": norms / norms[0] if norms[0] > 0 else norms,
        "decay_per_step": decay_per_step(norms),
        "spectral_radius": spectral_radius(model),
    }


@single_blas_thread
def flow_at_init(
    cell: str,
    T: int = 200,
    *,
    hidden_size: int = 32,
    radius: float | None = None,
    gate_bias: float = 0.0,
    batch: int = 8,
    seed: int = 0,
) -> dict[str, Any]:
    """||dL/dh_t|| vs distance for a freshly initialised cell (radius None = torch's own init).

    Returns {"cell", "distance" (T,), "norm" (T,), "relative" (T,), "decay_per_step", "spectral_radius"};
    numpy only and fast (well under a second for T <= 400), for the app's sliders.
    """
    model, readout = init_model(cell, hidden_size, radius=radius, gate_bias=gate_bias, seed=seed)
    x, y = adding_batch(T, batch, np.random.default_rng(seed + 2))
    return _flow_result(model, dh_norms(model, readout, x, y))


@single_blas_thread
def train_adding(
    cell: str,
    *,
    T: int = 50,
    hidden_size: int = 32,
    steps: int = 800,
    batch: int = 32,
    lr: float = 1e-2,
    clip: float = 1.0,
    gate_bias: float = 1.0,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Train a torch cell + read-out on the adding problem (Adam, clipping), then copy it to numpy.

    gate_bias is added to the LSTM forget / GRU update gate at init (the usual 'remember' bias).
    Returns {"cell", "model": Recurrent (float64), "readout": (w, b), "losses" (steps,) MSE,
    "final_mse" (mean of the last 50 steps), "baseline_mse", "seconds"}.
    """
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    rnn = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](2, hidden_size)
    head = torch.nn.Linear(hidden_size, 1)
    if cell != "rnn":
        with torch.no_grad():
            rnn.bias_hh_l0[hidden_size : 2 * hidden_size] += gate_bias
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    losses = np.empty(steps)
    start = time.perf_counter()
    iterator = range(steps)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"adding problem ({cell})", leave=False)
    for step in iterator:
        x, y = adding_batch(T, batch, rng)
        out, _ = rnn(torch.tensor(x, dtype=torch.float32))
        loss = ((head(out[-1])[:, 0] - torch.tensor(y, dtype=torch.float32)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        losses[step] = loss.item()
    readout = (head.weight.detach().double().numpy().copy(), head.bias.detach().double().numpy().copy())
    return {
        "cell": cell,
        "model": torch_bridge.from_torch(rnn, np.float64),
        "readout": readout,
        "losses": losses,
        "final_mse": float(losses[-50:].mean()),
        "baseline_mse": ADDING_BASELINE_MSE,
        "seconds": time.perf_counter() - start,
    }


@single_blas_thread
def flow_after_training(trained: dict[str, Any], T: int = 200, *, batch: int = 8, seed: int = 0) -> dict[str, Any]:
    """||dL/dh_t|| vs distance for a model returned by train_adding, on adding-problem inputs of length T."""
    x, y = adding_batch(T, batch, np.random.default_rng(seed + 2))
    return _flow_result(trained["model"], dh_norms(trained["model"], trained["readout"], x, y))


def radius_sweep(cell: str, radii, T: int = 200, **kwargs) -> dict[str, np.ndarray]:
    """Decay factor per step for a range of recurrent spectral radii (vanishing below, exploding above)."""
    radii = np.asarray(list(radii), dtype=float)
    return {"radius": radii, "decay_per_step": np.array([flow_at_init(cell, T, radius=r, **kwargs)["decay_per_step"] for r in radii])}


@single_blas_thread
def clipping_demo(
    cell: str = "rnn",
    *,
    radius: float = 2.0,
    T: int = 50,
    hidden_size: int = 32,
    steps: int = 150,
    lr: float = 0.1,
    max_norm: float = 1.0,
    batch: int = 32,
    seed: int = 0,
) -> dict[str, Any]:
    """Plain SGD from an exploding initialisation (large spectral radius), with and without clipping.

    All in numpy (scratch BPTT + cells.clip_grad_norm). Returns per-step arrays: loss_clip, loss_noclip
    (MSE), norm_clip, norm_noclip (global gradient norm before clipping); nan after a run blew up
    (loss > 1e6 or not finite), and diverged_clip / diverged_noclip: the step it blew up, or -1.
    """
    result: dict[str, Any] = {}
    for tag, clip in (("clip", max_norm), ("noclip", None)):
        model, (w, b) = init_model(cell, hidden_size, radius=radius, seed=seed)
        params = dict(model.params, w_y=w, b_y=b)
        rng = np.random.default_rng(seed + 3)
        losses, norms = np.full(steps, np.nan), np.full(steps, np.nan)
        diverged = -1
        with np.errstate(all="ignore"):
            for step in range(steps):
                x, y = adding_batch(T, batch, rng)
                out, _, caches = model.forward(x)
                pred = out[-1] @ params["w_y"].T + params["b_y"]
                err = pred[:, 0] - y
                losses[step] = float(np.mean(err**2))
                if not losses[step] < 1e6:
                    diverged = step
                    break
                dpred = (2.0 * err / len(y))[:, None]
                dout = np.zeros_like(out)
                dout[-1] = dpred @ params["w_y"]
                grads = model.backward(caches, dout).params
                grads["w_y"], grads["b_y"] = dpred.T @ out[-1], dpred.sum(axis=0)
                if clip is not None:
                    grads, norms[step] = cells.clip_grad_norm(grads, clip)
                else:
                    norms[step] = cells.global_norm(grads)
                if not np.isfinite(norms[step]):
                    diverged = step
                    break
                for k, p in params.items():
                    p -= lr * grads[k]
        result[f"loss_{tag}"], result[f"norm_{tag}"], result[f"diverged_{tag}"] = losses, norms, diverged
    return result


# ----------------------------------------------------------------------------------------------
# CLI: python -m audio_rnn gradflow --out DIR [--json]


def configure_gradflow(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/gradflow"), help="folder for the PNG plots")
    parser.add_argument("--json", action="store_true", help="print a one-line JSON summary")
    parser.add_argument("--length", type=int, default=200, help="sequence length T for the measurements (>= 2)")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units")
    parser.add_argument("--train-steps", type=int, default=800, help="Adam steps on the adding problem (T=50)")
    parser.add_argument("--seed", type=int, default=0)


def run_gradflow(args: argparse.Namespace) -> int:
    """Measure everything, write decay_init.png, decay_trained.png, radius.png, clipping.png, char_demo.png."""
    import torch

    from audio_rnn.errors import AudioRnnError

    torch.set_num_threads(1)
    if args.length < 2 or args.hidden < 1 or args.train_steps < 50:
        raise AudioRnnError("need --length >= 2, --hidden >= 1 and --train-steps >= 50")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AudioRnnError(f"cannot create output folder {args.out}: {exc}") from exc
    T, H, seed = args.length, args.hidden, args.seed
    init = {c: flow_at_init(c, T, hidden_size=H, seed=seed) for c in CELLS}
    trained = {c: train_adding(c, hidden_size=H, steps=args.train_steps, seed=seed, progress=not args.json) for c in CELLS}
    after = {c: flow_after_training(trained[c], T, seed=seed) for c in CELLS}
    radii = np.array([0.5, 1.0, 1.5, 2.0, 3.0, 4.0])
    sweep = {c: radius_sweep(c, radii, T, hidden_size=H, seed=seed) for c in CELLS}
    clipping = clipping_demo(seed=seed)  # its own fixed setting: 32 units, radius 2, T=50
    chars = {c: char_demo.char_demo(c, seed=seed, progress=not args.json) for c in CELLS}

    files = write_plots(args.out, init, after, trained, sweep, clipping, chars, T)
    summary = {
        "length": T,
        "hidden": H,
        "decay_per_step_init": {c: init[c]["decay_per_step"] for c in CELLS},
        "decay_per_step_trained": {c: after[c]["decay_per_step"] for c in CELLS},
        "relative_norm_at_T_init": {c: float(init[c]["relative"][-1]) for c in CELLS},
        "relative_norm_at_T_trained": {c: float(after[c]["relative"][-1]) for c in CELLS},
        "adding_mse_trained": {c: trained[c]["final_mse"] for c in CELLS},
        "adding_baseline_mse": ADDING_BASELINE_MSE,
        "radius_sweep": {"radius": radii.tolist(), **{c: sweep[c]["decay_per_step"].tolist() for c in CELLS}},
        "clipping": {
            "final_loss_clip": _finite_or_none(np.nanmean(clipping["loss_clip"][-10:])),
            "diverged_step_clip": clipping["diverged_clip"],
            "diverged_step_noclip": clipping["diverged_noclip"],
            "max_norm_noclip": _finite_or_none(np.nanmax(clipping["norm_noclip"])),
        },
        "char_demo_loss": {c: [float(chars[c]["losses"][:10].mean()), float(chars[c]["losses"][-10:].mean())] for c in CELLS},
        "files": [str(f) for f in files],
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for c in CELLS:
            print(
                f"{c:>4}: decay/step init {init[c]['decay_per_step']:.3f}, trained {after[c]['decay_per_step']:.3f};"
                f" |dL/dh| at distance {T - 1} relative to 0: init {init[c]['relative'][-1]:.1e},"
                f" trained {after[c]['relative'][-1]:.1e}; adding MSE {trained[c]['final_mse']:.4f}"
            )
        print(f"plots: {', '.join(str(f) for f in files)}")
    return 0


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def write_plots(out: Path, init, after, trained, sweep, clipping, chars, T: int) -> list[Path]:
    """Write the PNG figures (matplotlib Agg backend; every figure is closed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []

    def save(fig, name: str) -> None:
        path = out / name
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        files.append(path)

    for name, flows, title in (
        ("decay_init.png", init, f"At initialisation (T={T})"),
        ("decay_trained.png", after, f"After training on the adding problem (measured at T={T})"),
    ):
        fig, ax = plt.subplots(figsize=(7, 4))
        _draw_decay(ax, flows, title)
        save(fig, name)

    fig, ax = plt.subplots(figsize=(7, 4))
    _draw_radius(ax, sweep)
    save(fig, "radius.png")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    _draw_clipping(axes, clipping)
    save(fig, "clipping.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    _draw_char_demo(ax, chars)
    save(fig, "char_demo.png")

    fig, ax = plt.subplots(figsize=(7, 4))
    _draw_adding_training(ax, trained)
    save(fig, "adding_training.png")
    return files


_COLORS = {"rnn": "tab:red", "lstm": "tab:blue", "gru": "tab:green"}  # one colour per cell in every figure


def _draw_decay(ax: Axes, flows: dict[str, dict[str, Any]], title: str) -> None:
    """decay_init.png / decay_trained.png: relative ||dL/dh_t|| vs distance per cell, to show vanishing."""
    for c, r in flows.items():
        ax.semilogy(r["distance"], r["relative"], color=_COLORS[c], label=f"{c} ({r['decay_per_step']:.3f}/step)")
    ax.set(xlabel="distance T - t", ylabel="||dL/dh_t|| / ||dL/dh_T||", title=title)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)


def _draw_radius(ax: Axes, sweep: dict[str, dict[str, np.ndarray]]) -> None:
    """radius.png: gradient factor per step vs spectral radius, where vanishing turns into exploding."""
    for c, s in sweep.items():
        ax.semilogy(s["radius"], s["decay_per_step"], "o-", color=_COLORS[c], label=c)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set(xlabel="spectral radius of W_hh", ylabel="gradient factor per step", title="Vanishing (<1) vs exploding (>1)")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)


def _draw_clipping(axes: np.ndarray, clipping: dict[str, Any]) -> None:
    """clipping.png (two Axes): gradient norm and loss with and without clipping, to show what clipping buys."""
    for tag, color in (("noclip", "tab:red"), ("clip", "tab:blue")):
        label = "no clipping" if tag == "noclip" else "clipped to norm 1"
        diverged = clipping[f"diverged_{tag}"]
        if diverged >= 0:
            label += f" (blew up at step {diverged})"
        axes[0].semilogy(clipping[f"norm_{tag}"], color=color, label=label)
        loss = clipping[f"loss_{tag}"]
        axes[1].plot(loss, color=color, alpha=0.3)
        smooth = np.convolve(np.nan_to_num(loss, nan=np.inf), np.ones(10) / 10, mode="valid")
        axes[1].plot(np.arange(9, 9 + len(smooth)), smooth, color=color, label=label + ", 10-step mean")
    axes[1].axhline(ADDING_BASELINE_MSE, color="k", ls="--", lw=0.8, label="predict the mean")
    axes[0].set(xlabel="SGD step", ylabel="global gradient norm", title="tanh RNN, spectral radius 2: gradient")
    axes[1].set(xlabel="SGD step", ylabel="adding-problem MSE", ylim=(0, 1.5), title="loss")
    for ax in axes:
        ax.legend(fontsize=8)


def _draw_char_demo(ax: Axes, chars: dict[str, dict[str, Any]]) -> None:
    """char_demo.png: the numpy char-RNN losses per cell against the uniform guess, to show they learn."""
    for c, r in chars.items():
        ax.plot(r["losses"], color=_COLORS[c], label=c)
    ax.axhline(next(iter(chars.values()))["uniform_loss"], color="k", ls="--", lw=0.8, label="uniform guess")
    ax.set(xlabel="Adam step", ylabel="nats / char", title="min-char-rnn in numpy")
    ax.legend()


def _draw_adding_training(ax: Axes, trained: dict[str, dict[str, Any]]) -> None:
    """adding_training.png: adding-problem training MSE per cell against the predict-the-mean baseline."""
    for c, r in trained.items():
        ax.semilogy(r["losses"], color=_COLORS[c], label=c)
    ax.axhline(ADDING_BASELINE_MSE, color="k", ls="--", lw=0.8, label="predict the mean")
    ax.set(xlabel="Adam step", ylabel="MSE", title="Adding problem (T=50) training")
    ax.legend()
