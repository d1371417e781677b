"""min-char-rnn: a numpy character model learns a short text with the numpy cells and numpy Adam."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from audio_rnn.scratch.cells import Adam, clip_grad_norm, Recurrent, single_blas_thread, softmax_xent


# ----------------------------------------------------------------------------------------------
# min-char-rnn: a numpy model learns a short text with numpy Adam.

DEMO_TEXT = (
    "a recurrent network reads one symbol at a time and carries a hidden state forward. "
    "the gradient flows backward through time, and without gates it fades away step by step. "
)


@dataclass
class CharModel:
    """Recurrent cell + linear read-out over a character vocabulary (one-hot inputs)."""

    rnn: Recurrent
    w_y: np.ndarray  # (V, H)
    b_y: np.ndarray  # (V,)
    vocab: str

    def params(self) -> dict[str, np.ndarray]:
        return dict(self.rnn.params, w_y=self.w_y, b_y=self.b_y)

    def one_hot(self, ids: np.ndarray) -> np.ndarray:
        return np.eye(len(self.vocab), dtype=self.rnn.dtype)[ids]

    def loss_and_grads(self, ids: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """ids (T+1, B): predict ids[1:] from ids[:-1]; mean cross-entropy (nats/char) and all gradients."""
        out, _, caches = self.rnn.forward(self.one_hot(ids[:-1]))
        logits = out @ self.w_y.T + self.b_y
        loss, dlogits = softmax_xent(logits, ids[1:])
        grads = self.rnn.backward(caches, dlogits @ self.w_y).params
        grads["w_y"] = np.tensordot(dlogits, out, axes=([0, 1], [0, 1]))
        grads["b_y"] = dlogits.sum(axis=(0, 1))
        return loss, grads

    def sample(self, primer: str, length: int, rng: np.random.Generator, temperature: float = 0.5) -> str:
        """Generate `length` characters after `primer` (characters outside the vocabulary are skipped)."""
        ids = [self.vocab.index(ch) for ch in primer if ch in self.vocab] or [0]
        out, state, _ = self.rnn.forward(self.one_hot(np.array(ids))[:, None])
        text = []
        for _ in range(length):
            logits = (out[-1, 0] @ self.w_y.T + self.b_y) / max(temperature, 1e-6)
            p = np.exp(logits - logits.max())
            nxt = int(rng.choice(len(p), p=p / p.sum()))
            text.append(self.vocab[nxt])
            out, state, _ = self.rnn.forward(self.one_hot(np.array([nxt]))[:, None], state)
        return "".join(text)


@single_blas_thread
def char_demo(
    cell: str,
    text: str = DEMO_TEXT,
    *,
    hidden_size: int = 48,
    seq_len: int = 24,
    batch: int = 16,
    steps: int = 250,
    lr: float = 1e-2,
    clip: float = 5.0,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Train a numpy char model on `text` with numpy Adam; returns losses per step and a sample.

    Result: {"cell", "losses" (steps,) nats/char, "uniform_loss" ln(V), "sample", "model"}.
    """
    vocab = "".join(sorted(set(text)))
    data = np.array([vocab.index(ch) for ch in text])
    if len(data) < seq_len + 2:
        raise ValueError("text is too short for the sequence length")
    rng = np.random.default_rng(seed)
    V = len(vocab)
    k = 1.0 / math.sqrt(hidden_size)
    model = CharModel(
        Recurrent.init(cell, V, hidden_size, seed=seed),
        rng.uniform(-k, k, (V, hidden_size)),
        np.zeros(V),
        vocab,
    )
    params = model.params()
    opt = Adam(params, lr=lr)
    losses = np.empty(steps)
    iterator = range(steps)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"char demo ({cell})", leave=False)
    for step in iterator:
        starts = rng.integers(0, len(data) - seq_len - 1, batch)
        ids = np.stack([data[s : s + seq_len + 1] for s in starts], axis=1)
        loss, grads = model.loss_and_grads(ids)
        grads, _ = clip_grad_norm(grads, clip)
        opt.step(grads)
        losses[step] = loss
    return {
        "cell": cell,
        "losses": losses,
        "uniform_loss": math.log(V),
        "sample": model.sample(text[:10], 80, np.random.default_rng(seed)),
        "model": model,
    }


#
