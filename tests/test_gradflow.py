"""Gradient flow: vanishing for the tanh RNN, slow decay for trained LSTM/GRU, exploding, clipping, CLI plots."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from audio_rnn.scratch import gradflow
from audio_rnn.cli import main
from audio_rnn.scratch.cells import CELLS

torch.set_num_threads(1)


def test_adding_batch_targets_are_the_marked_sum():
    x, y = gradflow.adding_batch(100, 16, np.random.default_rng(0))
    assert x.shape == (100, 16, 2)
    assert np.all(x[..., 1].sum(axis=0) == 2)
    assert np.all(x[:10, :, 1].sum(axis=0) == 1) and np.all(x[50:, :, 1].sum(axis=0) == 1)
    np.testing.assert_allclose(y, (x[..., 0] * x[..., 1]).sum(axis=0))


@pytest.mark.parametrize("cell", CELLS)
def test_at_init_gradients_vanish_exponentially(cell):
    r = gradflow.flow_at_init(cell, 400)
    assert r["norm"].shape == r["distance"].shape == (400,)
    assert r["relative"][0] == 1.0
    assert r["decay_per_step"] < 0.8  # torch's default init: spectral radius ~0.6
    assert r["relative"][-1] < 1e-30
    assert 0.4 < r["spectral_radius"] < 0.8


def test_tanh_rnn_vanishes_fastest_and_explodes_with_large_radius():
    rnn = gradflow.flow_at_init("rnn", 200)["decay_per_step"]
    assert rnn < min(gradflow.flow_at_init(c, 200)["decay_per_step"] for c in ("lstm", "gru"))
    sweep = gradflow.radius_sweep("rnn", [0.5, 1.0, 2.0, 3.0], 200)
    assert np.all(np.diff(sweep["decay_per_step"]) > 0)
    assert sweep["decay_per_step"][0] < 0.6 and sweep["decay_per_step"][-1] > 1.1
    exploding = gradflow.flow_at_init("rnn", 200, radius=3.0)
    assert exploding["relative"][-1] > 1e10
    assert exploding["spectral_radius"] == pytest.approx(3.0)


def test_remember_gate_bias_slows_the_decay():
    plain = gradflow.flow_at_init("lstm", 200)["decay_per_step"]
    biased = gradflow.flow_at_init("lstm", 200, gate_bias=3.0)["decay_per_step"]
    assert biased > plain + 0.1


def test_trained_lstm_solves_adding_problem_and_keeps_its_gradient():
    trained = gradflow.train_adding("lstm", steps=800, seed=0)
    assert trained["final_mse"] < 0.1 * gradflow.ADDING_BASELINE_MSE
    after = gradflow.flow_after_training(trained, 200)
    before = gradflow.flow_at_init("lstm", 200)
    assert after["decay_per_step"] > 0.97 > before["decay_per_step"]
    assert after["relative"][-1] > 1e-6


@pytest.mark.slow
def test_trained_rnn_fails_where_gated_cells_succeed():
    results = {c: gradflow.train_adding(c, steps=800, seed=0) for c in CELLS}
    assert results["rnn"]["final_mse"] > 0.5 * gradflow.ADDING_BASELINE_MSE
    for c in ("lstm", "gru"):
        assert results[c]["final_mse"] < 0.1 * gradflow.ADDING_BASELINE_MSE
    decay = {c: gradflow.flow_after_training(results[c], 200)["decay_per_step"] for c in CELLS}
    assert decay["rnn"] < 0.8 and decay["lstm"] > 0.97 and decay["gru"] > 0.95


def test_clipping_keeps_exploding_training_finite():
    r = gradflow.clipping_demo(steps=60)
    assert r["diverged_noclip"] >= 0  # plain SGD blows up
    assert r["diverged_clip"] == -1
    assert np.all(np.isfinite(r["loss_clip"]))
    assert np.nanmax(r["norm_noclip"]) > 1e6
    assert r["loss_clip"][-10:].mean() < 0.5 * r["loss_clip"][0]


def test_gradflow_cli_writes_plots_and_json(tmp_path, capsys):
    out = tmp_path / "plots"
    code = main(["gradflow", "--out", str(out), "--json", "--length", "60", "--hidden", "8", "--train-steps", "50"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["length"] == 60
    assert set(summary["decay_per_step_init"]) == set(CELLS)
    assert summary["clipping"]["diverged_step_noclip"] >= 0
    names = {"decay_init.png", "decay_trained.png", "radius.png", "clipping.png", "char_demo.png", "adding_training.png"}
    assert {p.name for p in out.iterdir()} == names
    for name in names:
        image = plt.imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0
    assert plt.get_fignums() == []  # every figure closed


def test_gradflow_cli_rejects_bad_arguments(tmp_path, capsys):
    assert main(["gradflow", "--out", str(tmp_path), "--length", "1"]) == 1
    assert "AudioRnnError" in capsys.readouterr().err
