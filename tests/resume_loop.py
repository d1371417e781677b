"""A small but complete training run built on audio_rnn.training.resume, for the kill-and-resume tests.

GRU classifier with dropout (torch RNG), numpy-RNG input noise, Adam + OneCycleLR, shuffled
mini-batches from ResumableSampler and a DataLoader with its own generator. Each optimizer step
appends `{"step": s, "loss": repr}` to OUT/losses.jsonl. Run it directly:
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
from torch.utils.data import DataLoader, TensorDataset

from audio_rnn.training import distributed
from audio_rnn.training.resume import ResumableSampler, TrainState, seed_everything


class Net(nn.Module):
    def __init__(self, dim: int = 8, hidden: int = 16, classes: int = 4):
        super().__init__()
        self.rnn = nn.GRU(dim, hidden, batch_first=True)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x)
        return self.out(self.drop(h[:, -1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--save-every", type=int, default=5)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--sleep", type=float, default=0.0, help="seconds per step, so a test can kill mid-run")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ctx = distributed.setup(device="cpu")

    gen = torch.Generator().manual_seed(123)  # the data itself: fixed, independent of the run's RNG
    x = torch.randn(96, 12, 8, generator=gen)
    y = (x[:, :, 0].sum(1) > 0).long() + 2 * (x[:, :, 1].sum(1) > 0).long()
    data = TensorDataset(x, y)
    batch = 8

    seed_everything(args.seed)
    model = Net()
    net = distributed.wrap(model, ctx)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=args.steps)
    noise_rng = np.random.default_rng(args.seed)
    loader_gen = torch.Generator().manual_seed(args.seed)
    sampler = distributed.sampler(len(data), ctx, seed=args.seed)
    resume_dir = args.out / "resume"

    step, start_epoch, skip = 0, 0, 0
    if args.resume and TrainState.exists(resume_dir):
        st = TrainState.load(resume_dir, model, opt, sched, rngs={"noise": noise_rng, "loader": loader_gen})
        step, start_epoch, skip = st.step, st.epoch, st.batch_in_epoch
    args.out.mkdir(parents=True, exist_ok=True)
    log = (args.out / "losses.jsonl").open("a") if ctx.is_main else None
    epoch = start_epoch
    while step < args.steps:
        first = epoch == start_epoch
        sampler.set_epoch(epoch, skip=skip * batch if first else 0)
        loader = DataLoader(data, batch_size=batch, sampler=sampler, generator=loader_gen)
        for i, (xb, yb) in enumerate(loader, start=skip if first else 0):
            xb = xb + torch.from_numpy(noise_rng.normal(0, 0.1, xb.shape).astype(np.float32))
            loss = nn.functional.cross_entropy(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            mean = distributed.all_reduce_mean(loss.item(), ctx)
            if log:
                log.write(json.dumps({"step": step, "loss": repr(mean), "rank_loss": repr(loss.item())}) + "\n")
                log.flush()
            if args.save_every and step % args.save_every == 0:
                TrainState.save(resume_dir, net, opt, sched, step=step, epoch=epoch, batch_in_epoch=i + 1,
                                rngs={"noise": noise_rng, "loader": loader_gen}, extra={"last_loss": mean})
            if args.sleep:
                time.sleep(args.sleep)
            if step >= args.steps:
                break
        epoch += 1
    if log:
        log.close()
    distributed.cleanup()


if __name__ == "__main__":
    main()
