"""Audio loading, bad inputs, block reading, framing and resampling, on real files made in the test."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_rnn.audio.decode import load_audio, probe, read_blocks, resample
from audio_rnn.audio.framing import frame, Frames, n_frames
from audio_rnn.errors import (
    AudioError,
    DecoderMissingError,
    EmptyAudioError,
    InvalidSamplesError,
    NotAudioError,
    SampleRateError,
    TooLongError,
    TruncatedAudioError,
)

HAS_FFMPEG = shutil.which("ffmpeg") is not None


def tone(sr: int, seconds: float = 1.0, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def encode(x: np.ndarray, sr: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def dominant_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spec)])


def ffmpeg_encode(tmp_path: Path, x: np.ndarray, sr: int, ext: str, codec: str) -> Path:
    src = tmp_path / "src.wav"
    sf.write(src, x, sr)
    out = tmp_path / f"clip.{ext}"
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", str(src), "-c:a", codec, str(out)], check=True)
    return out


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    "fmt,subtype,sr",
    [
        ("WAV", "PCM_16", 16000),
        ("WAV", "PCM_24", 44100),
        ("WAV", "FLOAT", 48000),
        ("WAV", "ULAW", 8000),
        ("WAV", "ALAW", 8000),
        ("FLAC", "PCM_16", 22050),
        ("OGG", "VORBIS", 44100),
        ("MP3", "MPEG_LAYER_III", 44100),
    ],
)
def test_soundfile_formats_decode_to_16k_mono(fmt, subtype, sr):
    x = tone(sr)
    y = load_audio(encode(x, sr, fmt, subtype), sr=16000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 16000) <= 16000 * 0.01 + 1152  # mp3 adds up to one frame of padding
    assert abs(dominant_hz(y, 16000) - 440) < 5
    assert np.max(np.abs(y)) <= 1.0
    lossy = fmt in ("OGG", "MP3") or subtype in ("ULAW", "ALAW")
    ref = resample(x, sr, 16000)
    if not lossy:  # lossless: sample-accurate against soxr of the original
        n = min(len(ref), len(y))
        assert np.max(np.abs(y[:n] - ref[:n])) < 2e-4
    assert abs(np.sqrt(np.mean(y**2)) - 0.3 / np.sqrt(2)) < 0.02


@pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg not installed")
@pytest.mark.parametrize("ext,codec", [("m4a", "aac"), ("webm", "libopus")])
def test_ffmpeg_containers_path_and_bytes(tmp_path, ext, codec):
    path = ffmpeg_encode(tmp_path, tone(48000), 48000, ext, codec)
    info = probe(path)
    assert info.decoder == "ffmpeg" and info.sample_rate == 48000
    a = load_audio(path)
    b = load_audio(path.read_bytes())
    assert np.array_equal(a, b)
    assert abs(len(a) - 16000) < 600  # AAC/Opus priming may add up to one codec frame
    assert abs(dominant_hz(a, 16000) - 440) < 5
    with pytest.raises(TooLongError):
        load_audio(path, max_seconds=0.5)


@pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg not installed")
def test_ffmpeg_only_container_without_ffmpeg_names_what_is_missing(tmp_path, monkeypatch):
    m4a = ffmpeg_encode(tmp_path, tone(16000), 16000, "m4a", "aac")
    wav = tmp_path / "ok.wav"
    sf.write(wav, tone(16000), 16000)
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(DecoderMissingError, match="ffmpeg"):
        load_audio(m4a)
    with pytest.raises(NotAudioError):
        load_audio(b"this is a text file, not audio\n" * 10)
    assert len(load_audio(wav)) == 16000  # soundfile formats need no ffmpeg


def test_path_bytes_and_file_like_agree(tmp_path):
    path = tmp_path / "a.flac"
    sf.write(path, tone(44100), 44100)
    a = load_audio(path)
    assert np.array_equal(a, load_audio(str(path)))
    assert np.array_equal(a, load_audio(path.read_bytes()))
    assert np.array_equal(a, load_audio(bytearray(path.read_bytes())))
    assert np.array_equal(a, load_audio(io.BytesIO(path.read_bytes())))
    with open(path, "rb") as f:
        assert np.array_equal(a, load_audio(f))
    with open(path, "r", encoding="latin-1") as f, pytest.raises(AudioError, match="binary"):
        load_audio(f)
    with pytest.raises(AudioError, match="path, bytes"):
        load_audio(12345)  # type: ignore[arg-type]


def test_multichannel_is_averaged_and_dc_removed():
    sr = 16000
    x = np.stack([tone(sr), -tone(sr), tone(sr) + 0.2, 0.2 + 0 * tone(sr), *[tone(sr)] * 4], axis=1)
    y = load_audio(encode(x, sr, "WAV", "FLOAT"))
    expect = x.mean(axis=1)
    assert abs(float(np.mean(y))) < 1e-6
    assert np.allclose(y, expect - expect.mean(), atol=1e-5)


def test_float_beyond_full_scale_is_scaled_not_clipped():
    x = tone(16000, amp=3.0)
    y = load_audio(encode(x, 16000, "WAV", "FLOAT"))
    assert np.isclose(np.max(np.abs(y)), 1.0, atol=1e-4)
    assert np.allclose(y, x / 3.0, atol=1e-4)


def test_384k_and_8k_rates_decode():
    y = load_audio(encode(tone(384000, 0.25, 1000), 384000, "WAV", "FLOAT"))
    assert len(y) == 4000 and abs(dominant_hz(y, 16000) - 1000) < 5
    y = load_audio(encode(tone(8000), 8000), sr=8000)
    assert len(y) == 8000


def test_fsdd_recording(fsdd_dir):
    path = fsdd_dir / "7_jackson_0.wav"
    info = probe(path)
    assert info.sample_rate == 8000 and info.channels == 1
    y = load_audio(path)
    assert abs(len(y) / 16000 - info.duration) < 0.001 and 0.05 < np.max(np.abs(y)) <= 1


# ----------------------------------------------------------------------------- bad inputs


def patch_wav_rate(data: bytes, rate: int) -> bytes:
    b = bytearray(data)
    b[24:28] = struct.pack("<I", rate)
    b[28:32] = struct.pack("<I", rate * 2)
    return bytes(b)


def test_empty_inputs(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(EmptyAudioError, match="empty"):
        load_audio(tmp_path / "empty.wav")
    with pytest.raises(EmptyAudioError):
        load_audio(b"")
    with pytest.raises(EmptyAudioError, match="zero samples"):
        load_audio(encode(np.zeros(0, np.float32), 16000))
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="folder"):
        load_audio(tmp_path)


def test_not_audio(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("these are my meeting notes, saved with the wrong name\n" * 50)
    rng = np.random.default_rng(0)
    for bad in (text, rng.bytes(4000), b"\x00" * 3000, b"RIFF" + rng.bytes(100)):
        with pytest.raises(NotAudioError, match="not an audio file"):
            load_audio(bad)


def test_truncated_and_lying_headers_are_refused_without_big_allocations():
    data = encode(tone(16000, 3.0), 16000)
    for cut in (0.6, 0.2):
        with pytest.raises(TruncatedAudioError, match="truncated"):
            load_audio(data[: int(len(data) * cut)])
    with pytest.raises(TruncatedAudioError):
        load_audio(data[:44])  # header only
    lying = bytearray(data)
    lying[4:8] = struct.pack("<I", 0xFFFFFFF0)
    lying[40:44] = struct.pack("<I", 0xFFFFFFF0)  # data chunk claims 4 GB
    tracemalloc.start()
    try:
        with pytest.raises(TruncatedAudioError, match="4294967280 bytes"):
            load_audio(bytes(lying), max_seconds=None)
        flac = bytearray(encode(tone(16000, 1.0), 16000, "FLAC"))
        # STREAMINFO total samples (36 bits at byte 21.5): claim 2^35 samples = 25 days at 16 kHz
        flac[21] = (flac[21] & 0xF0) | 0x08
        flac[22:26] = b"\x00\x00\x00\x00"
        with pytest.raises(TooLongError):
            load_audio(bytes(flac))
        with pytest.raises(TruncatedAudioError, match="truncated"):
            load_audio(bytes(flac), max_seconds=None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6, f"peak Python allocation {peak / 1e6:.1f} MB"


def test_nan_and_inf_samples():
    for bad in (np.nan, np.inf, -np.inf):
        x = tone(16000)
        x[1234] = bad
        with pytest.raises(InvalidSamplesError, match="NaN or infinity"):
            load_audio(encode(x, 16000, "WAV", "FLOAT"))


@pytest.mark.parametrize("rate", [1, 100, 3999, 384001, 2**31 - 1])
def test_absurd_sample_rates(rate):
    with pytest.raises(SampleRateError, match=f"{rate} Hz"):
        load_audio(patch_wav_rate(encode(tone(16000), 16000), rate))


def test_absurd_requested_rate():
    with pytest.raises(SampleRateError):
        load_audio(encode(tone(16000), 16000), sr=10)


def sparse_wav(path: Path, sr: int, seconds: float) -> Path:
    """A valid 16-bit mono WAV of silence written as a sparse file: hours of audio in no time or disk."""
    n = int(sr * seconds) * 2
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 36 + n) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16))
        f.write(b"data" + struct.pack("<I", n))
        f.truncate(44 + n)
    return path


def test_too_long_is_refused_from_the_header_fast(tmp_path):
    path = sparse_wav(tmp_path / "three_hours.wav", 16000, 3 * 3600)
    assert probe(path).duration == 3 * 3600
    t0 = time.perf_counter()
    with pytest.raises(TooLongError, match="10800.0 s is longer than the 60 s limit"):
        load_audio(path, max_seconds=60)
    assert time.perf_counter() - t0 < 0.5


# ----------------------------------------------------------------------------- blocks


def test_read_blocks_bounded_memory_on_a_10_minute_file(tmp_path):
    sr_in, seconds = 8000, 600
    path = tmp_path / "ten_minutes.wav"
    rng = np.random.default_rng(1)
    with sf.SoundFile(path, "w", sr_in, 1, "PCM_16") as f:
        for _ in range(seconds // 60):
            f.write((0.1 * rng.standard_normal(sr_in * 60)).astype(np.float32))
    tracemalloc.start()
    try:
        sizes = [len(b) for b in read_blocks(path, sr=16000, block_seconds=5.0)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert abs(sum(sizes) - seconds * 16000) <= 1
    assert max(sizes) <= 5.0 * 16000 * 1.05 and len(sizes) in (120, 121)  # soxr buffers a little
    # the whole file at 16 kHz is 38 MB of float32; streaming holds a few blocks
    assert peak < 4e6, f"peak Python allocation {peak / 1e6:.1f} MB"


def test_read_blocks_concatenate_to_load_audio(tmp_path):
    x = tone(44100, 3.3, 300) + tone(44100, 3.3, 2000, 0.1)
    path = tmp_path / "a.flac"
    sf.write(path, x, 44100)
    whole = load_audio(path)
    blocks = list(read_blocks(path, block_seconds=0.5))
    assert len(blocks) == 7
    joined = np.concatenate(blocks)
    assert len(joined) == len(whole)
    assert np.max(np.abs((joined - joined.mean()) - whole)) < 1e-5
    from_bytes = np.concatenate(list(read_blocks(path.read_bytes(), block_seconds=0.5)))
    assert np.array_equal(joined, from_bytes)


@pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg not installed")
def test_read_blocks_through_ffmpeg(tmp_path):
    path = ffmpeg_encode(tmp_path, tone(48000, 2.0), 48000, "webm", "libopus")
    blocks = list(read_blocks(path, block_seconds=0.5))
    assert [len(b) for b in blocks[:3]] == [8000] * 3
    assert np.allclose(np.concatenate(blocks), load_audio(path), atol=1e-3)


def test_read_blocks_errors(tmp_path):
    with pytest.raises(NotAudioError):
        list(read_blocks(b"definitely not audio" * 100))
    x = tone(16000)
    x[9000] = np.nan
    with pytest.raises(InvalidSamplesError):
        list(read_blocks(encode(x, 16000, "WAV", "FLOAT"), block_seconds=0.1))


# ----------------------------------------------------------------------------- framing and resampling


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 5000),
    frame_ms=st.floats(1.0, 60.0),
    hop_ms=st.floats(1.0, 30.0),
    sr=st.sampled_from([8000, 16000, 22050, 44100]),
)
def test_frame_shapes_and_times(n, frame_ms, hop_ms, sr):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    fr = frame(x, frame_ms, hop_ms, sr)
    assert isinstance(fr, Frames)
    assert fr.frame_len == max(1, round(frame_ms * sr / 1000)) and fr.hop == max(1, round(hop_ms * sr / 1000))
    count = n_frames(n, fr.frame_len, fr.hop)
    assert fr.frames.shape == (count, fr.frame_len) and fr.starts.shape == (count,)
    if n >= fr.frame_len:  # every full frame, and no room for one more
        assert (count - 1) * fr.hop + fr.frame_len <= n < count * fr.hop + fr.frame_len
    elif n > 0:
        assert count == 1 and np.array_equal(fr.frames[0, :n], x) and not fr.frames[0, n:].any()
    for i in range(count):
        start = i * fr.hop
        assert fr.starts[i] == pytest.approx(start / sr)
        seg = x[start : start + fr.frame_len]
        assert np.array_equal(fr.frames[i, : len(seg)], seg)
    assert np.allclose(fr.ends - fr.starts, fr.frame_len / sr)
    assert fr.rate == pytest.approx(sr / fr.hop)


def test_frame_rejects_bad_durations():
    with pytest.raises(ValueError):
        frame(np.zeros(100), 0.0, 10.0)
    with pytest.raises(ValueError):
        frame(np.zeros(100), 25.0, -1.0)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 20000),
    sr_in=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000, 96000]),
    sr_out=st.sampled_from([8000, 16000, 22050, 48000]),
)
def test_resample_lengths(n, sr_in, sr_out):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
    y = resample(x, sr_in, sr_out)
    assert y.dtype == np.float32 and abs(len(y) - n * sr_out / sr_in) <= 0.5 + 1e-9


@settings(max_examples=15, deadline=None)
@given(n=st.integers(300, 30000), sr_in=st.sampled_from([8000, 22050, 44100, 48000]))
def test_loaded_length_matches_resampled_length(n, sr_in):
    x = (0.1 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
    y = load_audio(encode(x, sr_in, "WAV", "FLOAT"))
    assert len(y) == len(resample(x, sr_in, 16000))


@pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg not installed")
def test_flac_of_unknown_length_decodes_and_stops_at_the_limit():
    """STREAMINFO total samples 0 means "unknown" (streamed encoders): libsndfile fails, ffmpeg takes over."""
    x = (0.1 * np.random.default_rng(0).standard_normal(48000)).astype(np.float32)
    full = encode(x, 16000, "FLAC")
    d = bytearray(full)
    d[21] &= 0xF0
    d[22:26] = b"\0\0\0\0"
    assert probe(bytes(d)).frames == -1
    assert np.array_equal(load_audio(bytes(d)), load_audio(full))
    with pytest.raises(TooLongError):  # nothing in the header to refuse it by: decoding stops at the limit
        load_audio(bytes(d), max_seconds=1.0)
    for cut in (0.5, 0.95):  # cut-off FLAC with a known length stays an error, ffmpeg or not
        with pytest.raises(TruncatedAudioError):
            load_audio(full[: int(len(full) * cut)])


def test_active_bounds_find_the_word_above_a_clean_or_a_noisy_floor():
    """`active_bounds`: a 0.4 s word at 0.6-1.0 s is found in digital silence and under hiss and hum at ~15 dB
    SNR (where a share-of-peak rule takes the whole take); noise alone is all 'active' (no word to cut)."""
    from audio_rnn.audio.activity import active_bounds

    sr, rng = 16000, np.random.default_rng(0)
    t = np.arange(int(1.6 * sr)) / sr
    word = np.where((t >= 0.6) & (t < 1.0), 0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(np.pi * (t - 0.6) / 0.4), 0)
    floor = 0.01 * rng.standard_normal(len(t)) + 0.01 * np.sin(2 * np.pi * 50 * t)
    for x in (word, word + floor):
        a, b = active_bounds(x, sr)
        assert 0.5 * sr <= a <= 0.65 * sr and 0.95 * sr <= b <= 1.1 * sr
    assert active_bounds(floor, sr) == (0, len(t))
    assert active_bounds(np.zeros(20), sr) == (0, 20)
