"""The one registry of models: shipped names, what a `--model` value means, and what a checkpoint is.

Every command, page and API call resolves a model here: a shipped name (`digits`, `commands`,
`abc`) is its folder under `audio_rnn/pretrained/`, the default name honours its environment
variable (`$AUDIO_RNN_KWS_MODEL` for keywords, `$AUDIO_RNN_GEN_MODEL` for tunes), and any other
value is a path. `role` tells a keyword clip model from a stream-trained spotter (both are
`"kind": "kws"` checkpoints) by one rule, `Decision` and `Spotting` are the typed sections evaluation adds
to a keyword checkpoint, and `update_config` is the one way it writes them (and `streaming.detection`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from audio_rnn.training import checkpoint

CLIP, STREAM, CHAR = "clip", "stream", "char"


@dataclass(frozen=True)
class Shipped:
    """A shipped model: its name, role, folder under pretrained/, and (keywords) its stream spotter's folder."""

    name: str
    role: str
    folder: str
    spotter: str | None = None  # the stream-trained spotter of the same vocabulary (`spot --mode state`)
    env: str | None = None  # when set, this variable replaces the model as the default


SHIPPED = {
    "digits": Shipped("digits", CLIP, "digits", spotter="spotter", env="AUDIO_RNN_KWS_MODEL"),
    "commands": Shipped("commands", CLIP, "commands", spotter="spotter_commands"),
    "abc": Shipped("abc", CHAR, "abc", env="AUDIO_RNN_GEN_MODEL"),
}
KEYWORD_MODELS = ("digits", "commands")


def resolve(model: str | os.PathLike | None = None, default: str = "digits") -> Path:
    """What `--model` names: None or "" is `default` (or its environment variable when set), a shipped name
    is its folder, anything else a path."""
    if model is None or str(model) == "":
        entry = SHIPPED[default]
        if entry.env and os.environ.get(entry.env):
            return Path(os.environ[entry.env])
        return checkpoint.pretrained_path(entry.folder)
    name = str(model)
    return checkpoint.pretrained_path(SHIPPED[name].folder) if name in SHIPPED else Path(model)


def spotter(model: str | os.PathLike | None = None, mode: str | None = None) -> Path:
    """The network that listens for `spot --model`: for a shipped vocabulary in `mode` state its stream-trained
    spotter, in window or vad mode its clip model, and with no mode the clip model once it holds tuned
    `spotting` settings (else the stream spotter); any other value is a path."""
    name = "digits" if model is None or str(model) == "" else str(model)
    if name not in KEYWORD_MODELS:
        return Path(model)  # type: ignore[arg-type]
    entry = SHIPPED[name]
    clip = resolve(model)
    stream = checkpoint.pretrained_path(entry.spotter) if entry.spotter else None
    has_stream = stream is not None and (stream / checkpoint.CONFIG).is_file()
    if mode in ("window", "vad") or (mode == "state" and not has_stream):
        return clip
    if mode == "state":
        return stream  # type: ignore[return-value]
    tuned = "spotting" in checkpoint.load_config(clip, kind="kws")
    return clip if tuned or not has_stream else stream  # type: ignore[return-value]


def role(cfg: dict[str, Any]) -> str:
    """`clip`, `stream` or `char`: what a checkpoint's config holds (a stream spotter carries `streaming`)."""
    if cfg.get("kind") == "charlm":
        return CHAR
    return STREAM if cfg.get("streaming") else CLIP


def update_config(model: str | os.PathLike | None, section: str, values: dict[str, Any],
                  replace: bool = False) -> Path:
    """Merge `values` into a checkpoint's config `section` (dots reach inside: `streaming.detection`), or
    replace it; the weights stay untouched and the file is written atomically. Returns the config path."""
    folder = checkpoint.resolve(resolve(model))
    path = folder / checkpoint.CONFIG if folder.is_dir() else folder.with_suffix(".json")
    cfg = checkpoint.load_config(folder)
    *parents, key = section.split(".")
    node = cfg
    for p in parents:
        node = node.setdefault(p, {})
    node[key] = dict(values) if replace else {**(node.get(key) or {}), **values}
    checkpoint.write_json_atomic(path, cfg)
    return path


# ----------------------------------------------------------------------------- typed sections of a keyword checkpoint


@dataclass(frozen=True)
class Decision:
    """`decision`: how a clip's probabilities become its label (`eval-kws --save-threshold`, train-own)."""

    keyword_threshold: float = 0.0  # a keyword scored below it is `_unknown_` (0: the top label)
    rule: str = "argmax"  # "argmax", or "keyword_score" (train-own: the best keyword against the threshold)


@dataclass(frozen=True)
class Spotting:
    """`spotting`: a clip model's tuned detection settings for one mode (`eval-streams --tune --save-tuned`)."""

    mode: str = "vad"
    threshold: float | None = None
    smooth_s: float | None = None
    min_s: float | None = None
    suppress_s: float | None = None
    shifts_s: list[float] | None = None
    tuned_on: list[str] = field(default_factory=list)  # the validation stream folders
    curve: list[dict[str, Any]] = field(default_factory=list)  # what each threshold cost on them

    def settings(self) -> dict[str, Any]:
        """The StreamConfig fields it sets (mode and the tuned values present)."""
        out = {"mode": self.mode}
        out.update({f.name: getattr(self, f.name) for f in fields(self)
                    if f.name not in ("mode", "tuned_on", "curve") and getattr(self, f.name) is not None})
        return out


def section(cfg: dict[str, Any], cls: type) -> Any:
    """A typed section of a checkpoint config (`Decision`, `Spotting`), its defaults when absent; unknown keys
    or bad values are one CheckpointError."""
    name = {Decision: "decision", Spotting: "spotting"}[cls]
    return checkpoint.config_from_dict(cls, cfg.get(name) or {}, name)


def save_section(model: str | os.PathLike | None, value: Decision | Spotting) -> Path:
    """Write a typed section into a checkpoint (replacing the old one): the one way evaluation stores it."""
    name = "decision" if isinstance(value, Decision) else "spotting"
    return update_config(model, name, {k: v for k, v in asdict(value).items() if v is not None}, replace=True)
