"""Resumable training: a real training process is SIGKILLed mid-run and resumed; its losses must
equal an uninterrupted run's with the same seed, bit for bit (CPU, one thread)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from audio_rnn.errors import CheckpointError
from audio_rnn.training.resume import STATE_JSON, TrainState

ROOT = Path(__file__).resolve().parents[1]
LOOP = ROOT / "tests" / "resume_loop.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _losses(out: Path) -> list[dict]:
    path = out / "losses.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip().endswith("}")]


def _descendants(pid: int) -> list[int]:
    """All descendant pids of `pid` (from /proc), so a kill takes torchrun's workers too."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def _kill9_tree(proc: subprocess.Popen) -> None:
    for pid in [proc.pid, *_descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


def _run(cmd: list[str], timeout: float = 180) -> None:
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-3000:]


def _kill_then_resume(cmd: list[str], out: Path, kill_after_step: int, save_every: int, per_epoch: int) -> None:
    """Start `cmd`, SIGKILL it (and its workers) once it has logged `kill_after_step`, resume it."""
    proc = subprocess.Popen(cmd + ["--sleep", "0.2"], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 150
    try:
        while time.time() < deadline and proc.poll() is None:
            if len(_losses(out)) >= kill_after_step:
                break
            time.sleep(0.05)
    finally:
        done_before_kill = proc.poll() is not None
        _kill9_tree(proc)
    assert not done_before_kill, proc.stderr.read().decode()[-3000:]
    killed_at = len(_losses(out))
    assert killed_at >= kill_after_step
    saved = json.loads((out / "resume" / STATE_JSON).read_text())["step"]
    assert 0 < saved <= killed_at and (saved % save_every == 0 or saved % per_epoch == 0)  # and at epoch ends
    _run(cmd + ["--resume"])


def _compare(ref: Path, out: Path, steps: int) -> tuple[int, int]:
    """The resumed log repeats the steps after the last save; every logged loss must match `ref`."""
    want = {d["step"]: d["loss"] for d in _losses(ref)}
    got = _losses(out)
    assert sorted(want) == list(range(1, steps + 1))
    assert {d["step"] for d in got} == set(want)
    mismatched = [(d["step"], d["loss"], want[d["step"]]) for d in got if d["loss"] != want[d["step"]]]
    assert not mismatched, mismatched[:5]
    repeated = len(got) - steps
    assert repeated >= 1  # steps between the last save and the kill were really re-run
    return len(got), repeated


@pytest.mark.slow  # the real trainers' kill tests below cover this in the default run
def test_kill9_mid_run_then_resume_matches_uninterrupted(tmp_path):
    steps, every = 30, 5
    base = [sys.executable, str(LOOP), "--steps", str(steps), "--save-every", str(every)]
    _run(base[:2] + [str(tmp_path / "ref")] + base[2:])
    cmd = base[:2] + [str(tmp_path / "run")] + base[2:]
    _kill_then_resume(cmd, tmp_path / "run", kill_after_step=13, save_every=every, per_epoch=12)
    _compare(tmp_path / "ref", tmp_path / "run", steps)


@pytest.mark.slow
def test_kill9_torchrun_two_ranks_then_resume_matches(tmp_path):
    """Same under torchrun with 2 gloo ranks (DDP, DistributedSampler, per-rank RNG states)."""
    steps, every = 20, 5
    tr = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(LOOP)]
    tail = ["--steps", str(steps), "--save-every", str(every)]
    _run(tr + [str(tmp_path / "ref")] + tail)
    _kill_then_resume(tr + [str(tmp_path / "run")] + tail, tmp_path / "run", kill_after_step=12, save_every=every, per_epoch=6)
    _compare(tmp_path / "ref", tmp_path / "run", steps)


# --------------------------------------------------------------------------- in-process pieces


def _tiny():
    random.seed(3)
    np.random.seed(3)
    torch.manual_seed(3)
    model = torch.nn.LSTM(4, 6, batch_first=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    return model, opt, sched


def _train(model, opt, sched, n):
    losses = []
    for _ in range(n):
        x = torch.randn(3, 5, 4) + float(np.random.rand()) + random.random()
        loss = model(x)[0].pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


def test_state_roundtrip_restores_optimizer_scheduler_and_all_rngs(tmp_path):
    model, opt, sched = _tiny()
    _train(model, opt, sched, 3)
    gen = np.random.default_rng(5)
    tgen = torch.Generator().manual_seed(9)
    TrainState.save(tmp_path, model, opt, sched, step=3, epoch=1, batch_in_epoch=2, extra={"best": 0.5, "hist": [1, 2]},
                    rngs={"g": gen, "t": tgen})
    expect = _train(model, opt, sched, 4), gen.random(), torch.rand(1, generator=tgen).item()

    model2, opt2, sched2 = _tiny()
    gen2, tgen2 = np.random.default_rng(0), torch.Generator()
    st = TrainState.load(tmp_path, model2, opt2, sched2, rngs={"g": gen2, "t": tgen2})
    assert (st.step, st.epoch, st.batch_in_epoch, st.extra) == (3, 1, 2, {"best": 0.5, "hist": [1, 2]})
    assert sched2.last_epoch == 3 and opt2.param_groups[0]["lr"] == sched.base_lrs[0] * 0.5
    got = _train(model2, opt2, sched2, 4), gen2.random(), torch.rand(1, generator=tgen2).item()
    assert got == expect


def test_a_killed_save_leaves_the_previous_state(tmp_path):
    """Weights written but JSON not yet replaced (kill -9 between the two renames) or a stray temp file."""
    model, opt, sched = _tiny()
    TrainState.save(tmp_path, model, opt, sched, step=4)
    (tmp_path / "state-000000008.safetensors").write_bytes(b"\x00" * 100)  # orphan of an interrupted save
    (tmp_path / f".{STATE_JSON}.abc.tmp").write_text('{"half": ')
    model2, opt2, sched2 = _tiny()
    assert TrainState.load(tmp_path, model2, opt2, sched2).step == 4
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)
    TrainState.save(tmp_path, model, opt, sched, step=12)  # the next save cleans up
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state-000000012.safetensors", STATE_JSON]


@pytest.mark.parametrize("damage", ["truncate", "flip", "json", "newer", "missing", "shape", "optimizer"])
def test_damaged_state_gives_checkpoint_error(tmp_path, damage):
    model, opt, sched = _tiny()
    TrainState.save(tmp_path, model, opt, sched, step=2)
    weights = next(tmp_path.glob("state-*.safetensors"))
    rec_path = tmp_path / STATE_JSON
    rec = json.loads(rec_path.read_text())
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:-50])
    elif damage == "flip":
        b = bytearray(weights.read_bytes())
        b[-1] ^= 0xFF
        weights.write_bytes(bytes(b))
    elif damage == "json":
        rec_path.write_text(rec_path.read_text()[:200])
    elif damage == "newer":
        rec["version"] = 99
        rec_path.write_text(json.dumps(rec))
    elif damage == "missing":
        weights.unlink()
    model2, opt2, sched2 = _tiny()
    if damage == "shape":
        model2 = torch.nn.LSTM(4, 7, batch_first=True)
        opt2 = torch.optim.AdamW(model2.parameters())
        sched2 = None
    if damage == "optimizer":
        opt2 = torch.optim.AdamW([{"params": [model2.weight_ih_l0]}, {"params": [model2.weight_hh_l0]}])
        sched2 = None
    with pytest.raises(CheckpointError) as err:
        TrainState.load(tmp_path, model2, opt2, sched2)
    assert "Traceback" not in err.value.one_line() and len(err.value.one_line().splitlines()) == 1


def test_no_state_is_a_clear_error(tmp_path):
    assert not TrainState.exists(tmp_path)
    with pytest.raises(CheckpointError, match="no training state"):
        TrainState.load(tmp_path, torch.nn.Linear(2, 2))


# --------------------------------------------------------------------------- the real keyword trainer


def _kws_cmd(fsdd_dir: Path, out: Path, torchrun: bool = False, epochs: int = 2) -> list[str]:
    head = [sys.executable] + (["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"] if torchrun
                               else [])
    return head + ["-m", "audio_rnn", "train-kws", "--data", str(fsdd_dir), "--holdout-speakers",
                   "george,jackson,lucas", "--epochs", str(epochs), "--no-eval", "--hidden", "16", "--layers", "1",
                   "--quiet", "--threads", "1", "--save-every", "7", "--out", str(out)]


def _kill_at_first_state_then_resume(cmd: list[str], out: Path) -> dict:
    """Run `cmd`, SIGKILL it (with any workers) as soon as its first training state is committed, resume."""
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state = out / "resume" / STATE_JSON
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None and not state.is_file():
            time.sleep(0.01)
    finally:
        finished = proc.poll() is not None
        _kill9_tree(proc)
    assert not finished, proc.stderr.read().decode()[-3000:]
    saved = json.loads(state.read_text())
    assert not (out / "model.safetensors").exists()  # really killed before the end
    _run(cmd + ["--resume"], timeout=400)
    return saved


def _same_checkpoints(a: Path, b: Path) -> None:
    from audio_rnn.training import checkpoint

    ta, ca = checkpoint.load(a)
    tb, cb = checkpoint.load(b)
    assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta), "final weights differ"
    ha, hb = ca["training"]["history"], cb["training"]["history"]
    assert [(h["loss"], h["val_accuracy"]) for h in ha] == [(h["loss"], h["val_accuracy"]) for h in hb]


def test_train_kws_killed_mid_epoch_resumes_to_the_same_model(tmp_path, fsdd_dir):
    """`train-kws --save-every 7` SIGKILLed right after its first state (step 7 of 15), then `--resume`:
    the final weights are bit-identical to an unbroken run's and so are the per-epoch losses."""
    _run(_kws_cmd(fsdd_dir, tmp_path / "ref", epochs=1), timeout=400)
    saved = _kill_at_first_state_then_resume(_kws_cmd(fsdd_dir, tmp_path / "run", epochs=1), tmp_path / "run")
    assert saved["step"] == 7 and saved["batch_in_epoch"] == 7  # a mid-epoch state
    _same_checkpoints(tmp_path / "ref", tmp_path / "run")


@pytest.mark.slow
def test_train_kws_under_torchrun_killed_and_resumed_matches(tmp_path, fsdd_dir):
    _run(_kws_cmd(fsdd_dir, tmp_path / "ref", torchrun=True), timeout=400)
    saved = _kill_at_first_state_then_resume(_kws_cmd(fsdd_dir, tmp_path / "run", torchrun=True), tmp_path / "run")
    assert saved["world_size"] == 2 and len(saved["rng"]) == 2
    _same_checkpoints(tmp_path / "ref", tmp_path / "run")


# --------------------------------------------------------------------------- the real generator trainer


def _gen_cmd(out: Path, torchrun: bool = False) -> list[str]:
    head = [sys.executable] + (["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"] if torchrun
                               else [])
    return head + ["-m", "audio_rnn", "train-gen", "--corpus", str(ROOT / "samples" / "abc" / "irish_session_tunes.abc"),
                   "--hidden", "96", "--layers", "1", "--embed", "16", "--batch", "8", "--bptt", "32", "--steps", "60",
                   "--eval-every", "25", "--threads", "1", "--quiet", "--save-every", "8", "--out", str(out)]


def _same_generators(a: Path, b: Path) -> None:
    from audio_rnn.training import checkpoint

    ta, _ = checkpoint.load(a)
    tb, _ = checkpoint.load(b)
    assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta), "final weights differ"
    ha = json.loads((a / "history.json").read_text())["history"]
    hb = json.loads((b / "history.json").read_text())["history"]
    assert [(h["step"], h["val_bpc"], h["train_bpc"]) for h in ha] == [(h["step"], h["val_bpc"], h["train_bpc"]) for h in hb]


@pytest.mark.slow  # ~25-65 s on the shared machine; train-kws's kill test runs by default
def test_train_gen_killed_mid_epoch_resumes_to_the_same_model(tmp_path):
    """`train-gen --save-every 8` SIGKILLed after its first state (chunk 8 of 23, hidden state carried), then
    `--resume`: weights and the validation/training bits-per-char history equal an unbroken run's."""
    _run(_gen_cmd(tmp_path / "ref"))
    saved = _kill_at_first_state_then_resume(_gen_cmd(tmp_path / "run"), tmp_path / "run")
    assert saved["batch_in_epoch"] > 0
    _same_generators(tmp_path / "ref", tmp_path / "run")


@pytest.mark.slow
def test_train_gen_under_torchrun_killed_and_resumed_matches(tmp_path):
    _run(_gen_cmd(tmp_path / "ref", torchrun=True))
    saved = _kill_at_first_state_then_resume(_gen_cmd(tmp_path / "run", torchrun=True), tmp_path / "run")
    assert saved["world_size"] == 2
    _same_generators(tmp_path / "ref", tmp_path / "run")
