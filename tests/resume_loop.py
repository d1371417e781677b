"""A small but complete training run through the project's one loop (`audio_rnn.training.loop.fit`), for the
kill-and-resume tests.

A GRU classifier with dropout (torch RNG), numpy-RNG input noise and batch order, Adam + OneCycleLR, as a `Task`.
Each optimizer step appends `{"step": s, "loss": repr}` to OUT/losses.jsonl. Run it directly:
    python tests/resume_loop.py OUT [--steps N] [--save-every K] [--resume] [--sleep S]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from audio_rnn.training import distributed
from audio_rnn.training.loop import RunConfig, Task, fit


class Net(nn.Module):
    def __init__(self, dim: int = 8, hidden: int = 16, classes: int = 4):
        super().__init__()
        self.rnn = nn.GRU(dim, hidden, batch_first=True)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x)
        return self.out(self.drop(h[:, -1]))


class ToyTask(Task):
    """Fixed data; each epoch a new order drawn from the task's generator, noise from another; every step logged."""

    name = "toy"

    def __init__(self, out: Path, steps: int, seed: int, sleep: float):
        self.ctx = distributed.context()
        gen = torch.Generator().manual_seed(123)  # the data itself: fixed, independent of the run's RNG
        self.x = torch.randn(96, 12, 8, generator=gen)
        self.y = (self.x[:, :, 0].sum(1) > 0).long() + 2 * (self.x[:, :, 1].sum(1) > 0).long()
        torch.manual_seed(seed)
        self.model = Net()
        self.net = distributed.wrap(self.model, self.ctx)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=3e-3)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.opt, max_lr=1e-2, total_steps=steps)
        self.noise, self.order = np.random.default_rng(seed), np.random.default_rng(seed + 1)
        self.steps, self.sleep = steps, sleep
        self.log = (out / "losses.jsonl").open("a") if self.ctx.is_main else None

    def rngs(self) -> dict:
        return {"noise": self.noise, "order": self.order}

    def batches(self, epoch: int) -> list:
        mine = self.order.permutation(len(self.y))[self.ctx.rank::self.ctx.world_size]
        return [mine[i:i + 8] for i in range(0, len(mine), 8)]

    def planned_steps(self, per_epoch: int, epochs: float) -> int:
        return self.steps

    def loss(self, idx, step: int, total: int):
        xb = self.x[idx] + torch.from_numpy(self.noise.normal(0, 0.1, (len(idx), 12, 8)).astype(np.float32))
        loss = nn.functional.cross_entropy(self.net(xb), self.y[idx])
        mean = distributed.all_reduce_mean(loss.item(), self.ctx)
        if self.log:
            self.log.write(json.dumps({"step": step + 1, "loss": repr(mean), "rank_loss": repr(loss.item())}) + "\n")
            self.log.flush()
        if self.sleep:
            time.sleep(self.sleep)
        return loss, len(idx)

    def validate(self, train_loss: float):
        with torch.no_grad():
            acc = float((self.model.eval()(self.x).argmax(-1) == self.y).float().mean())
        return acc, {"loss": train_loss, "accuracy": acc}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--save-every", type=int, default=5)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--sleep", type=float, default=0.0, help="seconds per step, so a test can kill mid-run")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    distributed.setup(device="cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    task = ToyTask(args.out, args.steps, args.seed, args.sleep)
    fit(task, RunConfig(epochs=args.steps, seed=args.seed, threads=1), args.out, save_every=args.save_every,
        resume=args.resume, progress=False)
    if task.log:
        task.log.close()
    distributed.cleanup()


if __name__ == "__main__":
    main()
