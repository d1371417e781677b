"""Keyword recognizer network: a recurrent cell (RNN/LSTM/GRU) over MFCC frames, pooled to one label.

The pooled prediction and the per-frame running prediction come from the same
code path: `frame_logits` gives, at every frame t, the logits the model would
output if the clip ended at t (last state, running mean, or running attention).
A unidirectional model can therefore run frame by frame with carried state and
its final running logits equal the clip's pooled logits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from audio_rnn.nn.recurrence import CELLS

POOLINGS = ("last", "mean", "attention")


@dataclass(frozen=True)
class KWSDims:
    """Shape of the keyword network; saved in the checkpoint config as `model`."""

    n_in: int = 20
    n_classes: int = 12
    cell: str = "gru"
    hidden: int = 128
    layers: int = 2
    bidirectional: bool = False
    pooling: str = "attention"
    dropout: float = 0.1
    conv: int = 0  # > 0: a causal 1-D convolution with this many channels under the recurrent stack (a CRNN)
    conv_kernel: int = 5  # its width in frames (it sees this frame and the kernel - 1 before it)

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.hidden < 1 or self.layers < 1 or self.n_in < 1 or self.n_classes < 2 or self.conv < 0 \
                or self.conv_kernel < 1:
            raise ValueError(f"invalid model dimensions: {self}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "KWSDims":
        from audio_rnn.training.checkpoint import config_from_dict

        return config_from_dict(cls, d, "model settings")


class KeywordRNN(nn.Module):
    """(B, T, n_in) features -> (B, n_classes) logits through a recurrent layer stack and pooling."""

    def __init__(self, dims: KWSDims):
        super().__init__()
        self.dims = dims
        rnn_cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[dims.cell]
        self.norm = nn.LayerNorm(dims.n_in)
        self.conv = nn.Conv1d(dims.n_in, dims.conv, dims.conv_kernel) if dims.conv else None
        self.rnn = rnn_cls(dims.conv or dims.n_in, dims.hidden, num_layers=dims.layers, batch_first=True,
                           bidirectional=dims.bidirectional, dropout=dims.dropout if dims.layers > 1 else 0.0)
        out = dims.hidden * (2 if dims.bidirectional else 1)
        self.attn = nn.Linear(out, 1) if dims.pooling == "attention" else None
        self.drop = nn.Dropout(dims.dropout)
        self.head = nn.Linear(out, dims.n_classes)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------ recurrent part
    def _front(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        """Normalised frames, through the causal convolution when there is one: (B, T, n) and the frames it
        must see before the next chunk (the last kernel - 1; zeros before the first frame)."""
        x = self.norm(x)
        if self.conv is None:
            return x, None
        k = self.dims.conv_kernel
        if context is None:
            context = x.new_zeros(x.shape[0], k - 1, x.shape[2])
        xp = torch.cat([context, x], 1)
        y = torch.nn.functional.gelu(self.conv(xp.transpose(1, 2))).transpose(1, 2)
        return y, xp[:, xp.shape[1] - (k - 1):]

    def _run(self, feats: torch.Tensor, state: dict[str, Any] | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        """Recurrent outputs (B, T, H) and the carried state ({"rnn": ..., "conv": last frames or None})."""
        state = state or {}
        x, context = self._front(feats, state.get("conv"))
        out, rnn_state = self.rnn(x, state.get("rnn"))
        return out, {"rnn": rnn_state, "conv": context}

    # ------------------------------------------------------------------ pooled prediction
    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled logits (B, C); `lengths` = valid frames per item for padded batches."""
        out, _ = self._run(feats)
        B, T, H = out.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long, device=out.device)
        lengths = lengths.clamp(1, T)
        p = self.dims.pooling
        if p == "last":
            pooled = out[torch.arange(B, device=out.device), lengths - 1]
        else:
            mask = (torch.arange(T, device=out.device)[None, :] < lengths[:, None]).to(out.dtype)  # (B, T)
            if p == "mean":
                pooled = (out * mask[..., None]).sum(1) / lengths[:, None].to(out.dtype)
            else:
                s = self.attn(out).squeeze(-1).masked_fill(mask == 0, float("-inf"))
                pooled = (torch.softmax(s, dim=1)[..., None] * out).sum(1)
        return self.head(self.drop(pooled))

    # ------------------------------------------------------------------ running per-frame prediction
    def frame_logits(self, feats: torch.Tensor, state: dict[str, Any] | None = None
                     ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Running logits (B, T, C): frame t's logits as if the clip ended at t; returns the new state.

        The state carries the recurrent state and the running pooling statistics,
        so feeding a clip in chunks gives the same logits as feeding it whole.
        Bidirectional models look ahead, so they cannot take a carried state.
        """
        if self.dims.bidirectional and state is not None:
            raise ValueError("a bidirectional model cannot run with carried state (it looks ahead)")
        state = state or {}
        out, new = self._run(feats, state)
        p = self.dims.pooling
        if p == "last":
            pooled = out
        elif p == "mean":
            s0 = state.get("sum", torch.zeros_like(out[:, 0]))
            n0 = state.get("count", torch.zeros(out.shape[0], 1, dtype=out.dtype, device=out.device))
            csum = s0[:, None] + out.cumsum(1)
            cnt = n0[:, None] + torch.arange(1, out.shape[1] + 1, dtype=out.dtype, device=out.device)[None, :, None]
            pooled = csum / cnt
            new.update(sum=csum[:, -1], count=cnt[:, -1])
        else:
            s = self.attn(out).squeeze(-1)  # (B, T)
            m0 = state.get("max", torch.full_like(s[:, 0], float("-inf")))
            m = torch.maximum(m0, s.max(1).values)  # one shift per chunk keeps exp() bounded
            w = torch.exp(s - m[:, None])
            scale0 = torch.exp(m0 - m).nan_to_num(0.0)  # exp(-inf) -> 0 at the start
            num = state.get("num", torch.zeros_like(out[:, 0]))[:, None] * scale0[:, None, None] \
                + (w[..., None] * out).cumsum(1)
            den = state.get("den", torch.zeros_like(s[:, 0]))[:, None] * scale0[:, None] + w.cumsum(1)
            pooled = num / den[..., None]
            new.update(max=m, num=num[:, -1], den=den[:, -1])
        return self.head(self.drop(pooled)), new


def build(dims: KWSDims) -> KeywordRNN:
    """A fresh keyword network for `dims`."""
    return KeywordRNN(dims)
