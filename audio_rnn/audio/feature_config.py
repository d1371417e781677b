"""The MFCC settings, torch-free: one `FeatureConfig` that the torch `MFCC` (training, clips) and the numpy
`spotting.frontend.FrontEnd` (streams, live) both read, saved in every keyword checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from audio_rnn.audio.framing import n_frames
from audio_rnn.audio.rates import DEFAULT_SR


@dataclass(frozen=True)
class FeatureConfig:
    """MFCC settings; saved in every keyword checkpoint so inference matches training."""

    sample_rate: int = DEFAULT_SR
    n_mfcc: int = 20
    n_mels: int = 40
    win_ms: float = 25.0
    hop_ms: float = 10.0
    f_min: float = 20.0
    f_max: float = 3800.0  # under 4 kHz: clear of the anti-alias roll-off of 8 kHz audio
    deltas: bool = False
    normalize: bool = True  # per-utterance mean/variance normalisation
    floor_db: float = 80.0  # log floor below each utterance's loudest mel bin: makes features gain-invariant

    def __post_init__(self) -> None:
        if not self.floor_db > 0:
            raise ValueError(f"floor_db must be positive, got {self.floor_db}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2, got {self.f_min}, {self.f_max}")
        if not (1 <= self.n_mfcc <= self.n_mels and self.win_length >= 1 and self.hop_length >= 1):
            raise ValueError(f"need 1 <= n_mfcc <= n_mels and positive win_ms/hop_ms, got {self}")

    @property
    def win_length(self) -> int:
        return int(round(self.win_ms * self.sample_rate / 1000))

    @property
    def hop_length(self) -> int:
        return int(round(self.hop_ms * self.sample_rate / 1000))

    @property
    def n_fft(self) -> int:
        return 1 << (self.win_length - 1).bit_length()

    @property
    def dim(self) -> int:
        """Feature values per frame."""
        return self.n_mfcc * (3 if self.deltas else 1)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    def n_frames(self, n_samples: int) -> int:
        return n_frames(n_samples, self.win_length, self.hop_length)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FeatureConfig":
        from audio_rnn.training.checkpoint import config_from_dict

        return config_from_dict(cls, d, "feature settings")
