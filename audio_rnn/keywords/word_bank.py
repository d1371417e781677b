"""Real words for `_unknown_`: MFCC cepstra of a few hundred Speech Commands clips, shipped in the package.

Train-your-own cannot read ../shared at run time, and a handful of espeak-ng words
teaches a new model to reject only robots. The bank holds the cepstra (before
deltas and normalisation, float16) of one-second clips by the share's *training*
speakers, never the audio, each labelled with its word so that the user's own
words can be left out. Source: Speech Commands v0.02 (Warden 2018), CC BY 4.0.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from audio_rnn.keywords.data import SILENCE, Clip
from audio_rnn.audio.features import MFCC, FeatureConfig

KIND = "word_bank"
NAME = "real_words"
CREDIT = ("Speech Commands v0.02, Pete Warden (Google), arXiv:1804.03209, 2018; CC BY 4.0. "
          "MFCC cepstra of clips by the training speakers of ../shared/data/speech_commands; no audio.")
# the cepstra depend on these; deltas and normalisation are applied when the bank is used
CEPSTRA_FIELDS = ("sample_rate", "n_mfcc", "n_mels", "win_ms", "hop_ms", "f_min", "f_max", "floor_db")


@dataclass
class WordBank:
    """Cepstra (N, T, n_mfcc) of one-second real clips, their words (`_silence_` for backgrounds), and features."""

    cepstra: torch.Tensor
    words: list[str]
    features: FeatureConfig

    def fits(self, features: FeatureConfig) -> bool:
        """True when a model with `features` can use these cepstra."""
        return all(getattr(self.features, f) == getattr(features, f) for f in CEPSTRA_FIELDS)

    def select(self, exclude: Sequence[str] = ()) -> tuple[torch.Tensor, list[str]]:
        """The cepstra and words of every clip whose word is none of `exclude` (the user's keywords)."""
        drop = {w.lower() for w in exclude}
        keep = [i for i, w in enumerate(self.words) if w not in drop]
        return self.cepstra[keep], [self.words[i] for i in keep]


def pick(clips: Sequence[Clip], per_word: int, n_silence: int, seed: int) -> list[Clip]:
    """Up to `per_word` clips of each word from distinct speakers, and `n_silence` backgrounds (deterministic)."""
    rng = np.random.default_rng(seed)
    by_word: dict[str, list[Clip]] = defaultdict(list)
    for c in clips:
        by_word[SILENCE if c.label == SILENCE else c.name.split("/")[0]].append(c)
    out: list[Clip] = []
    for word in sorted(by_word):
        members = [by_word[word][i] for i in rng.permutation(len(by_word[word]))]
        if word == SILENCE:
            out += members[:n_silence]
            continue
        seen: set[str] = set()
        for c in members:
            if c.speaker not in seen and len(seen) < per_word:
                seen.add(c.speaker)
                out.append(c)
    return out


def build(root: str | Path, features: FeatureConfig, per_word: int = 16, n_silence: int = 40,
          seed: int = 0) -> WordBank:
    """The bank from a Speech Commands folder: only its training speakers (the validation 20% stay unseen)."""
    from audio_rnn.keywords.data import fit_window, load_speech_commands_folder

    clips = [c for c in load_speech_commands_folder(root, labels=None) if c.split == "train"]
    chosen = pick(clips, per_word, n_silence, seed)
    mfcc = MFCC(features).eval()
    with torch.no_grad():
        waves = torch.from_numpy(np.stack([fit_window(c.wave) for c in chosen]))
        cep = torch.cat([mfcc.cepstra(waves[i:i + 256]) for i in range(0, len(waves), 256)])
    words = [SILENCE if c.label == SILENCE else c.name.split("/")[0] for c in chosen]
    return WordBank(cep.half(), words, features)


def save(bank: WordBank, folder: str | Path) -> Path:
    """safetensors + JSON, like every checkpoint of the project."""
    from audio_rnn.training import checkpoint

    counts: dict[str, int] = defaultdict(int)
    for w in bank.words:
        counts[w] += 1
    config = {"kind": KIND, "features": bank.features.to_dict(), "words": bank.words, "counts": dict(counts),
              "credit": CREDIT}
    return checkpoint.save(folder, {"cepstra": bank.cepstra.contiguous()}, config)


def load(folder: str | Path | None = None) -> WordBank | None:
    """The shipped bank (or the one in `folder`); None when there is none."""
    from audio_rnn.training import checkpoint
    from audio_rnn.errors import CheckpointError

    path = Path(folder) if folder else checkpoint.pretrained_path(NAME)
    if not path.exists():
        return None
    tensors, cfg = checkpoint.load(path, kind=KIND)
    cep = tensors.get("cepstra")
    words = list(cfg.get("words", []))
    if cep is None or cep.dim() != 3 or cep.shape[0] != len(words):
        raise CheckpointError(f"{path}: word bank holds {None if cep is None else tuple(cep.shape)} cepstra "
                              f"for {len(words)} words")
    return WordBank(cep, words, FeatureConfig.from_dict(cfg["features"]))


# ----------------------------------------------------------------------------- CLI


def configure_word_bank(p) -> None:
    p.add_argument("--data", required=True, help="Speech Commands folder (<word>/<speaker>_nohash_<n>.wav)")
    p.add_argument("--out", default=None, help=f"folder to write (default: audio_rnn/pretrained/{NAME})")
    p.add_argument("--per-word", type=int, default=16, help="clips per word, each by another speaker")
    p.add_argument("--silence", type=int, default=40, help="background clips")
    p.add_argument("--seed", type=int, default=0)


def run_word_bank(args) -> int:
    from audio_rnn.training import checkpoint
    from audio_rnn.keywords.recognize import load_model

    _, cfg = load_model("digits")  # the shipped models' features
    bank = build(args.data, FeatureConfig.from_dict(cfg["features"]), args.per_word, args.silence, args.seed)
    out = save(bank, args.out or checkpoint.pretrained_path(NAME))
    print(f"saved {out}: {len(bank.words)} clips, {len(set(bank.words))} words, "
          f"{bank.cepstra.numel() * 2 / 1e6:.2f} MB of cepstra")
    return 0
