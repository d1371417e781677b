"""Data-parallel training with PyTorch's own engine (torch.distributed + DistributedDataParallel).

A trainer calls `ctx = setup()` once. Under `torchrun` (WORLD_SIZE/RANK/LOCAL_RANK in the
environment) it joins the process group (gloo on CPU, nccl on GPU); in a plain single-process
run every helper here is a no-op, so the same trainer code runs both ways:

    ctx = distributed.setup()
    model = distributed.wrap(model.to(ctx.device), ctx)
    mine = distributed.shard(epoch_order, ctx)                         # this rank's part of the epoch
    ...
    if ctx.is_main: save checkpoint / evaluate / print
    distributed.cleanup()
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Iterable

import torch
import torch.distributed as dist
from torch import nn


ENV_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job: its rank, the world size, its device and backend."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # None: single process, no process group
    device: torch.device = torch.device("cpu")

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one process that logs, evaluates and writes checkpoints."""
        return self.rank == 0


def env_world() -> tuple[int, int, int]:
    """(world_size, rank, local_rank) from the torchrun environment; (1, 0, 0) outside torchrun."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise RuntimeError(f"malformed torchrun environment ({exc})") from None
    if world < 1 or not 0 <= rank < world:
        raise RuntimeError(f"inconsistent torchrun environment: WORLD_SIZE={world} RANK={rank}")
    return world, rank, local


def setup(device: str | None = None, timeout_s: float = 600.0) -> DistContext:
    """Join the torchrun process group if there is one; pick the device and backend.

    `device` is "cpu", "cuda" or None (cuda when available). With CUDA each process uses
    cuda:LOCAL_RANK and nccl; on CPU gloo. Idempotent: a second call returns the same context.
    """
    world, rank, local = env_world()
    use_cuda = torch.cuda.is_available() if device is None else str(device).startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available")
    if use_cuda:
        dev = torch.device("cuda", local % max(torch.cuda.device_count(), 1))
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if world == 1:
        return DistContext(device=dev)
    backend = "nccl" if use_cuda else "gloo"
    if not dist.is_initialized():
        kwargs: dict[str, Any] = {"backend": backend, "timeout": timedelta(seconds=timeout_s)}
        if use_cuda:
            kwargs["device_id"] = dev
        dist.init_process_group(**kwargs)
    return DistContext(rank=rank, world_size=world, local_rank=local, backend=backend, device=dev)


def context() -> DistContext:
    """The context of an already-initialised process group (or the single-process one)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistContext()
    world, rank, local = dist.get_world_size(), dist.get_rank(), env_world()[2]
    backend = dist.get_backend()
    dev = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
    return DistContext(rank=rank, world_size=world, local_rank=local, backend=backend, device=dev)


def is_main() -> bool:
    """True unless this is a non-zero rank of an initialised process group."""
    return context().is_main


def wrap(model: nn.Module, ctx: DistContext, **ddp_kwargs: Any) -> nn.Module:
    """DistributedDataParallel around `model` (already on ctx.device) when distributed; else `model`."""
    if not ctx.is_distributed:
        return model
    if ctx.device.type == "cuda":
        ddp_kwargs.setdefault("device_ids", [ctx.device.index])
    return nn.parallel.DistributedDataParallel(model, **ddp_kwargs)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper (what checkpoints save), or `model` itself."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def shard(order: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """This rank's part of an epoch order (a DistributedSampler without its own shuffle).

    Every rank gets the same count (the order is padded by wrapping, as DistributedSampler does),
    so all ranks run the same number of steps; one process gets `order` unchanged.
    """
    if not ctx.is_distributed:
        return order
    from torch.utils.data.distributed import DistributedSampler

    picks = DistributedSampler(range(len(order)), num_replicas=ctx.world_size, rank=ctx.rank, shuffle=False)
    return order[torch.tensor(list(picks), dtype=torch.long)]


def barrier(ctx: DistContext | None = None) -> None:
    """Wait for every rank (no-op in a single process)."""
    ctx = ctx or context()
    if ctx.is_distributed and dist.is_initialized():
        if ctx.backend == "nccl":
            dist.barrier(device_ids=[ctx.device.index])
        else:
            dist.barrier()


def all_reduce_mean(values: Iterable[float] | float, ctx: DistContext | None = None) -> list[float] | float:
    """Average scalar(s) over ranks (e.g. a loss or per-rank accuracy); identity in one process."""
    ctx = ctx or context()
    scalar = isinstance(values, (int, float))
    vals = [float(values)] if scalar else [float(v) for v in values]
    if ctx.is_distributed and dist.is_initialized():
        t = torch.tensor(vals, dtype=torch.float64, device=ctx.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        vals = (t / ctx.world_size).tolist()
    return vals[0] if scalar else vals


def all_reduce_sum(values: Iterable[float], ctx: DistContext | None = None) -> list[float]:
    """Sum scalars over ranks (e.g. correct/total counts of a sharded evaluation)."""
    ctx = ctx or context()
    vals = [float(v) for v in values]
    if ctx.is_distributed and dist.is_initialized():
        t = torch.tensor(vals, dtype=torch.float64, device=ctx.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        vals = t.tolist()
    return vals


def gather_objects(obj: Any, ctx: DistContext | None = None) -> list[Any]:
    """Every rank's picklable-by-torch `obj` (small, trusted, in-memory only) as a list by rank."""
    ctx = ctx or context()
    if not (ctx.is_distributed and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, ctx: DistContext | None = None, src: int = 0) -> Any:
    """Rank `src`'s `obj` on every rank (e.g. a step to resume from); identity in one process."""
    ctx = ctx or context()
    if not (ctx.is_distributed and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def main_only(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: run `fn` on rank 0 only (others get None). For logging, eval, checkpoints."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs) if is_main() else None

    wrapper.__name__ = getattr(fn, "__name__", "main_only")
    wrapper.__doc__ = fn.__doc__
    return wrapper


@main_only
def log(*args: Any, **kwargs: Any) -> None:
    """print() on rank 0 only."""
    print(*args, **kwargs, flush=True)


def cleanup() -> None:
    """Leave the process group (no-op when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
