"""The character language model: Embedding -> LSTM/GRU/RNN (stacked) -> Linear over the vocabulary.

Checkpoints are kind "charlm": safetensors weights + JSON config holding the
dimensions (CharLMDims) and the vocabulary, so a folder is self-describing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from audio_rnn.training import checkpoint
from audio_rnn.errors import CheckpointError
from audio_rnn.music.text import Vocab
from audio_rnn.nn.recurrence import CELLS

KIND = "charlm"


@dataclass
class CharLMDims:
    """Sizes of a character model (saved in its config)."""

    vocab_size: int
    embed: int = 64
    hidden: int = 256
    layers: int = 2
    cell: str = "lstm"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, not {self.cell!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CharLMDims":
        from audio_rnn.training.checkpoint import config_from_dict

        return config_from_dict(cls, d, "model settings")


class CharLM(nn.Module):
    """Predicts the next character at every position; the recurrent state is passed in and out."""

    def __init__(self, dims: CharLMDims):
        super().__init__()
        self.dims = dims
        self.embed = nn.Embedding(dims.vocab_size, dims.embed)
        rnn_cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[dims.cell]
        self.rnn = rnn_cls(
            dims.embed,
            dims.hidden,
            num_layers=dims.layers,
            batch_first=True,
            dropout=dims.dropout if dims.layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(dims.dropout)
        self.head = nn.Linear(dims.hidden, dims.vocab_size)

    def forward(self, ids: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """(B, T) ids -> (B, T, V) logits and the state after the last step."""
        out, state = self.rnn(self.drop(self.embed(ids)), state)
        return self.head(self.drop(out)), state

    def param_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def detach_state(state: Any) -> Any:
    """Cut the graph between BPTT chunks while keeping the values (truncated backprop)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def save_model(folder: str | Path, model: CharLM, vocab: Vocab, extra: dict[str, Any] | None = None) -> Path:
    """Write weights + config (dims, vocabulary, training facts)."""
    config = {"kind": KIND, "dims": model.dims.to_dict(), "vocab": vocab.to_dict(), **(extra or {})}
    return checkpoint.save(folder, model.state_dict(), config)


def load_model(path: str | Path | None = None) -> tuple[CharLM, Vocab, dict[str, Any]]:
    """Load a charlm checkpoint (a path, "abc", or None: the default, `$AUDIO_RNN_GEN_MODEL` or the shipped ABC
    model) in eval mode."""
    from audio_rnn.training import registry

    path = registry.resolve(path, default="abc")
    tensors, cfg = checkpoint.load(path, KIND)
    try:
        dims = CharLMDims.from_dict(cfg["dims"])
        vocab = Vocab.from_dict(cfg["vocab"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"charlm config is incomplete or invalid: {exc}") from None
    if dims.vocab_size != len(vocab):
        raise CheckpointError(f"config vocabulary has {len(vocab)} entries but dims say {dims.vocab_size}")
    model = checkpoint.build(lambda: CharLM(dims), tensors, "charlm")  # shapes checked before allocating
    model.eval()
    return model, vocab, cfg
