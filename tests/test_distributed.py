"""The real trainers under torchrun: 2 CPU processes (gloo, DDP, DistributedSampler shards), rank 0
logs and writes one checkpoint that `classify --model` loads; the helpers are no-ops in one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from audio_rnn.training import distributed

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def test_torchrun_two_processes_train_kws_writes_a_checkpoint_classify_loads(tmp_path, fsdd_dir):
    out = tmp_path / "kws"
    cmd = TORCHRUN + ["-m", "audio_rnn", "train-kws", "--data", str(fsdd_dir.parent), "--epochs", "1",
                      "--holdout-speakers", "george,jackson,lucas",  # 2 of 5 speakers: keeps CI short
                      "--out", str(out), "--no-eval", "--hidden", "16", "--layers", "1", "--quiet", "--threads", "1"]
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=400, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    logs = r.stdout + r.stderr
    assert "2 processes (gloo)" in logs
    assert logs.count('"epoch": 1') == 1 and r.stdout.count("saved ") == 1  # rank 0 only
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["kind"] == "kws" and cfg["training"]["epochs_run"] == 1
    wav = next(fsdd_dir.glob("7_*.wav"))
    c = subprocess.run([sys.executable, "-m", "audio_rnn", "classify", "--model", str(out), "--json", str(wav)],
                       env=ENV, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert c.returncode == 0, c.stderr
    res = json.loads(c.stdout.strip().splitlines()[-1])
    assert res["label"] in cfg["labels"] and abs(sum(res["probs"].values()) - 1) < 1e-3


def test_single_process_helpers_are_no_ops():
    ctx = distributed.setup(device="cpu")
    assert (ctx.rank, ctx.world_size, ctx.is_main, ctx.is_distributed, ctx.backend) == (0, 1, True, False, None)
    model = torch.nn.Linear(3, 2)
    assert distributed.wrap(model, ctx) is model and distributed.unwrap(model) is model
    order = torch.arange(10)
    assert torch.equal(distributed.shard(order, ctx), order)
    assert distributed.all_reduce_mean(2.5, ctx) == 2.5 and distributed.all_reduce_sum([1, 2], ctx) == [1.0, 2.0]
    assert distributed.broadcast_object({"a": 1}, ctx) == {"a": 1} and distributed.gather_objects(7, ctx) == [7]
    distributed.barrier(ctx)
    distributed.cleanup()
    assert distributed.is_main()


def test_shards_cover_an_epoch_with_equal_counts():
    order = torch.randperm(23, generator=torch.Generator().manual_seed(0))
    parts = [distributed.shard(order, distributed.DistContext(rank=r, world_size=3, backend="gloo")) for r in range(3)]
    assert len({len(p) for p in parts}) == 1  # equal step counts: no rank waits forever in an all-reduce
    assert set(torch.cat(parts).tolist()) == set(range(23))


def test_bad_torchrun_environment_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(RuntimeError, match="inconsistent"):
        distributed.env_world()


@pytest.mark.slow  # ~30 s; the train-kws torchrun test runs by default
def test_torchrun_two_processes_train_gen_writes_a_checkpoint_generate_loads(tmp_path):
    out = tmp_path / "gen"
    corpus = ROOT / "samples" / "abc" / "irish_session_tunes.abc"
    cmd = TORCHRUN + ["-m", "audio_rnn", "train-gen", "--corpus", str(corpus), "--hidden", "32", "--layers", "1",
                      "--embed", "16", "--batch", "8", "--bptt", "32", "--steps", "30", "--eval-every", "15",
                      "--threads", "1", "--quiet", "--out", str(out)]
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("best validation bits/char") == 1  # rank 0 only
    hist = json.loads((out / "history.json").read_text())
    assert hist["steps"] == 30 and [h["step"] for h in hist["history"]] == [15, 30]
    g = subprocess.run([sys.executable, "-m", "audio_rnn", "generate", "--model", str(out), "--length", "80",
                        "--seed", "1"], env=ENV, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert g.returncode == 0, g.stderr[-2000:]
    assert g.stdout.strip()


def test_each_rank_augments_only_its_shard_and_gets_what_one_process_would():
    """train-kws renders a rank's part of the epoch alone; every item equals the whole epoch's rendering."""
    import numpy as np

    from audio_rnn.audio.augment import AugmentConfig
    from audio_rnn.keywords.data import LABELS, Clip
    from audio_rnn.keywords.train import TrainConfig, epoch_plan, render

    rng = np.random.default_rng(0)
    clips = [Clip((0.3 * rng.standard_normal(4000)).astype(np.float32), lab, "s", "fsdd")
             for lab in ("one", "two", "_unknown_") for _ in range(30)]
    plan = epoch_plan(clips, LABELS, np.random.default_rng(5), TrainConfig())
    assert (plan.sources < 0).sum() >= 1  # fresh silence items are in the plan too
    aug = AugmentConfig()
    whole = render(plan, range(len(plan)), clips, aug)
    order = torch.from_numpy(np.random.default_rng(6).permutation(len(plan)))
    for r in range(2):
        mine = distributed.shard(order, distributed.DistContext(rank=r, world_size=2, backend="gloo")).numpy()
        np.testing.assert_array_equal(render(plan, mine, clips, aug), whole[mine])
    assert len(plan) > 64  # enough items for the threaded path
    np.testing.assert_array_equal(render(plan, range(len(plan)), clips, aug, threads=2), whole)
