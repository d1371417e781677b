"""Loading anything but our safetensors + JSON schema gives one clear CheckpointError, never a
traceback, never code execution (pickles are not unpickled), never a huge allocation."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from audio_rnn.training import checkpoint
from audio_rnn.errors import CheckpointError
from audio_rnn.audio.features import FeatureConfig
from audio_rnn.keywords.models import KeywordRNN, KWSDims
from audio_rnn.keywords.recognize import load_model

ROOT = Path(__file__).resolve().parents[1]
DIMS = KWSDims(hidden=16, layers=1)
LABELS = [str(d) for d in range(10)] + ["_silence_", "_unknown_"]


class _Evil:
    """A pickle that would create a file when unpickled (what torch.load of a stranger's file risks)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture()
def good(tmp_path) -> Path:
    """A real keyword checkpoint in the schema train-kws writes."""
    torch.manual_seed(0)
    cfg = {"kind": "kws", "labels": LABELS, "features": FeatureConfig().to_dict(), "model": DIMS.to_dict(),
           "window_seconds": 1.0}
    return checkpoint.save(tmp_path / "good", KeywordRNN(DIMS).state_dict(), cfg)


def _config(folder: Path) -> dict:
    return json.loads((folder / checkpoint.CONFIG).read_text())


def _write_config(folder: Path, cfg) -> None:
    (folder / checkpoint.CONFIG).write_text(cfg if isinstance(cfg, str) else json.dumps(cfg))


def _damage(folder: Path, how: str, tmp_path: Path) -> None:
    w = folder / checkpoint.WEIGHTS
    cfg = _config(folder)
    if how == "pickle_as_safetensors":
        w.write_bytes(pickle.dumps(_Evil(tmp_path / "PWNED")))
    elif how == "torch_save_zip_as_safetensors":
        import io

        buf = io.BytesIO()
        torch.save(KeywordRNN(DIMS).state_dict(), buf)
        w.write_bytes(buf.getvalue())
    elif how == "truncated_weights":
        w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    elif how == "empty_weights":
        w.write_bytes(b"")
    elif how == "lying_header_size":
        w.write_bytes((2**62).to_bytes(8, "little") + b"{}")
    elif how == "header_not_json":
        w.write_bytes((16).to_bytes(8, "little") + b"\xff" * 16)
    elif how == "missing_weights":
        w.unlink()
    elif how == "missing_config":
        (folder / checkpoint.CONFIG).unlink()
    elif how == "garbage_json":
        _write_config(folder, '{"kind": "kws", "labels": [')
    elif how == "binary_json":
        (folder / checkpoint.CONFIG).write_bytes(b"\x80\x81\xfe\x00")
    elif how == "json_list":
        _write_config(folder, "[1, 2, 3]")
    elif how == "not_our_format":
        _write_config(folder, {**cfg, "format": "something_else"})
    elif how == "newer_version":
        _write_config(folder, {**cfg, "version": checkpoint.VERSION + 1})
    elif how == "version_string":
        _write_config(folder, {**cfg, "version": "1"})
    elif how == "newer_model_setting":
        _write_config(folder, {**cfg, "model": {**cfg["model"], "sparsity": 0.5}})
    elif how == "wrong_kind":
        _write_config(folder, {**cfg, "kind": "charlm"})
    elif how == "mismatched_shapes":
        _write_config(folder, {**cfg, "model": {**cfg["model"], "hidden": 32}})
    elif how == "huge_hidden":  # would be ~1 TB if allocated
        _write_config(folder, {**cfg, "model": {**cfg["model"], "hidden": 300_000}})
    elif how == "negative_hidden":
        _write_config(folder, {**cfg, "model": {**cfg["model"], "hidden": -4}})
    elif how == "string_hidden":
        _write_config(folder, {**cfg, "model": {**cfg["model"], "hidden": "big"}})
    elif how == "labels_mismatch":
        _write_config(folder, {**cfg, "labels": LABELS[:5]})
    elif how == "missing_features":
        _write_config(folder, {k: v for k, v in cfg.items() if k != "features"})
    elif how == "extra_tensor":
        t = checkpoint.load(folder)[0]
        checkpoint.save(folder, {**t, "sneaky": torch.zeros(3)}, cfg)
    elif how == "missing_tensor":
        t = checkpoint.load(folder)[0]
        checkpoint.save(folder, {k: v for k, v in t.items() if k != "head.bias"}, cfg)
    elif how == "nan_weights":
        t = checkpoint.load(folder)[0]
        t["head.bias"] = torch.full_like(t["head.bias"], float("nan"))
        checkpoint.save(folder, t, cfg)
    elif how == "int_weights":
        t = checkpoint.load(folder)[0]
        t["head.weight"] = t["head.weight"].to(torch.int32)
        checkpoint.save(folder, t, cfg)
    else:
        raise AssertionError(how)


CASES = [
    "pickle_as_safetensors", "torch_save_zip_as_safetensors", "truncated_weights", "empty_weights",
    "lying_header_size", "header_not_json", "missing_weights", "missing_config", "garbage_json", "binary_json",
    "json_list", "not_our_format", "newer_version", "version_string", "newer_model_setting", "wrong_kind",
    "mismatched_shapes", "huge_hidden", "negative_hidden", "string_hidden", "labels_mismatch",
    "missing_features", "extra_tensor", "missing_tensor", "nan_weights", "int_weights",
]


def test_the_good_checkpoint_loads(good):
    model, cfg = load_model(good)
    assert cfg["labels"] == LABELS and model.dims == DIMS


@pytest.mark.parametrize("how", CASES)
def test_bad_checkpoint_gives_one_clear_error(good, tmp_path, how):
    _damage(good, how, tmp_path)
    with pytest.raises(CheckpointError) as err:
        load_model(good)
    line = err.value.one_line()
    assert line.startswith("CheckpointError: ") and "\n" not in line and len(line) < 600
    assert not (tmp_path / "PWNED").exists()


def test_missing_path_and_wrong_file_type(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope")
    f = tmp_path / "model.pt"
    f.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="not a model folder"):
        load_model(f)


def test_cli_prints_one_line_for_a_pickle_and_runs_nothing(good, tmp_path, fsdd_dir):
    _damage(good, "pickle_as_safetensors", tmp_path)
    wav = next(fsdd_dir.glob("3_*.wav"))
    r = subprocess.run([sys.executable, "-m", "audio_rnn", "classify", "--model", str(good), str(wav)],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and r.stderr.startswith("CheckpointError: ")
    assert "Traceback" not in r.stderr and not (tmp_path / "PWNED").exists()


def test_generator_checkpoint_with_a_lying_config_is_refused_before_allocating(tmp_path):
    """The character model loader goes through checkpoint.build too: hidden=10**6 beside small weights."""
    from audio_rnn.music.charrnn import load_model

    src = checkpoint.pretrained_path("abc")
    tensors, cfg = checkpoint.load(src, "charlm")
    cfg = {k: v for k, v in cfg.items() if k not in ("format", "version")}
    cfg["dims"] = {**cfg["dims"], "hidden": 10**6}
    bad = checkpoint.save(tmp_path / "abc", tensors, cfg)
    with pytest.raises(CheckpointError, match="shape"):
        load_model(bad)
    (bad / checkpoint.WEIGHTS).write_bytes(pickle.dumps(_Evil(tmp_path / "PWNED")))
    with pytest.raises(CheckpointError):
        load_model(bad)
    assert not (tmp_path / "PWNED").exists()


def test_settings_from_a_newer_version_or_with_bad_values_are_one_checkpoint_error():
    """Every settings dataclass read from a config refuses unknown keys and bad values the same way."""
    from audio_rnn.music.charrnn import CharLMDims
    from audio_rnn.errors import CheckpointError
    from audio_rnn.audio.features import FeatureConfig
    from audio_rnn.keywords.models import KWSDims

    for cls in (FeatureConfig, KWSDims, CharLMDims):
        with pytest.raises(CheckpointError, match="newer version"):
            cls.from_dict({"future_knob": 1})
        with pytest.raises(CheckpointError, match="JSON object"):
            cls.from_dict([1, 2])
    with pytest.raises(CheckpointError, match="invalid model settings"):
        KWSDims.from_dict({**KWSDims(n_in=20, n_classes=12).to_dict(), "cell": "transformer"})
