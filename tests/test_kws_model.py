"""Keyword network: every cell/pooling, running frame logits consistent with the pooled output, state carrying."""

from __future__ import annotations

import pytest
import torch

from audio_rnn.keywords.models import KeywordRNN, KWSDims


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("pooling", ["last", "mean", "attention"])
def test_frame_logits_end_at_pooled_logits_and_chunks_match_whole(cell, pooling):
    torch.manual_seed(0)
    model = KeywordRNN(KWSDims(n_in=20, n_classes=12, cell=cell, hidden=16, layers=2, pooling=pooling)).eval()
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


def test_parameter_counts_follow_the_cell_gates():
    counts = {c: KeywordRNN(KWSDims(cell=c, hidden=32, layers=1)).rnn.weight_hh_l0.numel() for c in ("rnn", "gru", "lstm")}
    assert counts == {"rnn": 32 * 32, "gru": 3 * 32 * 32, "lstm": 4 * 32 * 32}


def test_bidirectional_runs_but_refuses_carried_state():
    model = KeywordRNN(KWSDims(hidden=8, layers=1, bidirectional=True, pooling="mean")).eval()
    x = torch.randn(2, 15, 20)
    frames, state = model.frame_logits(x)
    torch.testing.assert_close(frames[:, -1], model(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="carried state"):
        model.frame_logits(x, state)


def test_dims_validate_and_round_trip():
    d = KWSDims(cell="lstm", hidden=64, layers=1, pooling="attention")
    assert KWSDims.from_dict(d.to_dict()) == d
    with pytest.raises(ValueError):
        KWSDims(cell="transformer")
    with pytest.raises(ValueError):
        KWSDims(pooling="max")
