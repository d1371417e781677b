"""Weights between the numpy cells and torch.nn.RNN/LSTM/GRU, both ways, and `trace`, which replays a
trained torch module in numpy to expose its gates. torch is imported lazily."""

from __future__ import annotations

from typing import Any

import numpy as np

from audio_rnn.scratch.cells import GATE_NAMES, param_names, Recurrent, single_blas_thread


# ----------------------------------------------------------------------------------------------
# torch interop (torch imported lazily).


def from_torch(module, dtype: Any = np.float64) -> Recurrent:
    """Copy a torch.nn.RNN/LSTM/GRU (unidirectional, no projection) into a numpy Recurrent."""
    mode = getattr(module, "mode", None)
    cell = {"RNN_TANH": "rnn", "RNN_RELU": "rnn", "LSTM": "lstm", "GRU": "gru"}.get(mode)
    if cell is None:
        raise ValueError(f"expected torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    if module.bidirectional:
        raise ValueError("bidirectional recurrent layers are not supported by the scratch module")
    if getattr(module, "proj_size", 0):
        raise ValueError("LSTM with proj_size is not supported by the scratch module")
    params = {
        name: getattr(module, name).detach().cpu().to(dtype=_torch_dtype(dtype)).numpy().copy()
        for name in param_names(module.num_layers, module.bias)
    }
    return Recurrent(
        cell,
        module.input_size,
        module.hidden_size,
        module.num_layers,
        params,
        "relu" if mode == "RNN_RELU" else "tanh",
    )


def to_torch(model: Recurrent, batch_first: bool = False):
    """A new torch.nn.RNN/LSTM/GRU holding a copy of the numpy weights (same dtype)."""
    import torch

    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[model.cell]
    kwargs = {"nonlinearity": model.nonlinearity} if model.cell == "rnn" else {}
    module = cls(
        model.input_size,
        model.hidden_size,
        num_layers=model.num_layers,
        bias=model.has_bias,
        batch_first=batch_first,
        **kwargs,
    ).to(_torch_dtype(model.dtype))
    with torch.no_grad():
        for name, value in model.params.items():
            getattr(module, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return module


def _torch_dtype(dtype: Any):
    import torch

    return torch.float64 if np.dtype(dtype) == np.float64 else torch.float32


@single_blas_thread
def trace(module, x, index: int = 0) -> dict[str, Any]:
    """Replay a (trained) torch recurrent module on x with the numpy code and return its insides.

    x: (T, input) for one sequence, or a batch (T, B, input) / (B, T, input) if module.batch_first;
    `index` picks the batch item. Returns {"cell", "hidden_size", "gate_names", "output" (T,H),
    "layers": [{"hidden" (T,H), "cell" (T,H) LSTM only, "gates" {name: (T,H)}}],
    "torch_max_abs_diff": max |numpy output - torch output|} (a live proof the replay is exact).
    """
    import torch

    xt = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x.detach().cpu())
    if xt.ndim == 2:
        xt = xt[:, None, :]
    elif xt.ndim == 3 and module.batch_first:
        xt = xt.transpose(0, 1)
    elif xt.ndim != 3:
        raise ValueError(f"expected x of shape (T, input) or a batch, got {tuple(xt.shape)}")
    weight = next(module.parameters())
    xt = xt[:, index : index + 1].to(weight.dtype)
    model = from_torch(module, np.float64)
    out, _, caches = model.forward(xt.double().numpy())
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            ref = module((xt.transpose(0, 1) if module.batch_first else xt).to(weight.device))[0].cpu()
    finally:
        module.train(was_training)
    ref = (ref.transpose(0, 1) if module.batch_first else ref)[:, 0].double().numpy()
    H = model.hidden_size
    layers = []
    for cache in caches:
        entry: dict[str, Any] = {"hidden": cache["h"][:, 0].copy(), "gates": {}}
        if model.cell == "lstm":
            entry["cell"] = cache["c"][:, 0].copy()
        for k, name in enumerate(GATE_NAMES[model.cell]):
            entry["gates"][name] = cache["acts"][:, 0, k * H : (k + 1) * H].copy()
        layers.append(entry)
    return {
        "cell": model.cell,
        "hidden_size": H,
        "gate_names": list(GATE_NAMES[model.cell]),
        "output": out[:, 0].copy(),
        "layers": layers,
        "torch_max_abs_diff": float(np.max(np.abs(out[:, 0] - ref))) if len(ref) else 0.0,
    }


#
