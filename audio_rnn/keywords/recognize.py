"""Classify audio with a keyword checkpoint: a reusable `Recognizer` and the `classify` command.

The recognizer loads a checkpoint once and classifies batches: every clip is
decoded at the model's rate, fitted to the one-second training window (short
clips centred, long ones cut to their loudest second), featurised and run
through the network in one padded-free batch. `posteriors` gives the running
per-frame belief over a whole recording for plots and streaming.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from audio_rnn.training import checkpoint, registry
from audio_rnn.errors import AudioError, AudioRnnError, CheckpointError
from audio_rnn.keywords.data import UNKNOWN
from audio_rnn.audio.features import MFCC, FeatureConfig
from audio_rnn.keywords.models import KeywordRNN, KWSDims

KIND = "kws"


def model_path(model: str | os.PathLike | None = None) -> Path:
    """A shipped model's name (digits, commands) or None (the default) as its folder; any other value is a path
    (`training.registry.resolve`)."""
    return registry.resolve(model)


@dataclass(frozen=True)
class Result:
    """One clip's prediction."""

    label: str
    score: float
    probs: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": self.score, "probs": self.probs}


def load_model(path: str | os.PathLike | None = None) -> tuple[KeywordRNN, dict[str, Any]]:
    """(network in eval mode, config) from a `kws` checkpoint; default: the shipped model."""
    tensors, cfg = checkpoint.load(model_path(path), kind=KIND)
    if registry.role(cfg) == registry.STREAM:
        raise CheckpointError("this is a stream-trained spotter (train-spot): it labels moments of a stream, not "
                              "clips; use it with `spot` / `eval-streams`, and a `train-kws` model to classify clips")
    try:
        dims = KWSDims.from_dict(cfg["model"])
        labels = list(cfg["labels"])
        FeatureConfig.from_dict(cfg["features"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"keyword model config is incomplete or invalid ({exc})") from None
    if len(labels) != dims.n_classes:
        raise CheckpointError(f"model has {dims.n_classes} outputs but its config lists {len(labels)} labels")
    model = checkpoint.build(lambda: KeywordRNN(dims), tensors, "keyword model")
    return model.eval(), cfg


def decide(p: np.ndarray, labels: Sequence[str], threshold: float = 0.0, unknown: int | None = None,
           rule: str = "argmax") -> int:
    """The label index for one clip's probabilities. `argmax`: the argmax, unless it is a keyword below
    `threshold` (then `_unknown_`). `keyword_score` (a calibrated train-own model): the best keyword if its
    probability reaches `threshold`, else the best of `_silence_`/`_unknown_`."""
    if rule == "keyword_score":
        kw = [i for i, lab in enumerate(labels) if not lab.startswith("_")]
        bg = [i for i, lab in enumerate(labels) if lab.startswith("_")]
        best = max(kw, key=lambda i: p[i])
        return best if p[best] >= threshold or not bg else max(bg, key=lambda i: p[i])
    k = int(np.argmax(p))
    if unknown is not None and p[k] < threshold and not labels[k].startswith("_"):
        return unknown
    return k


class Recognizer:
    """A loaded keyword model: classify waveforms or files in batches, or get per-frame posteriors."""

    def __init__(self, model: str | os.PathLike | None = None, batch_size: int = 256):
        self.path = model_path(model)
        self.model, self.config = load_model(self.path)
        self.labels: list[str] = list(self.config["labels"])
        self.features = FeatureConfig.from_dict(self.config["features"])
        self.mfcc = MFCC(self.features).eval()
        self.sample_rate = self.features.sample_rate
        self.window = int(round(float(self.config.get("window_seconds", 1.0)) * self.sample_rate))
        self.batch_size = batch_size
        # a keyword scored below this is reported as `_unknown_` (tuned on validation speakers; 0: argmax)
        decision = registry.section(self.config, registry.Decision)
        self.keyword_threshold, self.rule = float(decision.keyword_threshold), decision.rule

    def _results(self, logits: torch.Tensor) -> list[Result]:
        probs = torch.softmax(logits, dim=-1).numpy()
        unknown = self.labels.index(UNKNOWN) if UNKNOWN in self.labels else None
        out = []
        for p in probs:
            k = decide(p, self.labels, self.keyword_threshold, unknown, self.rule)
            out.append(Result(self.labels[k], round(float(p[k]), 6),
                              {lab: round(float(v), 6) for lab, v in zip(self.labels, p)}))
        return out

    @torch.no_grad()
    def logits(self, waves: Sequence[np.ndarray]) -> torch.Tensor:
        """(N, C) logits for waveforms at `sample_rate`, each fitted to the training window."""
        from audio_rnn.keywords.data import fit_window

        chunks = []
        for i in range(0, len(waves), self.batch_size):
            batch = torch.from_numpy(np.stack([fit_window(w, self.window) for w in waves[i:i + self.batch_size]]))
            chunks.append(self.model(self.mfcc(batch)))
        return torch.cat(chunks) if chunks else torch.zeros(0, len(self.labels))

    def classify_waves(self, waves: Sequence[np.ndarray]) -> list[Result]:
        """Predictions for waveforms already at the model's sample rate (mono float32)."""
        return self._results(self.logits(waves))

    def load(self, source: Any) -> np.ndarray:
        """Decode a path/bytes/file-like at the model's rate (raises `AudioError`)."""
        from audio_rnn.audio.decode import load_audio

        return load_audio(source, sr=self.sample_rate, max_seconds=600.0)

    def classify_files(self, files: Sequence[Any]) -> list[Result | AudioError]:
        """One entry per input in order: a `Result`, or the `AudioError` that made the input unusable."""
        decoded: list[np.ndarray | AudioError] = []
        for f in files:
            try:
                decoded.append(self.load(f))
            except AudioError as exc:
                decoded.append(exc)
            except Exception as exc:  # a decoder crash on odd input is still a per-file error
                decoded.append(AudioError(f"{f}: cannot decode ({type(exc).__name__}: {exc})"))
        good = [x for x in decoded if isinstance(x, np.ndarray)]
        results = iter(self.classify_waves(good))
        return [next(results) if isinstance(x, np.ndarray) else x for x in decoded]

    @torch.no_grad()
    def posteriors(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Running per-frame probabilities (T, C) over the window `classify_waves` hears, and frame end times
        in the clip (s; negative before a short clip's start).

        The same computation as the prediction: the clip fitted to the training window, featurised as one
        utterance; frame t's row is what the model would say if the window ended at t, so the last row is
        exactly the prediction's probabilities.
        """
        from audio_rnn.keywords.data import fit_window, window_start

        wave = np.asarray(wave, dtype=np.float32)
        feats = self.mfcc(torch.from_numpy(fit_window(wave, self.window))[None])
        logits, _ = self.model.frame_logits(feats)
        c = self.features
        ends = (np.arange(feats.shape[1]) * c.hop_length + c.win_length + window_start(wave, self.window)) \
            / c.sample_rate
        return torch.softmax(logits[0], dim=-1).numpy(), ends


# ----------------------------------------------------------------------------- CLI


def configure_classify(p) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, ogg, mp3, m4a, webm, ...)")
    p.add_argument("--model", help="digits (default: the shipped digit model), commands (the shipped 12-class "
                                   "Speech Commands model), or a keyword checkpoint folder or file")
    p.add_argument("--json", action="store_true", help="one JSON object per input, in input order")
    p.add_argument("--top", type=int, default=3, help="alternatives shown in the table (default 3)")


def run_classify(args) -> int:
    torch.set_num_threads(int(os.environ.get("AUDIO_RNN_THREADS", "1")))  # one thread: fastest on a shared CPU
    rec = Recognizer(args.model)
    results = rec.classify_files(args.files)
    status = 0
    if not args.json:
        width = max(len(str(f)) for f in args.files)
        print(f"{'file':<{width}}  {'label':<10} {'score':>6}  alternatives")
    for f, r in zip(args.files, results):
        if isinstance(r, AudioRnnError):
            status = 1
            if args.json:
                print(json.dumps({"file": f, "error": r.one_line()}))
            else:
                print(f"{f:<{width}}  error: {r.one_line()}")
            continue
        if args.json:
            print(json.dumps({"file": f, **r.to_dict()}))
        else:
            alts = sorted(r.probs.items(), key=lambda kv: -kv[1])[1:1 + max(0, args.top - 1)]
            print(f"{f:<{width}}  {r.label:<10} {r.score:6.3f}  " + "  ".join(f"{k} {v:.3f}" for k, v in alts))
    sys.stdout.flush()
    return status
