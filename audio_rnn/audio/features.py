"""Audio front-end, part 2: batched MFCC features as a torch module, configured by a dataclass.

The features are band-limited (f_max 3.8 kHz by default, under the anti-alias
roll-off of 8 kHz audio) so that 8 kHz training speech and 16-48 kHz microphone
audio look the same to the model, and the log floor is relative to each
utterance's loudest bin so that level does not change them. Frames are not
centred: MFCC frame i is exactly `audio.frame(...)` frame i.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
import torchaudio
from torch import nn

from audio_rnn.audio.feature_config import FeatureConfig

__all__ = ["FeatureConfig", "MFCC"]


class MFCC(nn.Module):
    """(batch, samples) waveforms -> (batch, frames, dim) MFCCs (+ deltas), normalised per utterance.

    Frame i is exactly `audio.frame(...)` frame i (Hann-windowed, zero-padded to
    n_fft). Padded batches pass `lengths` (samples per item) so padding enters
    neither the log floor, the deltas nor the statistics: each item's valid frames
    equal what it gets alone; frames past `frame_lengths(lengths)` are zero.
    """

    def __init__(self, config: FeatureConfig = FeatureConfig()):
        super().__init__()
        c = config  # FeatureConfig checked its own values
        self.config = c
        # constants, not weights: non-persistent so they never enter a model's checkpoint
        self.register_buffer("window", torch.hann_window(c.win_length), persistent=False)
        fb = torchaudio.functional.melscale_fbanks(c.n_fft // 2 + 1, c.f_min, c.f_max, c.n_mels, c.sample_rate,
                                                   norm="slaney", mel_scale="slaney")
        self.register_buffer("fb", fb, persistent=False)  # (freqs, mels)
        self.register_buffer("dct", torchaudio.functional.create_dct(c.n_mfcc, c.n_mels, "ortho"), persistent=False)

    def frame_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid frames per item for `lengths` samples: `audio.n_frames`, at least 1."""
        c = self.config
        return 1 + (lengths.clamp(min=c.win_length) - c.win_length) // c.hop_length

    def log_mel(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N) -> (B, T, n_mels) log mel power with a floor `floor_db` below each item's loudest bin."""
        c = self.config
        if wave.shape[-1] < c.win_length:
            wave = nn.functional.pad(wave, (0, c.win_length - wave.shape[-1]))
        frames = wave.unfold(-1, c.win_length, c.hop_length) * self.window  # (B, T, win)
        power = torch.fft.rfft(frames, n=c.n_fft).abs().square()
        mel = power @ self.fb  # (B, T, n_mels)
        valid = self._mask(mel, lengths)
        ref = (mel * valid).amax(dim=(1, 2), keepdim=True)
        floor = (ref * 10 ** (-c.floor_db / 10)).clamp(min=1e-30)
        return torch.log(torch.maximum(mel, floor))

    def _mask(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        if lengths is None:
            return torch.ones(x.shape[0], x.shape[1], 1, dtype=x.dtype, device=x.device)
        t = torch.arange(x.shape[1], device=x.device)[None, :, None]
        return (t < self.frame_lengths(lengths.to(x.device))[:, None, None]).to(x.dtype)

    def cepstra(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N) waveforms -> (B, T, n_mfcc) cepstra, before deltas and normalisation."""
        if wave.dim() == 1:
            wave = wave[None]
        if wave.dim() != 2:
            raise ValueError(f"expected (batch, samples) waveforms, got shape {tuple(wave.shape)}")
        return self.log_mel(wave, lengths) @ self.dct

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.finish(self.cepstra(wave, lengths), lengths)

    def finish(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, n_mfcc) cepstra -> the model's features: deltas (if configured) and normalisation.

        Split from `forward` so stored cepstra (the shipped real-word bank) become features later.
        """
        c = self.config
        if c.deltas:
            x = torch.cat([x, *_deltas(x, None if lengths is None else self.frame_lengths(lengths))], dim=2)
        if c.normalize:
            return normalize(x, None if lengths is None else self.frame_lengths(lengths))
        return x * self._mask(x, lengths)


def _hold(x: torch.Tensor, frame_lengths: torch.Tensor | None) -> torch.Tensor:
    """Replace each item's padding frames by its last valid frame, as the edge of an unpadded item looks."""
    if frame_lengths is None:
        return x
    t = torch.arange(x.shape[1], device=x.device)[None, :]
    idx = torch.minimum(t, (frame_lengths.to(x.device) - 1).clamp(min=0)[:, None])
    return x.gather(1, idx[:, :, None].expand(-1, -1, x.shape[2]))


def _deltas(x: torch.Tensor, frame_lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """First and second time derivatives of (B, T, D), each item's edges replicated like an unpadded item's."""
    d1 = torchaudio.functional.compute_deltas(_hold(x, frame_lengths).transpose(1, 2)).transpose(1, 2)
    d2 = torchaudio.functional.compute_deltas(_hold(d1, frame_lengths).transpose(1, 2)).transpose(1, 2)
    return d1, d2


def normalize(x: torch.Tensor, frame_lengths: torch.Tensor | None = None, eps: float = 1e-5) -> torch.Tensor:
    """Per-utterance, per-coefficient mean/variance normalisation over the valid frames."""
    if frame_lengths is None:
        mean = x.mean(dim=1, keepdim=True)
        std = x.std(dim=1, keepdim=True, unbiased=False)
        return (x - mean) / (std + eps)
    t = torch.arange(x.shape[1], device=x.device)[None, :, None]
    mask = (t < frame_lengths[:, None, None]).to(x.dtype)
    n = mask.sum(dim=1, keepdim=True).clamp(min=1)
    mean = (x * mask).sum(dim=1, keepdim=True) / n
    var = (((x - mean) * mask) ** 2).sum(dim=1, keepdim=True) / n
    return (x - mean) / (var.sqrt() + eps) * mask


def pad_batch(waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack 1-D float arrays into a zero-padded (B, N) tensor and their lengths."""
    lengths = torch.tensor([len(w) for w in waves], dtype=torch.long)
    out = torch.zeros(len(waves), int(lengths.max()) if len(waves) else 0)
    for i, w in enumerate(waves):
        out[i, : len(w)] = torch.from_numpy(np.asarray(w, dtype=np.float32))
    return out, lengths


def compute(signal: np.ndarray, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """MFCC features of one signal as a (frames, dim) numpy array."""
    with torch.no_grad():
        return MFCC(config)(torch.from_numpy(np.asarray(signal, dtype=np.float32)))[0].numpy()


# ----------------------------------------------------------------------------- CLI


def configure_features(p) -> None:
    p.add_argument("files", nargs="+", help="audio files")
    p.add_argument("--n-mfcc", type=int, default=FeatureConfig.n_mfcc)
    p.add_argument("--deltas", action="store_true", help="append delta and delta-delta coefficients")
    p.add_argument("--out", help="write a .npy per file into this folder")
    p.add_argument("--json", action="store_true", help="one JSON summary per file")


def run_features(args) -> int:
    from pathlib import Path

    from audio_rnn.audio.decode import load_audio
    from audio_rnn.errors import AudioError

    cfg = FeatureConfig(n_mfcc=args.n_mfcc, deltas=args.deltas)
    status = 0
    for f in args.files:
        try:
            feats = compute(load_audio(f, sr=cfg.sample_rate), cfg)
            row: dict[str, Any] = {"file": f, "frames": int(feats.shape[0]), "dim": int(feats.shape[1]),
                                   "frame_rate": cfg.frame_rate}
            if args.out:
                out = Path(args.out) / (Path(f).stem + ".npy")
                out.parent.mkdir(parents=True, exist_ok=True)
                np.save(out, feats)
                row["out"] = str(out)
        except AudioError as exc:
            row, status = {"file": f, "error": exc.one_line()}, 1
        print(json.dumps(row) if args.json else "  ".join(f"{k}={v}" for k, v in row.items()))
    return status
