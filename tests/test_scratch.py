"""The numpy RNN/LSTM/GRU: BPTT against finite differences and torch autograd, interop, trace, clipping, demo."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_rnn.scratch import cells, char_demo, gradcheck, torch_bridge
from audio_rnn.cli import main
from audio_rnn.scratch.cells import CELLS, Recurrent

torch.set_num_threads(1)


@pytest.mark.parametrize("cell", CELLS)
def test_finite_differences_agree_with_bptt(cell):
    err = gradcheck.finite_difference_check(cell, num_layers=2, seed=1)
    assert err < 1e-6


@pytest.mark.parametrize("cell", CELLS)
def test_outputs_and_gradients_equal_torch_float64(cell):
    assert gradcheck.torch_check(cell, num_layers=2, seed=2) < 1e-8


@pytest.mark.parametrize("cell", CELLS)
def test_float32_matches_torch_and_keeps_dtype(cell):
    assert gradcheck.torch_check(cell, num_layers=1, seed=3, dtype=np.float32) < 1e-5
    model = Recurrent.init(cell, 3, 4, dtype=np.float32)
    out, _, caches = model.forward(np.ones((5, 2, 3)))
    grads = model.backward(caches, np.ones_like(out))
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.as_dict().values())
    # float32 gradients agree with the float64 ones to float32 accuracy
    m64 = model.astype(np.float64)
    out64, _, c64 = m64.forward(np.ones((5, 2, 3)))
    g64 = m64.backward(c64, np.ones_like(out64)).as_dict()
    for name, g in grads.as_dict().items():
        np.testing.assert_allclose(g, g64[name], rtol=1e-4, atol=1e-5)


@settings(max_examples=12, deadline=None)
@given(
    cell=st.sampled_from(CELLS),
    T=st.integers(1, 7),
    B=st.integers(1, 3),
    I=st.integers(1, 4),
    H=st.integers(1, 5),
    layers=st.integers(1, 3),
    seed=st.integers(0, 10_000),
)
def test_any_shape_matches_torch(cell, T, B, I, H, layers, seed):
    rng = np.random.default_rng(seed)
    model = Recurrent.init(cell, I, H, layers, seed=seed)
    module = torch_bridge.to_torch(model)
    x = rng.standard_normal((T, B, I))
    out, final, caches = model.forward(x)
    xt = torch.tensor(x, requires_grad=True)
    out_t, final_t = module(xt)
    dout = rng.standard_normal(out.shape)
    (out_t * torch.from_numpy(dout)).sum().backward()
    grads = model.backward(caches, dout)
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-10)
    h_n = final[0] if cell == "lstm" else final
    h_n_t = final_t[0] if cell == "lstm" else final_t
    np.testing.assert_allclose(h_n, h_n_t.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(grads.x, xt.grad.numpy(), atol=1e-10)
    for name, g in grads.params.items():
        np.testing.assert_allclose(g, getattr(module, name).grad.numpy(), atol=1e-10)


def test_relu_rnn_and_no_bias_match_torch():
    torch.manual_seed(0)
    module = torch.nn.RNN(3, 4, num_layers=2, nonlinearity="relu", bias=False).double()
    model = torch_bridge.from_torch(module)
    assert model.nonlinearity == "relu" and not model.has_bias
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    out, _, caches = model.forward(x)
    out_t, _ = module(torch.from_numpy(x))
    out_t.sum().backward()
    grads = model.backward(caches, np.ones_like(out))
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-12)
    assert set(grads.params) == {"weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"}
    np.testing.assert_allclose(grads.params["weight_hh_l0"], module.weight_hh_l0.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_weights_copy_both_ways(cell):
    torch.manual_seed(1)
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](5, 7, num_layers=2)
    model = torch_bridge.from_torch(module, np.float32)
    assert list(model.params) == [name for name, _ in module.named_parameters()]
    back = torch_bridge.to_torch(model)
    for name, p in module.state_dict().items():
        assert torch.equal(back.state_dict()[name], p)
    # the init matches torch's shapes and range
    fresh = Recurrent.init(cell, 5, 7, 2)
    for name, p in module.named_parameters():
        assert fresh.params[name].shape == tuple(p.shape)
        assert np.abs(fresh.params[name]).max() <= 1 / np.sqrt(7)


def test_from_torch_rejects_what_it_cannot_run():
    with pytest.raises(ValueError, match="bidirectional"):
        torch_bridge.from_torch(torch.nn.GRU(3, 4, bidirectional=True))
    with pytest.raises(ValueError, match="proj_size"):
        torch_bridge.from_torch(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(ValueError, match="expected torch.nn.RNN"):
        torch_bridge.from_torch(torch.nn.Linear(3, 4))
    with pytest.raises(ValueError, match="shape"):
        Recurrent.init("gru", 3, 4).forward(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="at least one"):
        Recurrent.init("gru", 3, 4).forward(np.zeros((0, 1, 3)))


def test_trace_lstm_batch_first_gates_obey_the_equations():
    torch.manual_seed(2)
    module = torch.nn.LSTM(4, 6, num_layers=2, batch_first=True, dropout=0.3)  # dropout: eval semantics
    module.train()
    x = torch.randn(3, 30, 4)  # (B, T, I)
    tr = torch_bridge.trace(module, x, index=1)
    assert module.training  # restored
    assert tr["cell"] == "lstm" and tr["gate_names"] == ["input", "forget", "cell", "output"]
    assert tr["torch_max_abs_diff"] < 1e-5
    assert len(tr["layers"]) == 2
    for layer in tr["layers"]:
        g = layer["gates"]
        assert layer["hidden"].shape == layer["cell"].shape == (30, 6)
        for name in ("input", "forget", "output"):
            assert g[name].shape == (30, 6) and g[name].min() > 0 and g[name].max() < 1
        c = layer["cell"]
        np.testing.assert_allclose(c[1:], g["forget"][1:] * c[:-1] + g["input"][1:] * g["cell"][1:], atol=1e-12)
        np.testing.assert_allclose(layer["hidden"], g["output"] * np.tanh(c), atol=1e-12)
    module.eval()
    with torch.no_grad():
        ref = module(x)[0][1].double().numpy()
    np.testing.assert_allclose(tr["layers"][-1]["hidden"], ref, atol=1e-5)
    np.testing.assert_allclose(tr["output"], ref, atol=1e-5)


def test_trace_gru_single_sequence():
    torch.manual_seed(3)
    module = torch.nn.GRU(2, 5)
    x = np.random.default_rng(0).standard_normal((40, 2)).astype(np.float32)
    tr = torch_bridge.trace(module, x)
    layer = tr["layers"][0]
    assert set(layer["gates"]) == {"reset", "update", "new"} and "cell" not in layer
    h, z, n = layer["hidden"], layer["gates"]["update"], layer["gates"]["new"]
    np.testing.assert_allclose(h[1:], (1 - z[1:]) * n[1:] + z[1:] * h[:-1], atol=1e-12)
    assert tr["torch_max_abs_diff"] < 1e-5
    assert torch_bridge.trace(torch.nn.RNN(2, 5), x)["layers"][0]["gates"] == {}


def test_clip_grad_norm_matches_torch():
    rng = np.random.default_rng(0)
    grads = {"a": rng.standard_normal((3, 4)) * 10, "b": rng.standard_normal(5) * 10}
    clipped, norm = cells.clip_grad_norm(grads, 1.0)
    tensors = [torch.tensor(grads["a"]), torch.tensor(grads["b"])]
    for t in tensors:
        t.grad = t.clone()
    ref_norm = torch.nn.utils.clip_grad_norm_(tensors, 1.0)
    assert norm == pytest.approx(float(ref_norm), rel=1e-12)
    assert cells.global_norm(clipped) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(clipped["a"], tensors[0].grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(clipped["a"] / grads["a"], clipped["b"][0] / grads["b"][0])  # direction kept
    small, _ = cells.clip_grad_norm({"a": np.full(4, 0.1)}, 1.0)
    np.testing.assert_array_equal(small["a"], np.full(4, 0.1))


def test_adam_matches_torch():
    rng = np.random.default_rng(0)
    p = {"w": rng.standard_normal(6)}
    t = torch.tensor(p["w"].copy(), requires_grad=True)
    opt_np, opt_t = cells.Adam(p, lr=0.05), torch.optim.Adam([t], lr=0.05)
    for _ in range(5):
        g = rng.standard_normal(6)
        opt_np.step({"w": g})
        t.grad = torch.tensor(g)
        opt_t.step()
    np.testing.assert_allclose(p["w"], t.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_char_demo_loss_falls(cell):
    r = char_demo.char_demo(cell, steps=200, seed=0)
    first, last = r["losses"][:10].mean(), r["losses"][-20:].mean()
    assert first > 0.8 * r["uniform_loss"]  # starts near a uniform guess
    assert last < 0.3 * first  # and clearly learns the text
    assert len(r["sample"]) == 80 and set(r["sample"]) <= set(char_demo.DEMO_TEXT)


def test_gradcheck_cli_json(capsys):
    assert main(["gradcheck", "--json", "--layers", "1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["cell"] for r in rows] == ["rnn", "lstm", "gru"]
    for r in rows:
        assert set(r) == {"cell", "grad_rel_err", "torch_max_abs_diff"}
        assert 0 <= r["grad_rel_err"] < 1e-6 and 0 <= r["torch_max_abs_diff"] < 1e-8


def test_gradcheck_cli_exits_1_when_a_check_fails(capsys, monkeypatch):
    monkeypatch.setattr(gradcheck, "TORCH_ABS_TOL", 0.0)  # nothing can be below zero difference
    assert main(["gradcheck", "--layers", "1"]) == 1
    assert "FAIL" in capsys.readouterr().out
