"""Keyword network: every cell/pooling, running frame logits consistent with the pooled output, state carrying."""

from __future__ import annotations

import pytest
import torch

from audio_rnn.keywords.models import KeywordRNN, KWSDims


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("pooling", ["last", "mean", "attention"])
@pytest.mark.parametrize("conv", [0, 8])
def test_frame_logits_end_at_pooled_logits_and_chunks_match_whole(cell, pooling, conv):
    """Also with a causal convolution under the stack (a CRNN): chunks carry its last frames."""
    torch.manual_seed(0)
    model = KeywordRNN(KWSDims(n_in=20, n_classes=12, cell=cell, hidden=16, layers=2, pooling=pooling,
                               conv=conv, conv_kernel=5)).eval()
    x = torch.randn(3, 40, 20)
    with torch.no_grad():
        pooled = model(x)
        frames, _ = model.frame_logits(x)
        assert frames.shape == (3, 40, 12)
        torch.testing.assert_close(frames[:, -1], pooled, rtol=1e-4, atol=1e-5)
        # prefix of the clip: frame t of the running logits is the pooled logits of x[:, :t+1]
        torch.testing.assert_close(frames[:, 9], model(x[:, :10]), rtol=1e-4, atol=1e-5)
        # frame by frame with carried state == whole
        state, parts = None, []
        for a, b in [(0, 7), (7, 8), (8, 25), (25, 40)]:
            out, state = model.frame_logits(x[:, a:b], state)
            parts.append(out)
        torch.testing.assert_close(torch.cat(parts, 1), frames, rtol=1e-4, atol=1e-5)
        # padded batches: lengths pick each item's own end
        lengths = torch.tensor([40, 25, 10])
        padded = model(x, lengths)
        torch.testing.assert_close(padded[2], model(x[2:3, :10])[0], rtol=1e-4, atol=1e-5)


def test_bidirectional_runs_but_refuses_carried_state():
    model = KeywordRNN(KWSDims(hidden=8, layers=1, bidirectional=True, pooling="mean")).eval()
    x = torch.randn(2, 15, 20)
    frames, state = model.frame_logits(x)
    torch.testing.assert_close(frames[:, -1], model(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="carried state"):
        model.frame_logits(x, state)


def test_crnn_is_causal_and_sized_by_its_kernel():
    """A frame's output never depends on later frames; the convolution adds n_in * C * k + C weights."""
    torch.manual_seed(0)
    plain = KeywordRNN(KWSDims(n_in=20, hidden=16, layers=1))
    crnn = KeywordRNN(KWSDims(n_in=20, hidden=16, layers=1, conv=12, conv_kernel=3)).eval()
    assert crnn.n_params() - plain.n_params() == 20 * 12 * 3 + 12 + (12 - 20) * 3 * 16
    x = torch.randn(1, 30, 20)
    y = x.clone()
    y[:, 20:] = torch.randn(1, 10, 20)  # (a constant would vanish in the per-frame LayerNorm)
    with torch.no_grad():
        a, _ = crnn.frame_logits(x)
        b, _ = crnn.frame_logits(y)
    torch.testing.assert_close(a[:, :20], b[:, :20])
    assert not torch.allclose(a[:, 20:], b[:, 20:])


def test_dims_of_older_checkpoints_without_a_convolution_still_load():
    old = {"n_in": 20, "n_classes": 12, "hidden": 64, "layers": 2, "cell": "gru", "bidirectional": False,
           "pooling": "attention", "dropout": 0.1}
    d = KWSDims.from_dict(old)
    assert d.conv == 0 and KeywordRNN(d).conv is None


def test_dims_validate_and_round_trip():
    d = KWSDims(cell="lstm", hidden=64, layers=1, pooling="attention")
    assert KWSDims.from_dict(d.to_dict()) == d
    c = KWSDims(conv=32, conv_kernel=3)
    assert KWSDims.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError):
        KWSDims(conv=-1)
    with pytest.raises(ValueError):
        KWSDims(cell="transformer")
    with pytest.raises(ValueError):
        KWSDims(pooling="max")
