"""The shipped ABC model: defaults work, a generated tune is valid, and the meter guard's bar reading."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from audio_rnn.music import meter_guard, notation, validity
from audio_rnn.training.checkpoint import pretrained_path
from audio_rnn.cli import main
from audio_rnn.music.generate import get_generator


@pytest.fixture(scope="module")
def shipped():
    assert (pretrained_path("abc") / "model.safetensors").is_file(), "shipped ABC model missing"
    return get_generator()


def test_shipped_model_is_small_and_its_config_describes_its_weights():
    """Within the repository's size budget, and loadable by the safe loader: its dims build a network whose every
    tensor has the saved shape, and its vocabulary is the network's; each training run fit one session."""
    from audio_rnn.music.charrnn import load_model

    folder = pretrained_path("abc")
    assert (folder / "model.safetensors").stat().st_size <= 20 * 2**20
    model, vocab, cfg = load_model(folder)
    assert cfg["kind"] == "charlm" and model.dims.vocab_size == len(vocab)
    assert sum(p.numel() for p in model.parameters()) * 4 <= (folder / "model.safetensors").stat().st_size
    assert all(run["train_seconds"] <= 45 * 60 for run in cfg["lineage"])


def test_shipped_model_writes_valid_tunes(shipped):
    out = shipped.generate(n=4, seed=11)
    assert all(g.text.startswith("X:1\nT:") and g.ended for g in out)
    assert sum(g.valid for g in out) >= 3, [g.reasons for g in out]
    assert len({g.text for g in out}) == 4
    v = validity.check_tune(out[0].text) if out[0].valid else validity.check_tune(next(g.text for g in out if g.valid))
    assert v.valid and v.bars >= 4


def test_length_guard_keeps_sampling_until_the_tune_is_whole(shipped):
    """With the length guard every ended tune has at least 8 full bars and closes its last bar; without it,
    the same seeds write fragments (the issue's 2-3 bar tunes)."""
    guarded = shipped.sample(n=12, seed=11)
    bare = shipped.sample(n=12, seed=11, min_bars=0)
    short = 0
    for (text, ended, _), (bare_text, bare_ended, _) in zip(guarded, bare):
        assert ended, text[-200:]
        bars = validity.written_bars(text)
        assert validity.whole_tune_problems(text, bars) == [], text
        if bare_ended and validity.whole_tune_problems(bare_text, validity.written_bars(bare_text)):
            short += 1
    assert short >= 1  # the guard changed something: some unguarded tunes were fragments


def test_meter_guard_counts_full_bars():
    g = meter_guard.MeterGuard()
    for line in ("M:4/4", "L:1/8", "K:G"):
        g.header_line(line)
    assert g.judge("G2", False) == "accept" and g.full_bars == 0  # the pickup is not a full bar
    assert g.judge("GABc dedB", False) == "accept" and g.full_bars == 1
    assert g.close_at_line_end("GABc dedB") and g.full_bars == 2
    assert not g.close_at_line_end("GAB") and g.full_bars == 2


def test_shipped_model_header_primer(shipped):
    g = shipped.generate(n=1, primer="M:6/8\nK:D\n", seed=5, until_valid=3)[0]
    head = notation.header_fields(g.text)
    assert head["M"] == "6/8" and head["K"] == "D" and head["T"]
    assert g.valid, g.reasons


def test_default_cli_generate_json(capsys):
    assert main(["generate", "--json", "--seed", "1"]) == 0
    obj = json.loads(capsys.readouterr().out.strip().split("\n")[0])
    assert isinstance(obj["text"], str) and isinstance(obj["valid"], bool) and obj["meter_guard"] is True


def test_shipped_score_of_a_real_tune(tmp_path, capsys):
    f = tmp_path / "kesh.abc"
    f.write_text("X:1\nT:The Kesh\nM:6/8\nL:1/8\nK:G\n|:GAG GAB|ABA ABd|edd gdd|edB dBA|\n"
                 "GAG GAB|ABA ABd|edd gdB|AGF G3:|\n")
    assert main(["score", str(f), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["chars"] == len(f.read_text()) and res["bits_per_char"] < 3.0
    # the second line repeats most of the first: the copy cache must pay off, --no-cache is the net alone
    assert res["cache"] and res["bits_per_char"] < res["network_bits_per_char"]
    assert main(["score", str(f), "--json", "--no-cache"]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert alone["bits_per_char"] == alone["network_bits_per_char"] == res["network_bits_per_char"]


@pytest.mark.parametrize(
    "bar, quarters",
    [("GAG GAB", 3), ("A2G ABc", 3), ("(3Bcd B2", 2), ("G>A B>A", 2), ("[GB]2A", Fraction(3, 2)),
     ('"Am"A2{c}B2c2', 3), ("g2f/e/ d", 2), ("A3-A2B/c/", 3), ("!trill!c2 d", Fraction(3, 2)), ('"open', None)],
)
def test_bar_quarters(bar, quarters):
    assert meter_guard.bar_quarters(bar, Fraction(1, 8)) == quarters


def test_meter_guard_judges_bars():
    g = meter_guard.MeterGuard()
    for line in ("X:1", "T:t", "M:6/8", "L:1/8", "K:G"):
        g.header_line(line)
    assert g.in_body and g.full == 3
    assert g.judge("D", False) == "accept"  # pickup
    assert g.judge("GAG GAB", False) == "accept"
    assert g.judge("GAG GABc", False) == "reject"  # too long
    assert g.judge("GAG G2", False) == "reject"  # short in the middle
    assert g.judge("GAG G2:", True) == "accept"  # ends the part, completes the pickup
    assert g.judge(":", True) == "empty"
