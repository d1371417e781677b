"""What the three trainers' loops share: `Selection` keeps the best epoch (or step), stops on patience or
the time budget, and tries the average of the last epochs' weights (SWA); `summary` and
`save_trained` write the common part of a checkpoint's `training` record; `add_run_flags`
declares the flags every trainer takes (threads, device, time budget, progress)."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from audio_rnn.training import checkpoint


@dataclass
class Selection:
    """The best model so far by a validation score (higher is better), and when to stop.

    `offer` after each evaluation; `stop_reason` says why to stop (no gain for `patience`
    evaluations, or past `max_minutes`); `average` tries the mean of the last `swa` offered
    weights; `restore_best` puts the chosen weights back. `state`/`load` carry it across a resume.
    """

    patience: int = 10**9
    max_minutes: float | None = None
    swa: int = 0
    keep_weights: bool = True  # False: the caller saves the best itself (the character model's trainer)
    best_score: float = -math.inf
    best_at: int = 0
    best_weights: dict | None = None
    best_info: Any = None
    recent: list = field(default_factory=list)
    averaged_info: Any = None
    started: float = field(default_factory=time.perf_counter)

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def offer(self, at: int, score: float, model: Any = None, info: Any = None) -> bool:
        """Record the evaluation at epoch/step `at`; True when it is the best so far (its weights kept)."""
        if self.swa > 1 and model is not None:
            self.recent = [*self.recent, checkpoint.state_copy(model)][-self.swa:]
        if score <= self.best_score:
            return False
        self.best_score, self.best_at, self.best_info = score, at, info
        if self.keep_weights and model is not None:
            self.best_weights = checkpoint.state_copy(model)
        return True

    def stop_reason(self, at: int) -> str | None:
        """Why training should stop after `at`, or None."""
        if at - self.best_at >= self.patience:
            return f"early stop: no validation gain for {self.patience} epochs"
        if self.max_minutes is not None and self.seconds() / 60 > self.max_minutes:
            return f"stopping: time budget of {self.max_minutes} min reached"
        return None

    def average(self, model: Any, score: Callable[[], tuple[float, Any]]) -> dict[str, Any] | None:
        """Load the mean of the last `swa` weights into `model`, score it, keep it when no worse than the best.

        A flatter minimum at no cost at inference; returns what happened (None when there is nothing to average).
        """
        if self.swa <= 1 or len(self.recent) <= 1:
            return None
        model.load_state_dict(checkpoint.average_states(self.recent))
        value, info = score()
        self.averaged_info = info  # what the average scored, kept or not
        used = value >= self.best_score
        if used:
            self.best_score, self.best_info, self.best_weights = value, info, checkpoint.state_copy(model)
        return {"epochs_averaged": len(self.recent), "score": round(value, 4), "used": used}

    def restore_best(self, model: Any) -> Any:
        """The chosen weights, on the CPU, in eval mode."""
        model.to("cpu")
        if self.best_weights is not None:
            model.load_state_dict(self.best_weights)
        return model.eval()

    def state(self) -> dict[str, Any]:
        return {"best_score": self.best_score, "best_at": self.best_at, "best_weights": self.best_weights,
                "best_info": self.best_info, "recent": self.recent, "seconds": self.seconds()}

    def load(self, d: dict[str, Any]) -> None:
        self.best_score, self.best_at, self.best_weights = d["best_score"], d["best_at"], d["best_weights"]
        self.best_info, self.recent = d.get("best_info"), d.get("recent", [])
        self.started = time.perf_counter() - d["seconds"]


def summary(sel: Selection, history: list[dict], device: str) -> dict[str, Any]:
    """The part of a checkpoint's `training` record every trainer writes."""
    import torch

    return {"best_epoch": sel.best_at, "epochs_run": len(history), "train_seconds": round(sel.seconds(), 1),
            "torch_threads": torch.get_num_threads(), "device": device, "history": history}


def save_trained(out: str | Path, model: Any, config: dict[str, Any], main: bool = True) -> None:
    """Write the chosen model (safetensors + JSON config); under torchrun only rank 0 writes."""
    if main:
        checkpoint.save(out, model.state_dict(), config)


def log(msg: str) -> None:
    """Training progress lines go to stderr (stdout is for results and --json)."""
    print(msg, file=sys.stderr)


def add_run_flags(p: argparse.ArgumentParser, threads_help: str = "torch threads",
                  device_help: str = "where the network trains: cpu or cuda") -> None:
    """--max-minutes, --threads, --device, --quiet: the flags every trainer takes."""
    p.add_argument("--max-minutes", type=float, default=None, help="wall-time budget for training")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help=threads_help)
    p.add_argument("--device", default="cpu", help=device_help)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_data_flags(p: argparse.ArgumentParser, exclude_help: str) -> None:
    """--holdout-speakers and --exclude-words: speakers kept out for testing, words left out of training."""
    p.add_argument("--holdout-speakers", default="", help="comma-separated FSDD speakers kept out of training")
    p.add_argument("--exclude-words", default="", help=exclude_help)


def split_list(spec: str) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c']."""
    return [s.strip() for s in spec.split(",") if s.strip()]


def config_from_args(cls: Any, args: argparse.Namespace, **renamed: str) -> Any:
    """A config dataclass from parsed flags: each field from the flag of the same name (or `renamed[field]`);
    fields without a flag keep their defaults."""
    from dataclasses import fields

    values = {}
    for f in fields(cls):
        name = renamed.get(f.name, f.name)
        if hasattr(args, name):
            values[f.name] = getattr(args, name)
    return cls(**values)
