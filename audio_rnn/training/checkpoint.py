"""Checkpoints: safetensors weights + a JSON config; never pickle.

A checkpoint is a folder holding `model.safetensors` and `config.json`
(`--model` also accepts the path of either file). The config says which kind
of model it is, its dimensions, labels or vocabulary and feature settings, so
a checkpoint is self-describing. Loading validates everything and raises
`CheckpointError` with one clear message.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from audio_rnn.errors import CheckpointError

FORMAT = "audio_rnn"
VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"


def config_from_dict(cls: Any, d: Any, what: str) -> Any:
    """Build a settings dataclass from checkpoint JSON: unknown keys (a newer version) or bad values are one CheckpointError."""
    from dataclasses import fields

    if not isinstance(d, dict):
        raise CheckpointError(f"{what} in the model config must be a JSON object")
    unknown = set(d) - {f.name for f in fields(cls)}
    if unknown:
        raise CheckpointError(f"unknown {what} {sorted(unknown)} (model from a newer version?)")
    try:
        return cls(**d)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"invalid {what} in the model config: {exc}") from None


def pretrained_path(name: str) -> Path:
    """Folder of a shipped default model (`digits`, `commands`, `abc`, ...)."""
    return PRETRAINED / name


def resolve(path: str | os.PathLike) -> Path:
    """Checkpoint folder for a path to the folder, its weights or its config."""
    p = Path(path).expanduser()
    if p.is_file() and p.name in (WEIGHTS, CONFIG):
        p = p.parent
    elif p.is_file() and p.suffix == ".safetensors":
        return p  # a bare weights file whose config sits beside it as <stem>.json
    if not p.exists():
        raise CheckpointError(f"model not found: {path}")
    if not p.is_dir():
        raise CheckpointError(f"not a model folder or .safetensors file: {path}")
    return p


def _files(folder: Path) -> tuple[Path, Path]:
    if folder.suffix == ".safetensors":
        return folder, folder.with_suffix(".json")
    return folder / WEIGHTS, folder / CONFIG


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a saved model is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """A config written whole or not at all (a crash mid-write never leaves half a file)."""
    atomic_write(Path(path), (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def save(folder: str | os.PathLike, tensors: dict[str, Any], config: dict[str, Any]) -> Path:
    """Save torch tensors (a state_dict) and a JSON-serialisable config; returns the folder."""
    from safetensors.torch import save as st_save

    folder = Path(folder)
    cfg = {"format": FORMAT, "version": VERSION, **config}
    if "kind" not in cfg:
        raise ValueError("checkpoint config needs a 'kind'")
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(folder / WEIGHTS, st_save(tensors, metadata={"format": FORMAT, "kind": str(cfg["kind"])}))
    write_json_atomic(folder / CONFIG, cfg)
    return folder


def read_header(path: Path, what: str, fmt: str, version: int, hint: str = "") -> dict[str, Any]:
    """A JSON file this package wrote (a model config, a training state): parsed, and its `format` and
    `version` checked; CheckpointError naming `what` otherwise."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{what} is not valid JSON: {path} ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != fmt:
        raise CheckpointError(f"not an audio_rnn {what}: {path}")
    found = record.get("version")
    if not isinstance(found, int) or found > version:
        raise CheckpointError(f"{what} version {found!r} is newer than this audio_rnn understands ({version}){hint}")
    return record


def load_config(path: str | os.PathLike, kind: str | None = None) -> dict[str, Any]:
    """Read and validate a checkpoint's JSON config (format, version, kind)."""
    _, cfg_path = _files(resolve(path))
    if not cfg_path.is_file():
        raise CheckpointError(f"model config missing: {cfg_path}")
    cfg = read_header(cfg_path, "model config", FORMAT, VERSION, hint="; upgrade audio_rnn")
    if kind is not None and cfg.get("kind") != kind:
        raise CheckpointError(f"expected a {kind!r} model but {cfg_path} holds a {cfg.get('kind')!r} model")
    return cfg


def load(path: str | os.PathLike, kind: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Load (tensors, config). Only safetensors is read; a pickle or truncated file is refused."""
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    folder = resolve(path)
    cfg = load_config(folder, kind)
    weights, _ = _files(folder)
    if not weights.is_file():
        raise CheckpointError(f"model weights missing: {weights}")
    data = weights.read_bytes()
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
        raise CheckpointError(f"model weights are not a valid safetensors file: {weights} ({exc})") from None
    return tensors, cfg


def state_copy(module: Any) -> dict[str, Any]:
    """A detached CPU copy of a torch module's weights (to keep the best epoch, or the last few)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def average_states(states: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of several weight sets of one model (stochastic weight averaging); integer buffers from the last."""
    import torch

    return {k: (torch.stack([s[k].float() for s in states]).mean(0).to(states[0][k].dtype)
                if states[0][k].is_floating_point() else states[-1][k]) for k in states[0]}


def load_state(module: Any, tensors: dict[str, Any], source: str = "model") -> None:
    """Copy tensors into a torch module, with one clear error for missing, extra or mis-shaped weights."""
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    if missing or extra:
        raise CheckpointError(f"{source} weights do not match its config: missing {missing[:3]}, unexpected {extra[:3]}")
    for k, v in own.items():
        if tuple(v.shape) != tuple(tensors[k].shape):
            raise CheckpointError(
                f"{source} weight {k!r} has shape {tuple(tensors[k].shape)}, config implies {tuple(v.shape)}"
            )
    for k, v in tensors.items():
        if v.is_floating_point() and not bool(v.isfinite().all()):
            raise CheckpointError(f"{source} weight {k!r} contains NaN or infinity")
    module.load_state_dict(tensors)


def build(factory: Callable[[], Any], tensors: dict[str, Any], source: str = "model") -> Any:
    """`factory()` with `tensors` loaded, shapes checked first on the meta device.

    A config that lies about the model's size (hidden=10**6 beside small weights) is refused
    before any memory is allocated, and a config the model class rejects gives CheckpointError.
    """
    import torch

    try:
        with torch.device("meta"):
            probe = factory()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{source} config describes an impossible model ({exc})") from None
    own = probe.state_dict()
    missing, extra = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    if missing or extra:
        raise CheckpointError(f"{source} weights do not match its config: missing {missing[:3]}, unexpected {extra[:3]}")
    for k, v in own.items():
        if tuple(v.shape) != tuple(tensors[k].shape):
            raise CheckpointError(f"{source} weight {k!r} has shape {tuple(tensors[k].shape)}, config implies {tuple(v.shape)}")
        if not (tensors[k].is_floating_point() or not v.is_floating_point()):
            raise CheckpointError(f"{source} weight {k!r} has dtype {tensors[k].dtype}, expected floating point")
    module = factory()
    load_state(module, tensors, source)
    return module
