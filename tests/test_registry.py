"""The one model registry: shipped names, the default's environment variable, spotter roles, and the one
writer of tuned settings."""

from __future__ import annotations

import json
import shutil

from audio_rnn.training import checkpoint, registry


def test_names_paths_and_the_default_environment_variable(monkeypatch, tmp_path):
    monkeypatch.delenv("AUDIO_RNN_KWS_MODEL", raising=False)
    assert registry.resolve(None) == checkpoint.pretrained_path("digits") == registry.resolve("digits")
    assert registry.resolve("commands") == checkpoint.pretrained_path("commands")
    assert registry.resolve(str(tmp_path)) == tmp_path
    monkeypatch.setenv("AUDIO_RNN_KWS_MODEL", str(tmp_path))
    assert registry.resolve(None) == tmp_path  # the default honours the variable, in the CLI and the app alike
    assert registry.resolve("digits") == checkpoint.pretrained_path("digits")  # a name is the shipped model
    from audio_rnn.keywords.recognize import model_path

    assert model_path(None) == tmp_path


def test_spotter_roles_of_the_shipped_vocabularies(monkeypatch):
    monkeypatch.delenv("AUDIO_RNN_KWS_MODEL", raising=False)
    assert registry.spotter("commands", "vad") == checkpoint.pretrained_path("commands")
    assert registry.spotter("commands", "state") == checkpoint.pretrained_path("spotter_commands")
    assert registry.spotter("digits") == checkpoint.pretrained_path("digits")  # tuned for vad: it listens
    clip = checkpoint.load_config(checkpoint.pretrained_path("digits"))
    stream = checkpoint.load_config(checkpoint.pretrained_path("spotter"))
    assert registry.role(clip) == registry.CLIP and registry.role(stream) == registry.STREAM
    assert registry.role(checkpoint.load_config(checkpoint.pretrained_path("abc"))) == registry.CHAR


def test_update_config_merges_or_replaces_a_section_and_leaves_the_weights(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(checkpoint.pretrained_path("digits"), folder)
    weights = (folder / checkpoint.WEIGHTS).read_bytes()
    registry.update_config(folder, "decision", {"keyword_threshold": 0.55})
    registry.update_config(folder, "spotting", {"threshold": 0.7, "tuned_on": ["x"]}, replace=True)
    registry.update_config(folder, "streaming.detection", {"smooth_s": 0.2})
    cfg = json.loads((folder / checkpoint.CONFIG).read_text())
    assert cfg["decision"]["keyword_threshold"] == 0.55 and cfg["labels"] == checkpoint.load_config(
        checkpoint.pretrained_path("digits"))["labels"]
    assert cfg["spotting"] == {"threshold": 0.7, "tuned_on": ["x"]}
    assert cfg["streaming"] == {"detection": {"smooth_s": 0.2}}
    assert (folder / checkpoint.WEIGHTS).read_bytes() == weights


def test_typed_sections_read_defaults_refuse_unknown_keys_and_round_trip(tmp_path):
    import pytest

    from audio_rnn.errors import CheckpointError

    folder = tmp_path / "m"
    shutil.copytree(checkpoint.pretrained_path("commands"), folder)
    cfg = checkpoint.load_config(folder)
    assert registry.section({}, registry.Decision) == registry.Decision()
    assert registry.section(cfg, registry.Spotting).mode == "vad"
    registry.save_section(folder, registry.Spotting(mode="window", threshold=0.55, tuned_on=["v"]))
    back = registry.section(checkpoint.load_config(folder), registry.Spotting)
    assert back.settings() == {"mode": "window", "threshold": 0.55} and back.tuned_on == ["v"]
    from audio_rnn.spotting.streaming import Spotter

    assert Spotter(str(folder)).config.mode == "window" and Spotter(str(folder)).config.threshold == 0.55
    with pytest.raises(CheckpointError, match="unknown decision"):
        registry.section({"decision": {"keyword_threshold": 0.3, "typo": 1}}, registry.Decision)
