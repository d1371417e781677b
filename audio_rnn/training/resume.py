"""Resumable training: atomic training-state checkpoints and a data order that can skip ahead.

A training state is a folder (by convention `<out>/resume/`) holding
  state-<step>.safetensors  model and optimizer tensors, RNG byte states (no pickle, ever);
  train_state.json          the commit record: step/epoch/position, optimizer and scheduler
                            scalars, python/numpy RNG states, extra trainer scalars, and the
                            name + SHA-256 of the weights file it belongs to.
The weights are written first (temp file + os.replace), then the JSON (temp file + os.replace):
the JSON replace is the commit, so a `kill -9` at any moment leaves the previous complete state.

The one training loop (`audio_rnn.training.loop.fit`) saves and loads it; each trainer only says
which generators it draws from and what else it carries (`Task.rngs`, `Task.state`). With the
same seed, a resumed run then produces the same losses as an uninterrupted one (on CPU;
bit-exact with deterministic kernels). Under torchrun every rank calls save/load: rank 0 writes,
every rank's RNG state is kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from audio_rnn.training.checkpoint import atomic_write, read_header
from audio_rnn.errors import CheckpointError

FORMAT = "audio_rnn-train-state"
VERSION = 1
STATE_JSON = "train_state.json"
RESUME_DIR = "resume"


# ---------------------------------------------------------------------------------------------
# nested state <-> (JSON, tensors) without pickle


def _encode(obj: Any, tensors: dict[str, torch.Tensor], root: str) -> Any:
    """JSON-able structure for `obj`; tensors and arrays go to `tensors` and are referenced by key."""
    if isinstance(obj, torch.Tensor):
        key = f"{root}.{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        key = f"{root}.{len(tensors)}"
        arr = np.ascontiguousarray(obj)
        tensors[key] = torch.from_numpy(arr.view(np.uint8).reshape(-1).copy())
        return {"__ndarray__": key, "dtype": arr.dtype.str, "shape": list(arr.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors, root) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, tensors, root) for v in obj]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, tensors, root) for k, v in obj.items()}
        return {"__items__": [[_encode(k, tensors, root), _encode(v, tensors, root)] for k, v in obj.items()]}
    raise TypeError(f"cannot store a {type(obj).__name__} in a training state ({root})")


def _decode(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of _encode; a dangling reference or malformed node raises CheckpointError."""
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    try:
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]].clone()
        if "__ndarray__" in obj:
            raw = tensors[obj["__ndarray__"]].numpy()
            return raw.view(np.dtype(obj["dtype"])).reshape(obj["shape"]).copy()
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        if "__items__" in obj:
            return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__items__"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"training state is inconsistent: bad reference {exc}") from None
    return {k: _decode(v, tensors) for k, v in obj.items()}


# ---------------------------------------------------------------------------------------------
# RNG states


def named_rng_states(rngs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The states of generators a trainer owns (numpy Generator, torch Generator, random.Random), by name."""
    named = {}
    for name, g in (rngs or {}).items():
        if isinstance(g, np.random.Generator):
            named[name] = {"numpy_generator": g.bit_generator.state}
        elif isinstance(g, torch.Generator):
            named[name] = {"torch_generator": g.get_state()}
        elif isinstance(g, random.Random):
            named[name] = {"python_random": g.getstate()}
        else:
            raise TypeError(f"rng {name!r}: unsupported generator type {type(g).__name__}")
    return named


def set_named_rng_states(rngs: Mapping[str, Any] | None, named: Mapping[str, Any]) -> None:
    """Put `named_rng_states` back into the same generators."""
    for name, g in (rngs or {}).items():
        if name not in named:
            raise CheckpointError(f"training state has no RNG named {name!r} (has {sorted(named)})")
        s = named[name]
        if isinstance(g, np.random.Generator):
            g.bit_generator.state = s["numpy_generator"]
        elif isinstance(g, torch.Generator):
            g.set_state(s["torch_generator"])
        elif isinstance(g, random.Random):
            g.setstate(s["python_random"])


def _rng_state(rngs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Global python/numpy/torch(+cuda) RNG states plus named generators the trainer owns."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    state["named"] = named_rng_states(rngs)
    return state


def _set_rng_state(state: Mapping[str, Any], rngs: Mapping[str, Any] | None) -> None:
    try:
        random.setstate(state["python"])
        np.random.set_state(state["numpy"])
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        set_named_rng_states(rngs, state.get("named", {}))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"training state holds an unusable RNG state ({type(exc).__name__}: {exc})") from None


# ---------------------------------------------------------------------------------------------
# the training state


def _dist() -> tuple[int, int]:
    """(rank, world_size) of an initialised process group, else (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _gather_rng_states(rng: dict[str, Any], world: int) -> list[Any]:
    """Every rank's RNG state, in rank order, so that rank 0 saves them all (each rank resumes its own)."""
    if world > 1:
        import torch.distributed as dist

        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, rng)  # in-memory between our own ranks; never on disk
        return gathered
    return [rng]


def _barrier(world: int) -> None:
    """Wait for every rank (under torchrun), so no rank runs ahead of rank 0's write."""
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


def _commit(folder: Path, record: dict[str, Any], tensors: dict[str, torch.Tensor], step: int) -> str:
    """Atomically write the weights, then `record` + their name and SHA-256 (the commit); returns the weights' name."""
    from safetensors.torch import save as st_save

    blob = st_save(tensors, metadata={"format": FORMAT, "step": str(int(step))})
    weights = f"state-{int(step):09d}.safetensors"
    record["weights"] = weights
    record["sha256"] = hashlib.sha256(blob).hexdigest()
    atomic_write(folder / weights, blob)
    atomic_write(folder / STATE_JSON, (json.dumps(record, indent=1) + "\n").encode())  # the commit
    _fsync_dir(folder)
    return weights


def _prune(folder: Path, weights: str, keep: int) -> None:
    """Keep the committed weights and the keep-1 latest others (disk bounded); delete killed writes' temp files."""
    olds = sorted(p for p in folder.glob("state-*.safetensors") if p.name != weights)
    for p in olds[: max(0, len(olds) - max(0, keep - 1))]:
        p.unlink(missing_ok=True)
    for p in folder.glob(".*.tmp"):  # temp files of a write that was killed
        p.unlink(missing_ok=True)


@dataclass
class TrainState:
    """Where a run stands: optimizer steps done, epoch, batches of that epoch done, extra scalars."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    world_size: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def exists(folder: str | os.PathLike) -> bool:
        """True when `folder` holds a committed training state."""
        return (Path(folder) / STATE_JSON).is_file()

    @staticmethod
    def save(
        folder: str | os.PathLike,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        scheduler: Any = None,
        *,
        step: int,
        epoch: int = 0,
        batch_in_epoch: int = 0,
        extra: Mapping[str, Any] | None = None,
        rngs: Mapping[str, Any] | None = None,
        objects: Mapping[str, Any] | None = None,
        keep: int = 1,
    ) -> Path | None:
        """Atomically write the full training state; returns the JSON path (None on ranks > 0).

        Under torchrun every rank must call it (their RNG states are gathered); rank 0 writes.
        `objects` are further things with state_dict()/load_state_dict() (e.g. a GradScaler);
        `extra` is JSON-able trainer scalars (best accuracy, loss history, config).
        """
        rank, world = _dist()
        rng_all = _gather_rng_states(_rng_state(rngs), world)
        if rank != 0:
            _barrier(world)
            return None
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, torch.Tensor] = {}
        for k, v in _unwrap(model).state_dict().items():
            tensors["model." + k] = v.detach().cpu().contiguous().clone()
        record: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "step": int(step),
            "epoch": int(epoch),
            "batch_in_epoch": int(batch_in_epoch),
            "world_size": world,
            "extra": _encode(dict(extra or {}), tensors, "extra"),
            "optimizer": _encode(optimizer.state_dict(), tensors, "optim") if optimizer is not None else None,
            "scheduler": _encode(scheduler.state_dict(), tensors, "sched") if scheduler is not None else None,
            "objects": {k: _encode(o.state_dict(), tensors, "obj") for k, o in (objects or {}).items()},
            "rng": [_encode(r, tensors, f"rng{i}") for i, r in enumerate(rng_all)],
            "torch_version": torch.__version__,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        weights = _commit(folder, record, tensors, step)
        _prune(folder, weights, keep)
        _barrier(world)
        return folder / STATE_JSON

    @staticmethod
    def read(folder: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """Validated (record, tensors) of a committed state; CheckpointError if anything is off."""
        from safetensors import SafetensorError
        from safetensors.torch import load as st_load

        folder = Path(folder)
        path = folder / STATE_JSON
        if not path.is_file():
            raise CheckpointError(f"no training state to resume in {folder} (missing {STATE_JSON})")
        record = read_header(path, "training state", FORMAT, VERSION)
        name = record.get("weights")
        if not isinstance(name, str) or "/" in name or "\\" in name or not name.endswith(".safetensors"):
            raise CheckpointError(f"training state names no valid weights file: {path}")
        wpath = folder / name
        if not wpath.is_file():
            raise CheckpointError(f"training state weights missing: {wpath}")
        blob = wpath.read_bytes()
        if hashlib.sha256(blob).hexdigest() != record.get("sha256"):
            raise CheckpointError(f"training state weights are corrupt or truncated (checksum mismatch): {wpath}")
        try:
            tensors = st_load(blob)
        except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
            raise CheckpointError(f"training state weights are not a valid safetensors file: {wpath} ({exc})") from None
        for key in ("step", "epoch", "batch_in_epoch", "world_size"):
            if not isinstance(record.get(key), int) or record[key] < 0:
                raise CheckpointError(f"training state field {key!r} is missing or invalid: {path}")
        return record, tensors

    @staticmethod
    def peek(folder: str | os.PathLike) -> "TrainState":
        """The saved position and extra scalars, without touching any model, optimizer or RNG."""
        record, tensors = TrainState.read(folder)
        return TrainState(step=record["step"], epoch=record["epoch"], batch_in_epoch=record["batch_in_epoch"],
                          world_size=record["world_size"], extra=_decode(record.get("extra") or {}, tensors))

    @staticmethod
    def load(
        folder: str | os.PathLike,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        scheduler: Any = None,
        *,
        rngs: Mapping[str, Any] | None = None,
        objects: Mapping[str, Any] | None = None,
        restore_rng: bool = True,
    ) -> "TrainState":
        """Restore model, optimizer, scheduler, objects and (this rank's) RNG states; return the position."""
        from audio_rnn.training.checkpoint import load_state

        record, tensors = TrainState.read(folder)
        rank, world = _dist()
        if record["batch_in_epoch"] and record["world_size"] != world:
            raise CheckpointError(f"this training state was saved mid-epoch by {record['world_size']} process(es); "
                                  f"resume it with the same number (not {world})")
        model_tensors = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        load_state(_unwrap(model), model_tensors, source="resumed model")
        try:
            if optimizer is not None:
                if record.get("optimizer") is None:
                    raise CheckpointError("training state has no optimizer state")
                optimizer.load_state_dict(_decode(record["optimizer"], tensors))
            if scheduler is not None:
                if record.get("scheduler") is None:
                    raise CheckpointError("training state has no scheduler state")
                scheduler.load_state_dict(_decode(record["scheduler"], tensors))
            saved_objects = record.get("objects") or {}
            for k, o in (objects or {}).items():
                if k not in saved_objects:
                    raise CheckpointError(f"training state has no {k!r} state")
                o.load_state_dict(_decode(saved_objects[k], tensors))
        except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
            raise CheckpointError(f"training state does not fit this optimizer/scheduler ({type(exc).__name__}: {exc})") from None
        if restore_rng:
            states = record.get("rng")
            if not isinstance(states, list) or not states:
                raise CheckpointError("training state holds no RNG state")
            _set_rng_state(_decode(states[rank % len(states)], tensors), rngs)
        return TrainState(
            step=record["step"],
            epoch=record["epoch"],
            batch_in_epoch=record["batch_in_epoch"],
            world_size=record["world_size"],
            extra=_decode(record.get("extra") or {}, tensors),
        )


def add_arguments(parser: Any, default_every: int = 0) -> None:
    """The trainers' shared flags: --save-every N and --resume."""
    parser.add_argument(
        "--save-every", type=int, default=default_every, metavar="N",
        help="write a resumable training state to OUT/resume every N optimizer steps (0: only at epoch ends)",
    )
    parser.add_argument(
        "--resume", action="store_true",
        help="continue from OUT/resume (after a crash or kill); same seed and flags give the same run",
    )
