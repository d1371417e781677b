"""The one numpy recurrence (`nn.recurrence.Cell`) against torch's RNN/LSTM/GRU, state carried in."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio_rnn.nn.recurrence import Cell, sigmoid


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_cell_runs_as_torch_from_any_state(cell):
    torch.manual_seed(0)
    net = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](7, 11, batch_first=False)
    x = torch.randn(9, 3, 7)
    h0 = torch.randn(1, 3, 11)
    c0 = torch.randn(1, 3, 11)
    with torch.no_grad():
        ref, ref_state = net(x, (h0, c0) if cell == "lstm" else h0)
    sd = {k: v.numpy() for k, v in net.state_dict().items()}
    c = Cell.from_torch(cell, sd["weight_ih_l0"], sd["weight_hh_l0"], sd["bias_ih_l0"], sd["bias_hh_l0"])
    start = (h0[0].numpy(), c0[0].numpy() if cell == "lstm" else None)
    out, (h, cs) = c.run(c.project(x.numpy()), start)
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-5)
    last_h = ref_state[0] if cell == "lstm" else ref_state
    np.testing.assert_allclose(h, last_h[0].numpy(), atol=1e-5)
    if cell == "lstm":
        np.testing.assert_allclose(cs, ref_state[1][0].numpy(), atol=1e-5)


def test_sigmoid_never_overflows_and_keeps_float64():
    x = np.array([-1e4, -3.0, 0.0, 3.0, 1e4])
    y = sigmoid(x)
    assert y.dtype == np.float64 and np.all(np.isfinite(y))
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-np.clip(x, -500, 500))), atol=1e-12)
