"""The one training loop every trainer runs, and what they share around it.

`RunConfig` is the run's part of every trainer's config (epochs, learning rate, seed, patience,
SWA, time budget, threads, device). A trainer is a `Task`: its model, optimiser, data, step and
validation score. `fit` does the rest: the epochs and steps, backward pass and clipping, the
learning-rate schedule, evaluation and best-model `Selection`, patience, the time budget, weight
averaging, resumable saves (`--save-every`/`--resume`) and, under torchrun, DDP agreement.
`add_run_flags` declares the run flags every trainer takes.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from audio_rnn.training import checkpoint


@dataclass(frozen=True)
class RunConfig:
    """The run settings every trainer's config extends (each trainer sets its own defaults)."""

    epochs: float = 30  # passes over the data (fractions allowed where the trainer counts steps)
    lr: float = 3e-3
    weight_decay: float = 0.01
    seed: int = 0
    patience: int = 1_000_000  # stop after this many evaluations without a better validation score
    swa: int = 0  # > 1: also try the average of the last `swa` evaluations' weights; kept if validation agrees
    max_minutes: float | None = None  # wall-clock budget: the run stops when it is spent (None or 0: none)
    threads: int = 0  # torch CPU threads (0: leave torch's default)
    device: str = "cpu"  # where the network trains: cpu or cuda (under torchrun: cuda:LOCAL_RANK)


@dataclass
class Selection:
    """The best model so far by a validation score (higher is better), and when to stop.

    `offer` after each evaluation; `stop_reason` says why to stop (no gain for `patience`
    evaluations); `average` tries the mean of the last `swa` offered weights; `restore_best`
    puts the chosen weights back. `state`/`load` carry it across a resume.
    """

    patience: int = 10**9
    swa: int = 0
    keep_weights: bool = True  # False: the run keeps its last weights (the best may be saved as it is found)
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
            return f"early stop: no validation gain for {self.patience} evaluations"
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


class Task:
    """A trainer's part of a run: its model, optimiser and schedule, its data, its step and its score.

    Subclasses set `model`, `net` (the model, or its DDP wrapper) and `opt`, and implement
    `batches`, `loss` and `validate`; the other hooks have defaults.
    """

    name = "train"
    model: Any
    net: Any
    opt: Any
    sched: Any = None  # a torch LR scheduler stepped after every optimiser step (None: `loss` sets the rate)
    clip: float = 1.0  # gradient-norm clip
    eval_every: int = 0  # evaluate every N optimiser steps (0: at the end of each epoch)
    keep: str = "best"  # the weights the run ends with: the "best" evaluation's, or the "last"

    def rngs(self) -> dict[str, Any]:
        """The generators this task draws from (saved and restored on a resume)."""
        return {}

    def begin_epoch(self, epoch: int) -> None:
        """Before an epoch's data is drawn (also before a resume restores mid-epoch state)."""

    def batches(self, epoch: int) -> Sequence[Any]:
        """This process's batches of `epoch`, drawn from `rngs()`."""
        raise NotImplementedError

    def planned_steps(self, per_epoch: int, epochs: float) -> int:
        """Optimiser steps the run plans, known once the first epoch's batches are."""
        return max(1, int(round(epochs * per_epoch)))

    def loss(self, batch: Any, step: int, total: int) -> tuple[Any, float]:
        """(the loss of one batch, its weight in the mean training loss)."""
        raise NotImplementedError

    def validate(self, train_loss: float) -> tuple[float, dict[str, Any]]:
        """(score, higher is better; the history row's fields), on the main process."""
        raise NotImplementedError

    def on_eval(self, row: dict[str, Any], best: bool) -> None:
        """After each evaluation, on the main process: log it, report progress, save the best."""

    def state(self) -> dict[str, Any]:
        """What a resume needs beyond weights, optimiser and RNGs (every process calls it)."""
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore `state()` on a resume."""


@dataclass
class Fitted:
    """What a run did: the selection (best score, its info), the history, steps and why it stopped early."""

    selection: Selection
    history: list[dict]
    steps: int
    stopped: str | None  # patience or the time budget; None when it ran its planned length
    weight_average: dict[str, Any] | None
    per_epoch: int = 0  # batches in the first epoch (what "epochs" means for a run counted in steps)


def fit(task: Task, run: RunConfig, out: str | Path | None = None, save_every: int = 0, resume: bool = False,
        progress: bool = True) -> Fitted:
    """Train `task` for `run`: the one loop of every trainer. The model ends in eval mode on the CPU with
    the kept weights (`task.keep`); `out`/resume holds the resumable state when `save_every` > 0."""
    import torch

    if run.threads > 0:
        torch.set_num_threads(run.threads)
    loop = _Loop(task, run, Path(out) / "resume" if out else None, save_every, progress)
    if resume:
        loop.resume()
    try:
        loop.run()
    finally:
        loop.bar.close()
    return loop.finish()


class _Loop:
    """The position of a run (epoch, batch, step), its history and clock, and the steps between evaluations."""

    def __init__(self, task: Task, run: RunConfig, state_dir: Path | None, save_every: int, progress: bool):
        from tqdm import tqdm

        from audio_rnn.training import distributed

        self.task, self.run_cfg, self.state_dir, self.save_every = task, run, state_dir, save_every
        self.ctx = distributed.context()
        self.sel = Selection(patience=run.patience, swa=run.swa, keep_weights=task.keep == "best")
        self.epoch, self.first, self.step, self.total, self.planned, self.per_epoch = 1, 0, 0, 0, 0, 0
        self.history: list[dict] = []
        self.loss_sum = self.loss_n = 0.0
        self.epoch_start: dict[str, Any] = {}
        self.evaluated_at, self.eval_seconds, self.data_seconds = None, 0.0, 0.0
        self.stopped: str | None = None
        self.unit = "step" if task.eval_every else "epoch"
        self.bar = tqdm(total=None, desc=task.name, unit="step", leave=False, file=sys.stderr,
                        disable=not (progress and self.ctx.is_main))

    def run(self) -> None:
        """Epochs until the planned steps are done, patience runs out or the time budget is spent."""
        while self.stopped is None and (not self.total or self.step < self.total):
            if not self.first:
                self.task.begin_epoch(self.epoch)
            batches = self.draw()
            if not batches:
                raise ValueError(f"{self.task.name}: epoch {self.epoch} has no batches")
            if not self.total:
                self.per_epoch = len(batches)
                self.total = self.planned = self.task.planned_steps(len(batches), self.run_cfg.epochs)
            self.bar.total = self.total
            self.bar.update(self.step - self.bar.n)
            self.train_epoch(batches)
            ended = self.first >= len(batches)  # the whole epoch ran (not cut by the plan or the budget)
            if ended and not self.task.eval_every:
                self.evaluate(self.epoch)
                self.stop_on_patience(self.epoch)
            if ended:
                self.epoch, self.first = self.epoch + 1, 0
                if self.save_every:
                    self.save(0)
        if self.task.eval_every and self.evaluated_at != self.step:
            self.evaluate(self.step)  # the run ended between evaluations: score where it stands
        elif not self.task.eval_every and self.first:
            self.evaluate(self.epoch)  # cut mid-epoch (by the plan or the budget)
        if self.stopped is None and self.step < self.planned:
            self.stopped = f"stopping: time budget of {self.run_cfg.max_minutes:g} min reached"

    def draw(self) -> Sequence[Any]:
        """This epoch's batches; a resumed epoch is drawn again from its saved start state."""
        from audio_rnn.training.resume import named_rng_states, set_named_rng_states

        t = time.perf_counter()
        rngs = self.task.rngs()
        if self.first:
            now = named_rng_states(rngs)
            set_named_rng_states(rngs, self.epoch_start)
            batches = self.task.batches(self.epoch)
            set_named_rng_states(self.task.rngs(), now)
        else:
            self.epoch_start = named_rng_states(rngs)
            batches = self.task.batches(self.epoch)
        self.data_seconds = time.perf_counter() - t
        return batches

    def train_epoch(self, batches: Sequence[Any]) -> None:
        """Optimiser steps over the epoch's batches from `first`; evaluations and saves on their steps."""
        from torch import nn

        task = self.task
        task.model.train()
        for k in range(self.first, len(batches)):
            loss, weight = task.loss(batches[k], self.step, self.total)
            task.opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(task.model.parameters(), task.clip)
            task.opt.step()
            if task.sched is not None and task.sched.last_epoch + 1 < getattr(task.sched, "total_steps", math.inf):
                task.sched.step()
            self.loss_sum, self.loss_n = self.loss_sum + float(loss.detach()) * weight, self.loss_n + weight
            self.step, self.first = self.step + 1, k + 1
            self.bar.update(1)
            if task.eval_every and self.step % task.eval_every == 0 and self.step < self.total:
                self.evaluate(self.step)
                task.model.train()
            self.fit_to_budget()
            if self.save_every and self.step % self.save_every == 0 and k + 1 < len(batches) \
                    and self.step < self.total:
                self.save(k + 1)
            if self.step >= self.total or self.out_of_time():
                return

    def evaluate(self, at: int) -> None:
        """Score the model (main process), record the row, offer the weights to the selection."""
        from audio_rnn.training import distributed

        t = time.perf_counter()
        total, n = distributed.all_reduce_sum([self.loss_sum, self.loss_n], self.ctx)
        self.loss_sum = self.loss_n = 0.0
        main = self.ctx.is_main
        score, fields = distributed.broadcast_object(self.task.validate(total / max(n, 1e-12)) if main else None,
                                                     self.ctx)
        row = {self.unit: at, **fields, "seconds": round(self.sel.seconds(), 1)}
        if self.unit == "epoch":
            row["data_seconds"] = round(self.data_seconds, 1)
        self.history.append(row)
        best = self.sel.offer(at, score, self.task.model, info=fields)
        if main:
            self.task.on_eval(row, best)
        self.evaluated_at, self.eval_seconds = at, time.perf_counter() - t

    def stop_on_patience(self, at: int) -> None:
        from audio_rnn.training import distributed

        self.stopped = distributed.broadcast_object(self.sel.stop_reason(at), self.ctx)  # every rank stops together
        if self.stopped and self.ctx.is_main:
            log(self.stopped)

    def deadline(self) -> float:
        """When training must end to leave time for a last evaluation (inf without a budget)."""
        minutes = self.run_cfg.max_minutes
        return self.sel.started + minutes * 60 - self.eval_seconds if minutes else math.inf

    def fit_to_budget(self) -> None:
        """Under a budget, every 50 steps: plan only the steps the time left allows (a schedule ends with it)."""
        from audio_rnn.training import distributed

        if not self.run_cfg.max_minutes or self.step % 50:
            return
        per_step = self.sel.seconds() / max(1, self.step)
        fit = self.step + int((self.deadline() - time.perf_counter()) / per_step)
        fit = min(self.planned, max(self.step + 1, fit))
        self.total = distributed.broadcast_object(fit, self.ctx)  # rank 0's clock decides
        self.bar.total = self.total

    def out_of_time(self) -> bool:
        """True once the budget is spent (under torchrun: rank 0's clock, every 10 steps)."""
        from audio_rnn.training import distributed

        if not self.run_cfg.max_minutes:
            return False
        late = time.perf_counter() > self.deadline()
        if self.ctx.is_distributed:
            late = distributed.broadcast_object(late, self.ctx) if self.step % 10 == 0 else False
        if late:
            self.stopped = f"stopping: time budget of {self.run_cfg.max_minutes:g} min reached"
            if self.ctx.is_main:
                log(self.stopped)
        return late

    def save(self, batch: int) -> None:
        """The resumable state at (epoch, batch); every process calls it, the main one writes."""
        from audio_rnn.training import distributed
        from audio_rnn.training.resume import TrainState

        total, n = distributed.all_reduce_sum([self.loss_sum, self.loss_n], self.ctx)  # the main process resumes it
        loop = {"total": self.total, "planned": self.planned, "per_epoch": self.per_epoch, "history": self.history,
                "selection": self.sel.state(), "loss": [total, n], "epoch_start": self.epoch_start,
                "evaluated_at": self.evaluated_at, "eval_seconds": self.eval_seconds}
        TrainState.save(self.state_dir, self.task.net, self.task.opt, self.task.sched, step=self.step,
                        epoch=self.epoch, batch_in_epoch=batch, rngs=self.task.rngs(),
                        extra={"loop": loop, "task": self.task.state()})

    def resume(self) -> None:
        """Weights, optimiser, schedule, RNGs, the task's state and the position, from the saved state."""
        from audio_rnn.training.resume import TrainState

        peek = TrainState.peek(self.state_dir)
        self.task.begin_epoch(peek.epoch)
        st = TrainState.load(self.state_dir, self.task.net, self.task.opt, self.task.sched, rngs=self.task.rngs())
        loop = st.extra["loop"]
        self.task.load_state(st.extra["task"])
        self.epoch, self.first, self.step = st.epoch, st.batch_in_epoch, st.step
        self.total, self.planned, self.per_epoch = loop["total"], loop["planned"], loop["per_epoch"]
        self.history = loop["history"]
        self.sel.load(loop["selection"])
        self.loss_sum, self.loss_n = loop["loss"] if self.ctx.is_main else (0.0, 0.0)
        self.epoch_start, self.evaluated_at, self.eval_seconds = loop["epoch_start"], loop["evaluated_at"], \
            loop["eval_seconds"]
        if self.ctx.is_main:
            log(f"resuming at epoch {self.epoch}, batch {self.first}, step {self.step}")

    def finish(self) -> Fitted:
        """Weight averaging (main process), then the kept weights, on the CPU, in eval mode."""
        task, main = self.task, self.ctx.is_main
        note = self.sel.average(task.model, lambda: task.validate(math.nan)) if main else None
        if note:
            log(f"weight average of the last {note['epochs_averaged']} evaluations: validation score "
                f"{note['score']:.4f} ({'kept' if note['used'] else 'best single evaluation kept'})")
        model = self.sel.restore_best(task.model) if task.keep == "best" else task.model.to("cpu").eval()
        task.model = model
        return Fitted(self.sel, self.history, self.step, self.stopped, note, self.per_epoch)

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


def add_run_flags(p: argparse.ArgumentParser, threads: int | None = None,
                  threads_help: str = "torch CPU threads (0: torch's default)",
                  device_help: str = "where the network trains: cpu or cuda") -> None:
    """--max-minutes, --threads, --device, --quiet: the run flags every trainer takes (`RunConfig`'s fields)."""
    p.add_argument("--max-minutes", type=float, default=None,
                   help="wall-clock budget: training stops when it is spent, keeping the best model (default: none)")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1) if threads is None else threads,
                   help=threads_help)
    p.add_argument("--device", default="cpu", help=device_help)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_data_flags(p: argparse.ArgumentParser, exclude_help: str) -> None:
    """--holdout-speakers, --val-speakers and --exclude-words: speakers kept out for testing, speakers that
    choose the epoch, words left out of training."""
    p.add_argument("--holdout-speakers", default="", help="comma-separated FSDD speakers kept out of training")
    p.add_argument("--val-speakers", default="",
                   help="comma-separated FSDD speakers in the validation fold (they choose the epoch; not trained on)")
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
