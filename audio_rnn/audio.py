"""Audio front-end, part 1: decode anything a user has into mono float32 at a fixed rate, and frame it.

Decoding goes through libsndfile (soundfile: wav, flac, ogg, mp3, aiff, ...) and
falls back to ffmpeg for containers such as m4a or the webm that browsers record.
Every failure a user can cause raises a typed `AudioError` with a message that
says what to do. Pure functions; no global state.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Union

import numpy as np

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

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

DEFAULT_SR = 16000
MIN_SR = 4000  # below this no speech band survives
MAX_SR = 384000  # the highest rate of studio converters
DEFAULT_MAX_SECONDS = 4 * 3600.0


@dataclass(frozen=True)
class AudioInfo:
    """What a file declares about itself, read without decoding the samples."""

    sample_rate: int
    channels: int
    frames: int
    format: str
    decoder: str  # "soundfile" or "ffmpeg"

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


# ----------------------------------------------------------------------------- input normalisation


def _read_bytes(source: Source) -> tuple[bytes | None, Path | None, str]:
    """(bytes or None, path or None, display name). Paths are not read into memory."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise AudioError(f"file not found: {path}")
        if path.is_dir():
            raise AudioError(f"is a folder, not an audio file: {path}")
        if path.stat().st_size == 0:
            raise EmptyAudioError(f"file is empty: {path}")
        return None, path, str(path)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise AudioError("file-like object must be opened in binary mode")
        data = bytes(data)
    else:
        raise AudioError(f"cannot read audio from a {type(source).__name__}")
    if not data:
        raise EmptyAudioError("file is empty")
    return data, None, "<bytes>"


def _has_ffmpeg() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def _looks_like_container(head: bytes) -> str | None:
    """Name the container of bytes soundfile cannot read, to say that ffmpeg is needed."""
    if head[:4] == b"\x1aE\xdf\xa3":
        return "webm/matroska"
    if head[4:8] == b"ftyp":
        return "mp4/m4a"
    if head[:4] == b"caff":
        return "caf"
    if head[:4] == b"#!AM":
        return "amr"
    if head[:2] in (b"\xff\xf1", b"\xff\xf9"):
        return "aac"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


# ----------------------------------------------------------------------------- probing


def _sf_info(data: bytes | None, path: Path | None):
    import soundfile as sf

    try:
        return sf.info(io.BytesIO(data) if data is not None else str(path))
    except Exception:  # libsndfile raises a generic error for anything it does not recognise
        return None


def _ffprobe(data: bytes | None, path: Path | None, name: str) -> AudioInfo:
    cmd = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=sample_rate,channels,duration,codec_name:format=duration,format_name", "-of", "json",
           "-i", str(path) if path is not None else "pipe:0"]
    try:
        out = subprocess.run(cmd, input=data, capture_output=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        raise NotAudioError(f"{name}: the decoder timed out reading the header") from None
    try:
        meta = json.loads(out.stdout or b"{}")
    except json.JSONDecodeError:
        meta = {}
    streams = meta.get("streams") or []
    if out.returncode != 0 or not streams:
        raise NotAudioError(f"{name}: not an audio file (no audio stream found)")
    st = streams[0]
    sr = int(st.get("sample_rate") or 0)
    dur = st.get("duration") or (meta.get("format") or {}).get("duration")
    dur = float(dur) if dur not in (None, "N/A") else math.nan
    frames = int(dur * sr) if sr and math.isfinite(dur) else -1
    return AudioInfo(sr, int(st.get("channels") or 0), frames, str(st.get("codec_name", "?")), "ffmpeg")


def probe(source: Source) -> AudioInfo:
    """Read a file's header (rate, channels, length) without decoding its samples."""
    data, path, name = _read_bytes(source)
    return _probe(data, path, name)


def _probe(data: bytes | None, path: Path | None, name: str) -> AudioInfo:
    info = _sf_info(data, path)
    if info is not None:
        return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames), str(info.format), "soundfile")
    if path is not None:
        with open(path, "rb") as f:
            head = f.read(64)
    else:
        head = (data or b"")[:64]
    container = _looks_like_container(head)
    if not _has_ffmpeg():
        if container:
            raise DecoderMissingError(
                f"{name}: {container} audio needs ffmpeg, which is not installed (apt-get install ffmpeg)"
            )
        raise NotAudioError(f"{name}: not an audio file we can decode (wav, flac, ogg, mp3; others need ffmpeg)")
    return _ffprobe(data, path, name)


def _check_header(info: AudioInfo, name: str, max_seconds: float | None) -> None:
    if not (MIN_SR <= info.sample_rate <= MAX_SR):
        raise SampleRateError(
            f"{name}: sample rate {info.sample_rate} Hz is outside the supported {MIN_SR}-{MAX_SR} Hz"
        )
    if info.channels < 1:
        raise NotAudioError(f"{name}: no audio channels")
    if info.frames == 0:
        raise EmptyAudioError(f"{name}: zero samples")
    if max_seconds is not None and info.frames > 0 and info.duration > max_seconds:
        raise TooLongError(
            f"{name}: {info.duration:.1f} s is longer than the {max_seconds:.0f} s limit; trim it or raise the limit"
        )


# ----------------------------------------------------------------------------- decoding


def _decode_soundfile(data: bytes | None, path: Path | None, info: AudioInfo, name: str) -> np.ndarray:
    import soundfile as sf

    try:
        x, _ = sf.read(io.BytesIO(data) if data is not None else str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise TruncatedAudioError(f"{name}: the file is damaged or truncated ({exc})") from None
    if x.shape[0] == 0:
        raise EmptyAudioError(f"{name}: zero samples (the header promises audio but the data is missing)")
    if info.frames > 0 and x.shape[0] < info.frames * 0.5:
        raise TruncatedAudioError(f"{name}: truncated ({x.shape[0]} of {info.frames} declared samples present)")
    return x


def _decode_ffmpeg(data: bytes | None, path: Path | None, sr: int, name: str, max_seconds: float | None) -> np.ndarray:
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path) if path is not None else "pipe:0",
           "-vn", "-ac", "1", "-ar", str(sr), "-f", "f32le"]
    if max_seconds is not None:
        cmd += ["-t", str(max_seconds + 1)]
    cmd += ["pipe:1"]
    try:
        out = subprocess.run(cmd, input=data, capture_output=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        raise AudioError(f"{name}: decoding took too long") from None
    x = np.frombuffer(out.stdout, dtype="<f4").astype(np.float32)
    if out.returncode != 0 and x.size == 0:
        raise NotAudioError(f"{name}: ffmpeg could not decode it ({out.stderr.decode(errors='replace').strip()[:200]})")
    if x.size == 0:
        raise EmptyAudioError(f"{name}: zero samples")
    if max_seconds is not None and x.size > max_seconds * sr:
        raise TooLongError(f"{name}: longer than the {max_seconds:.0f} s limit; trim it or raise the limit")
    return x[:, None]


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """High-quality band-limited resampling (soxr HQ) along the first axis; float32 out."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(x, dtype=np.float32), sr_in, sr_out, quality="HQ").astype(np.float32)


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average the channels of a (frames, channels) array."""
    return x.mean(axis=1) if x.ndim == 2 else x


def remove_dc(x: np.ndarray) -> np.ndarray:
    """Subtract the mean so an offset microphone does not look like low-frequency energy."""
    return (x - x.mean(dtype=np.float64)).astype(np.float32) if x.size else x


def _finish(x: np.ndarray, name: str) -> np.ndarray:
    if not np.all(np.isfinite(x)):
        raise InvalidSamplesError(f"{name}: the samples contain NaN or infinity")
    x = remove_dc(to_mono(x))
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 1.0:  # float files may exceed full scale; resampling can overshoot slightly
        x = x / peak
    return np.ascontiguousarray(x, dtype=np.float32)


def load_audio(source: Source, sr: int = DEFAULT_SR, max_seconds: float | None = DEFAULT_MAX_SECONDS) -> np.ndarray:
    """Decode a path, bytes or binary file-like into mono float32 in [-1, 1] at `sr` Hz.

    The header is checked before decoding, so a recording over `max_seconds`
    is refused without reading its samples.
    """
    if not (MIN_SR <= sr <= MAX_SR):
        raise SampleRateError(f"requested sample rate {sr} Hz is outside {MIN_SR}-{MAX_SR} Hz")
    data, path, name = _read_bytes(source)
    info = _probe(data, path, name)
    if info.decoder == "soundfile":
        _check_header(info, name, max_seconds)
        x = _decode_soundfile(data, path, info, name)
        if not np.all(np.isfinite(x)):
            raise InvalidSamplesError(f"{name}: the samples contain NaN or infinity")
        x = resample(to_mono(x), info.sample_rate, sr)
    else:
        if info.sample_rate:
            _check_header(info, name, max_seconds)
        x = _decode_ffmpeg(data, path, sr, name, max_seconds)
    return _finish(x, name)


def read_blocks(
    source: str | os.PathLike, sr: int = DEFAULT_SR, block_seconds: float = 10.0
) -> Iterator[np.ndarray]:
    """Yield consecutive mono float32 blocks at `sr` from a long file, in bounded memory.

    soundfile formats are read block by block through a streaming resampler;
    other containers are streamed from an ffmpeg pipe. Blocks are not DC-removed
    (the MFCC front-end starts above DC), and the last one may be shorter.
    """
    data, path, name = _read_bytes(source)
    assert path is not None
    info = _probe(None, path, name)
    _check_header(info, name, None)
    block = max(1, int(block_seconds * sr))
    if info.decoder == "soundfile":
        import soundfile as sf
        import soxr

        rs = soxr.ResampleStream(info.sample_rate, sr, 1, dtype="float32", quality="HQ") if info.sample_rate != sr else None
        in_block = max(1, int(block_seconds * info.sample_rate))
        try:
            with sf.SoundFile(str(path)) as f:
                while True:
                    x = f.read(in_block, dtype="float32", always_2d=True)
                    last = x.shape[0] < in_block
                    if not np.all(np.isfinite(x)):
                        raise InvalidSamplesError(f"{name}: the samples contain NaN or infinity")
                    y = to_mono(x)
                    if rs is not None:
                        y = rs.resample_chunk(y, last=last)
                    if y.size:
                        yield np.clip(y, -1.0, 1.0).astype(np.float32)
                    if last:
                        return
        except AudioError:
            raise
        except Exception as exc:
            raise TruncatedAudioError(f"{name}: the file is damaged or truncated ({exc})") from None
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(sr), "-f", "f32le", "pipe:1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        while True:
            buf = proc.stdout.read(block * 4)
            if not buf:
                break
            y = np.frombuffer(buf[: len(buf) // 4 * 4], dtype="<f4")
            yield np.clip(np.nan_to_num(y), -1.0, 1.0).astype(np.float32)
    finally:
        proc.kill()
        proc.wait()


# ----------------------------------------------------------------------------- framing


@dataclass(frozen=True)
class Frames:
    """Framed sub-samples of a signal: `frames[i]` covers `[starts[i], starts[i] + frame_len/sr)` seconds."""

    frames: np.ndarray  # (n_frames, frame_len)
    starts: np.ndarray  # (n_frames,) seconds
    sr: int
    frame_len: int
    hop: int

    @property
    def rate(self) -> float:
        """Frames per second: the model's clock."""
        return self.sr / self.hop

    @property
    def ends(self) -> np.ndarray:
        return self.starts + self.frame_len / self.sr


def n_frames(n_samples: int, frame_len: int, hop: int) -> int:
    """Frames of `frame_len` every `hop` samples; a signal shorter than one frame is padded to one."""
    if n_samples <= 0:
        return 0
    return 1 + max(0, n_samples - frame_len) // hop


def frame(signal: np.ndarray, frame_ms: float = 25.0, hop_ms: float = 10.0, sr: int = DEFAULT_SR) -> Frames:
    """Split a 1-D signal into overlapping frames (a view-free copy) with their start times.

    Frames start every `hop_ms` and last `frame_ms`, with no centring, so frame i
    is exactly the window of MFCC frame i. A signal shorter than one frame is
    zero-padded to one frame; the incomplete tail after the last full frame is dropped.
    """
    x = np.asarray(signal, dtype=np.float32).reshape(-1)
    frame_len = max(1, int(round(frame_ms * sr / 1000)))
    hop = max(1, int(round(hop_ms * sr / 1000)))
    if frame_ms <= 0 or hop_ms <= 0:
        raise ValueError("frame_ms and hop_ms must be positive")
    n = n_frames(x.size, frame_len, hop)
    if n == 0:
        return Frames(np.zeros((0, frame_len), np.float32), np.zeros(0), sr, frame_len, hop)
    if x.size < frame_len:
        x = np.pad(x, (0, frame_len - x.size))
    view = np.lib.stride_tricks.sliding_window_view(x, frame_len)[::hop][:n]
    return Frames(np.ascontiguousarray(view), np.arange(n) * hop / sr, sr, frame_len, hop)


# ----------------------------------------------------------------------------- CLI


def configure_info(p) -> None:
    p.add_argument("files", nargs="+", help="audio files")
    p.add_argument("--sr", type=int, default=DEFAULT_SR, help="rate to decode at (Hz)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")


def run_info(args) -> int:
    status = 0
    for f in args.files:
        try:
            info = probe(f)
            x = load_audio(f, sr=args.sr)
            fr = n_frames(x.size, int(0.025 * args.sr), int(0.010 * args.sr))
            row = {"file": f, "decoder": info.decoder, "format": info.format, "sample_rate": info.sample_rate,
                   "channels": info.channels, "seconds": round(x.size / args.sr, 3), "frames_10ms": fr,
                   "peak": round(float(np.max(np.abs(x))), 4)}
        except AudioError as exc:
            row, status = {"file": f, "error": exc.one_line()}, 1
        if args.json:
            print(json.dumps(row))
        elif "error" in row:
            print(f"{f}: {row['error']}")
        else:
            print(f"{f}: {row['seconds']} s, {row['sample_rate']} Hz x {row['channels']} ch ({row['format']}, "
                  f"{row['decoder']}), {row['frames_10ms']} frames of 25 ms every 10 ms")
    return status
