"""Stream-trained spotter: per-frame targets, the spotter computing exactly the features it was trained on,
segmented (batched) passes against the exact one, and a real `train-spot` -> `spot` run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_rnn.spotting.detection import StreamConfig
from audio_rnn.spotting.frontend import FrontEnd, stack_frames
from audio_rnn.spotting.streaming import Spotter
from audio_rnn.streams.train_spot import IGNORE, StreamingConfig, frame_targets, stream_features, step_times

from spot_signals import LABELS, SR, tone_noise

ROOT = Path(__file__).resolve().parents[1]


def _tone_noise(n: int, seed: int = 0) -> np.ndarray:
    return tone_noise(n, seed, freq=300.0, gate_hz=0.9, duty=0.5)


def test_stack_frames_puts_consecutive_frames_side_by_side():
    x = np.arange(14, dtype=np.float32).reshape(7, 2)
    y = stack_frames(x, 2)
    assert y.shape == (3, 4)
    np.testing.assert_array_equal(y[1], [4, 5, 6, 7])
    assert stack_frames(x, 1) is x


def test_frame_targets_mark_keyword_ends_ignore_onsets_and_label_unknown_words():
    sf_ = StreamingConfig(hit_before_s=0.15, hit_after_s=0.3)
    times = np.arange(0, 5, 0.02) + 0.02
    words = [{"label": "seven", "start": 1.0, "end": 1.6}, {"label": "_unknown_", "start": 3.0, "end": 3.5}]
    y = frame_targets(words, times, LABELS, sf_, onset_ignore_s=0.25)

    def at(t: float) -> int:
        return int(y[np.argmin(np.abs(times - t))])

    assert at(0.5) == LABELS.index("_silence_")
    assert at(1.2) == IGNORE  # "se..." could still become "six"
    assert at(1.5) == at(1.8) == LABELS.index("seven")  # from 0.15 s before the end to 0.3 s after
    assert at(2.2) == LABELS.index("_silence_")
    assert at(3.1) == IGNORE and at(3.4) == at(3.7) == LABELS.index("_unknown_")
    assert at(4.5) == LABELS.index("_silence_")


@pytest.fixture(scope="module")
def stream_model(tmp_path_factory):
    """A small random-weight stream checkpoint (2 stacked frames, last-state pooling) saved like train-spot does."""
    import torch

    from audio_rnn.training import checkpoint
    from audio_rnn.audio.features import FeatureConfig
    from audio_rnn.keywords.models import KeywordRNN, KWSDims

    torch.manual_seed(0)
    fc = FeatureConfig(deltas=True)
    sfeat = StreamingConfig(norm_s=2.0, stack=2, detection={"threshold": 0.6, "smooth_s": 0.3, "min_s": 0.1,
                                                           "suppress_s": 0.5})
    dims = KWSDims(n_in=fc.dim * 2, cell="gru", hidden=24, layers=2, pooling="last")
    model = KeywordRNN(dims).eval()
    folder = tmp_path_factory.mktemp("spot_random")
    from dataclasses import asdict

    checkpoint.save(folder, model.state_dict(), {"kind": "kws", "labels": LABELS, "model": dims.to_dict(),
                                                 "features": fc.to_dict(), "streaming": asdict(sfeat)})
    return folder, model, fc, sfeat


def test_spotter_runs_on_exactly_the_training_features(stream_model, tmp_path):
    """Exact pass: the numpy spotter's rows equal torch on `stream_features` (what train-spot trains on),
    whatever the block size, with one row per 20 ms step at the end of the audio it has heard."""
    import torch

    folder, model, fc, sfeat = stream_model
    x = _tone_noise(SR * 6 + 321, seed=3)
    fe = FrontEnd(fc.to_dict())
    feats = stream_features(x, fe, sfeat)
    with torch.no_grad():
        ref = torch.softmax(model.frame_logits(torch.from_numpy(feats[None]))[0], -1)[0].numpy()
    path = tmp_path / "s.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    for block in (30.0, 0.37):
        sp = Spotter(folder, segment_s=0.0, block_s=block)
        assert sp.config.mode == "state" and sp.config.threshold == 0.6 and sp.config.norm_s == 2.0
        times, probs, _ = sp.posteriors(str(path))
        assert probs.shape == ref.shape
        np.testing.assert_allclose(times, step_times(len(feats), fe, 2))
        np.testing.assert_allclose(probs, ref, atol=2e-4)


def test_segmented_pass_is_block_invariant_and_exact_in_its_first_stretch(stream_model):
    folder, _, _, _ = stream_model
    x = _tone_noise(SR * 7 + 99, seed=5)
    exact = Spotter(folder, segment_s=0.0).posteriors(x)[1]
    big = Spotter(folder, segment_s=1.0, warm_s=0.5, block_s=30.0).posteriors(x)[1]
    small = Spotter(folder, segment_s=1.0, warm_s=0.5, block_s=0.37).posteriors(x)[1]
    assert big.shape == exact.shape
    np.testing.assert_allclose(small, big, atol=2e-4)
    np.testing.assert_allclose(big[:50], exact[:50], atol=2e-4)  # the first stretch starts where the stream does
    np.testing.assert_allclose(big.sum(axis=1), 1.0, atol=1e-5)


def test_stream_model_refuses_window_mode(stream_model):
    from audio_rnn.errors import CheckpointError

    with pytest.raises(CheckpointError, match="state mode only"):
        Spotter(stream_model[0], StreamConfig(mode="window"))


def test_train_spot_then_spot_end_to_end(fsdd_dir, tmp_path):
    """A tiny real training run on FSDD streams writes a checkpoint that `spot` and `eval-streams` read."""
    out = tmp_path / "spotter"
    run = subprocess.run([sys.executable, "-m", "audio_rnn", "train-spot", "--data", str(fsdd_dir),
                          "--holdout-speakers", "george", "--out", str(out), "--epochs", "2", "--streams", "4",
                          "--stream-seconds", "8", "--val-streams", "2", "--hidden", "16", "--layers", "1",
                          "--swa", "2", "--quiet"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["streaming"]["stack"] == 2 and cfg["model"]["pooling"] == "last"
    assert len(cfg["training"]["history"]) == 2 and "found_right_pct" in cfg["training"]["best_val"]
    assert cfg["training"]["weight_average"]["epochs_averaged"] == 2
    wav = tmp_path / "x.wav"
    sf.write(wav, _tone_noise(SR * 4), SR)
    # a tiny network has learnt little: at sensitivity 1 (threshold 0) every keyword run is a detection, so the
    # checkpoint's outputs must reach `spot`'s JSON
    spot = subprocess.run([sys.executable, "-m", "audio_rnn", "spot", str(wav), "--model", str(out), "--json",
                           "--sensitivity", "1"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert spot.returncode == 0, spot.stderr
    rows = [json.loads(line) for line in spot.stdout.splitlines()]
    assert rows and all(set(r) == {"label", "start", "end", "score"} for r in rows), spot.stdout
    assert all(0 <= r["start"] < r["end"] <= 4.5 and r["label"] in cfg["labels"] for r in rows), rows
    clip = subprocess.run([sys.executable, "-m", "audio_rnn", "classify", str(wav), "--model", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert clip.returncode == 1 and "stream-trained spotter" in clip.stderr and "Traceback" not in clip.stderr


def test_causal_deltas_equal_torchaudio_at_the_newest_frame():
    """Each causal delta is what torchaudio's compute_deltas gives for a clip ending at that frame."""
    import torch
    import torchaudio

    from audio_rnn.spotting.frontend import causal_deltas

    x = np.random.default_rng(0).standard_normal((9, 3)).astype(np.float32)
    d, _ = causal_deltas(x[:4], np.zeros((0, 3), np.float32))
    d2, _ = causal_deltas(x[4:], x[2:4])
    got = np.concatenate([d, d2])
    for t in range(9):
        ref = torchaudio.functional.compute_deltas(torch.from_numpy(x[: t + 1].T.copy()))[:, -1].numpy()
        np.testing.assert_allclose(got[t], ref, atol=1e-5)


def test_detect_on_a_file_equals_detect_on_its_posteriors(stream_model):
    """Block-wise detection (bounded memory) smooths over the same 20 ms steps as detection on whole arrays."""
    folder, _, _, _ = stream_model
    x = _tone_noise(SR * 12, seed=8)
    sp = Spotter(folder, threshold=0.085, min_s=0.0, smooth_s=0.1, block_s=1.3)
    times, probs, _ = sp.posteriors(x)
    direct = sp.detect(x)
    assert direct, "the settings should fire on this random model"
    assert direct == sp.detect((times, probs))


def test_exclude_words_drops_only_those_espeak_words():
    from audio_rnn.keywords.data import Clip, exclude_words

    w = np.zeros(10, np.float32)
    clips = [Clip(w, "_unknown_", "v", "espeak", "train", "_unknown_/tree_0001.wav"),
             Clip(w, "_unknown_", "v", "espeak", "train", "_unknown_/treetop_0002.wav"),
             Clip(w, "three", "v", "espeak", "train", "three/three_0003.wav"),
             Clip(w, "three", "george", "fsdd", "train", "3_george_0.wav")]
    kept = exclude_words(clips, ["tree", " "])
    assert [c.name for c in kept] == [c.name for c in clips[1:]]


def test_average_states_means_floats_and_keeps_the_last_integer_buffers():
    import torch

    from audio_rnn.training.checkpoint import average_states

    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(5)}
    avg = average_states([a, b])
    assert torch.equal(avg["w"], torch.tensor([2.0, 4.0])) and int(avg["n"]) == 5 and avg["n"].dtype == torch.int64


@pytest.mark.parametrize("cell,conv", [("lstm", 0), ("gru", 6), ("lstm", 6)])
def test_stream_training_carries_every_kind_of_state_across_chunks(cell, conv):
    """Truncated BPTT detaches the whole carried state: an LSTM's (h, c) and a CRNN's last frames too (an LSTM
    spotter used to fail here), and the carried state makes the chunked loss equal the loss over whole streams."""
    import torch

    from audio_rnn.keywords.models import KeywordRNN, KWSDims
    from audio_rnn.streams.train_spot import chunk_loss, detach_state

    torch.manual_seed(0)
    model = KeywordRNN(KWSDims(n_in=10, n_classes=4, cell=cell, hidden=8, layers=2, pooling="last", conv=conv,
                               conv_kernel=3, dropout=0.0)).eval()
    xt, yt = torch.randn(3, 24, 10), torch.randint(0, 4, (3, 24))
    _, state = model.frame_logits(xt[:, :5])
    cut = detach_state(state)
    leaves = [t for t in torch.utils._pytree.tree_leaves(cut) if isinstance(t, torch.Tensor)]
    assert leaves and all(not t.requires_grad for t in leaves)
    loss_fn = torch.nn.CrossEntropyLoss()
    state, losses = None, []
    for i in range(0, 24, 8):
        loss, state = chunk_loss(model, xt, yt, i, 8, state, loss_fn)
        loss.backward()  # each chunk's graph ends at the carried state: backward works chunk by chunk
        states = [t for t in torch.utils._pytree.tree_leaves(state) if isinstance(t, torch.Tensor)]
        assert all(not t.requires_grad for t in states)
        losses.append(float(loss.detach()))
    chunked = float(np.mean(losses))
    with torch.no_grad():
        whole, _ = model.frame_logits(xt)
    ref = float(np.mean([float(loss_fn(whole[:, i:i + 8].reshape(-1, 4), yt[:, i:i + 8].reshape(-1)))
                         for i in range(0, 24, 8)]))
    assert np.isfinite(chunked) and chunked > 0
    assert abs(chunked - ref) < 1e-5
