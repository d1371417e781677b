"""Audio front-end, part 1: decode anything a user has into mono float32 at a fixed rate (framing: `framing`).

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

from audio_rnn.audio.rates import DEFAULT_SR  # the decoder's default rate (also imported from here)
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

MIN_SR = 4000  # below this no speech band survives
MAX_SR = 384000  # the highest rate of studio converters
DEFAULT_MAX_SECONDS = 3600.0  # 1 h: at most 230 MB of float32 at 16 kHz; the app passes its own limit
BLOCK_FRAMES = 1 << 16  # decode in blocks: memory follows the data present, never a header's claim
PROBE_TIMEOUT_S = 5.0  # reading a header takes milliseconds; hostile inputs must not hold a session
# demuxers ffmpeg may use: audio containers only (no playlists, no concat: they open other files)
FFMPEG_FORMATS = ("mov,matroska,ogg,mp3,aac,wav,w64,flac,amr,caf,aiff,au,asf,avi,flv,mpegts,mpeg,"
                  "ac3,eac3,dts,wv,ape,tta,mpc,mpc8,tak,truehd,oma,rm,wsaud,voc")
FFMPEG_SAFE = ["-format_whitelist", FFMPEG_FORMATS, "-protocol_whitelist", "file,pipe"]


@dataclass(frozen=True)
class AudioInfo:
    """What a file declares about itself, read without decoding the samples."""

    sample_rate: int
    channels: int
    frames: int  # -1 when the container does not say
    format: str
    decoder: str  # "soundfile" or "ffmpeg"

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate and self.frames > 0 else 0.0


# ----------------------------------------------------------------------------- input normalisation


def _read_bytes(source: Source) -> tuple[bytes | None, Path | None, str]:
    """(bytes or None, path or None, display name). Paths are not read into memory; a file-like object is
    named by its `name` (an upload's file name), bytes as "<bytes>"."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            if not path.exists():
                raise AudioError(f"file not found: {path}")
            if path.is_dir():
                raise AudioError(f"is a folder, not an audio file: {path}")
            size = path.stat().st_size
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise AudioError(f"cannot read {path}: {exc.strerror or exc}") from None
        if size == 0:
            raise EmptyAudioError(f"file is empty: {path}")
        return None, path, str(path)
    name = "<bytes>"
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "read"):
        name = str(getattr(source, "name", "") or name)
        data = source.read()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise AudioError("file-like object must be opened in binary mode ('rb')")
        data = bytes(data)
    else:
        raise AudioError(f"cannot read audio from a {type(source).__name__}; pass a path, bytes or a binary file")
    if not data:
        raise EmptyAudioError(f"{'' if name == '<bytes>' else name + ': '}file is empty (0 bytes)")
    return data, None, name


def _head(data: bytes | None, path: Path | None, n: int = 65536) -> tuple[bytes, int]:
    """The first `n` bytes and the total size."""
    if data is not None:
        return data[:n], len(data)
    with open(path, "rb") as f:  # type: ignore[arg-type]
        return f.read(n), path.stat().st_size  # type: ignore[union-attr]


def _has_ffmpeg() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def _looks_like_container(head: bytes) -> str | None:
    """Name the container from its first bytes; only these go to ffmpeg (soundfile formats never get here).

    Gating ffmpeg by signature keeps random or hostile bytes away from its many
    demuxers and refuses them at once instead of after a decoder start-up.
    """
    if head[:4] == b"\x1aE\xdf\xa3":
        return "webm/matroska"
    if head[4:8] == b"ftyp":
        return "mp4/m4a"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mp4/mov"
    if head[:4] == b"caff":
        return "caf"
    if head[:5] == b"#!AMR":
        return "amr"
    if head[:2] in (b"\xff\xf1", b"\xff\xf9"):
        return "aac"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] in (b"RIFF", b"RIFX", b"RF64", b"FORM", b"OggS", b"fLaC", b".snd") or head[:3] == b"ID3":
        return "audio codec"  # a soundfile container holding a codec libsndfile lacks (ADPCM, Opus in WAV, ...)
    if head[:4] == b"riff":
        return "w64"
    if head[:4] == b"0&\xb2u":
        return "wma/asf"
    if head[:3] == b"FLV":
        return "flv"
    if head[:4] == b"\x00\x00\x01\xba" or (len(head) > 188 and head[0] == 0x47 and head[188] == 0x47):
        return "mpeg stream"
    if head[:4] in (b"wvpk", b"MAC ", b"TTA1", b"MPCK", b"tBaK", b".RMF") or head[:3] == b"MP+":
        return "lossless/legacy codec"
    if head[:2] == b"\x0bw" or head[:4] == b"\x7f\xfe\x80\x01":
        return "ac3/dts"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mpeg audio"
    return None


def _declared_data(head: bytes, size: int) -> tuple[int, int] | None:
    """(bytes the header declares for sample data, bytes actually present) for WAV, AIFF and AU, else None.

    libsndfile quietly clamps a lying or cut-off size to the file; this is how we notice.
    Streaming writers' placeholders (0 or 0xFFFFFFFF: size unknown) give None.
    """
    unknown = (0, 0xFFFFFFFF)
    if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        endian = "<" if head[:4] == b"RIFF" else ">"
        pos = 12
        while pos + 8 <= len(head):
            cid, n = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little" if endian == "<" else "big")
            if cid == b"data":
                return None if n in unknown else (n, size - pos - 8)
            pos += 8 + n + (n & 1)
        return None
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        pos = 12
        while pos + 8 <= len(head):
            cid, n = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "big")
            if cid == b"SSND":
                return None if n in unknown else (n - 8, size - pos - 16)
            pos += 8 + n + (n & 1)
        return None
    if head[:4] == b".snd" and len(head) >= 12:
        offset, n = int.from_bytes(head[4:8], "big"), int.from_bytes(head[8:12], "big")
        return None if n in unknown else (n, size - offset)
    return None


# ----------------------------------------------------------------------------- probing


class _Bytes(io.BytesIO):
    """BytesIO for libsndfile's virtual I/O: a seek before the start fails quietly (damaged headers ask for it)."""

    def seek(self, offset: int, whence: int = 0) -> int:
        try:
            return super().seek(offset, whence)
        except ValueError:
            return self.tell()


def _sf_info(data: bytes | None, path: Path | None):
    import soundfile as sf

    try:
        return sf.info(_Bytes(data) if data is not None else str(path))
    except Exception:  # libsndfile raises a generic error for anything it does not recognise
        return None


def _ffmpeg_input(path: Path) -> str:
    return "file:" + str(path.resolve())  # "file:" so names like "concat:..." or "-x" stay plain files


def _ffprobe(path: Path, name: str) -> AudioInfo:
    cmd = ["ffprobe", "-v", "error", *FFMPEG_SAFE, "-select_streams", "a:0", "-show_entries",
           "stream=sample_rate,channels,duration,codec_name:format=duration,format_name", "-of", "json",
           "-i", _ffmpeg_input(path)]
    try:
        out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise NotAudioError(f"{name}: the decoder timed out reading the header; not a usable audio file") from None
    try:
        meta = json.loads(out.stdout or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        meta = {}
    streams = meta.get("streams") or [] if isinstance(meta, dict) else []
    if out.returncode != 0 or not streams:
        raise NotAudioError(f"{name}: not an audio file (no audio stream found); use wav, flac, ogg, mp3, m4a or webm")
    st = streams[0]
    try:
        sr = int(st.get("sample_rate") or 0)
        dur = float(st.get("duration") or (meta.get("format") or {}).get("duration") or "nan")
    except (TypeError, ValueError):
        sr, dur = 0, math.nan
    frames = int(dur * sr) if sr and math.isfinite(dur) and dur >= 0 else -1
    return AudioInfo(sr, int(st.get("channels") or 0), frames, str(st.get("codec_name", "?")), "ffmpeg")


def probe(source: Source) -> AudioInfo:
    """Read a file's header (rate, channels, length) without decoding its samples."""
    data, path, name = _read_bytes(source)
    with _as_path(data, path) as p:
        return _probe(data, path, p, name)


class _as_path:
    """Context manager: the file's path, writing bytes to a private temporary file for ffmpeg when needed."""

    def __init__(self, data: bytes | None, path: Path | None):
        self.data, self.path, self.tmp = data, path, None

    def __enter__(self) -> "_as_path":
        return self

    def get(self) -> Path:
        if self.path is not None:
            return self.path
        if self.tmp is None:
            import tempfile

            fd, tmp = tempfile.mkstemp(prefix="audio_rnn_", suffix=".bin")
            with os.fdopen(fd, "wb") as f:
                f.write(self.data or b"")
            self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, *exc) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def _probe(data: bytes | None, path: Path | None, p: _as_path, name: str) -> AudioInfo:
    info = _sf_info(data, path)
    if info is not None:
        frames = int(info.frames)
        if frames >= 2**62:  # libsndfile's SF_COUNT_MAX: length unknown (e.g. a streamed FLAC); decoding will tell
            frames = -1
        return AudioInfo(int(info.samplerate), int(info.channels), frames, str(info.format), "soundfile")
    head, _ = _head(data, path, 512)
    container = _looks_like_container(head)
    if container is None:
        raise NotAudioError(f"{name}: not an audio file (unrecognised content); use wav, flac, ogg, mp3, m4a or webm")
    if not _has_ffmpeg():
        raise DecoderMissingError(
            f"{name}: {container} audio needs ffmpeg, which is not installed "
            "(apt-get install ffmpeg), or convert it to wav/flac/ogg/mp3"
        )
    return _ffprobe(p.get(), name)


def _check_header(info: AudioInfo, name: str, max_seconds: float | None) -> None:
    if not (MIN_SR <= info.sample_rate <= MAX_SR):
        raise SampleRateError(
            f"{name}: sample rate {info.sample_rate} Hz is outside the supported {MIN_SR}-{MAX_SR} Hz; "
            "the header is wrong or the file needs resampling"
        )
    if info.channels < 1:
        raise NotAudioError(f"{name}: no audio channels")
    if info.channels > 256:
        raise TruncatedAudioError(f"{name}: the header claims {info.channels} channels; the file is damaged")
    if max_seconds is not None and info.duration > max_seconds:
        raise TooLongError(
            f"{name}: {info.duration:.1f} s is longer than the {max_seconds:g} s limit; trim it or raise the limit"
        )


# ----------------------------------------------------------------------------- decoding


def _check_finite(x: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(x)):
        raise InvalidSamplesError(f"{name}: the samples contain NaN or infinity; the file is damaged, re-export it")


def _sf_blocks(data: bytes | None, path: Path | None, info: AudioInfo, sr: int, name: str,
               block_frames: int = BLOCK_FRAMES, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Decode with libsndfile block by block: downmix and resample each block (streaming soxr).

    Memory per step is one block, whatever the header claims. Raises TooLongError
    past `max_frames` input frames and TruncatedAudioError when fewer frames than
    declared are present.
    """
    import soundfile as sf
    import soxr

    rs = soxr.ResampleStream(info.sample_rate, sr, 1, dtype="float32", quality="HQ") if info.sample_rate != sr else None
    head, size = _head(data, path)
    declared = _declared_data(head, size)
    if declared is not None and declared[0] > declared[1]:
        raise TruncatedAudioError(
            f"{name}: truncated: the header declares {declared[0]} bytes of samples but only {max(0, declared[1])} "
            "are present (cut-off download or lying header); re-export or re-upload it"
        )
    n_in = 0
    try:
        with sf.SoundFile(_Bytes(data) if data is not None else str(path)) as f:
            while True:
                x = f.read(block_frames, dtype="float32", always_2d=True)
                last = x.shape[0] < block_frames
                n_in += x.shape[0]
                if max_frames is not None and n_in > max_frames:
                    raise TooLongError(f"{name}: longer than the {max_frames / info.sample_rate:g} s limit; "
                                       "trim it or raise the limit")
                _check_finite(x, name)
                y = x.mean(axis=1, dtype=np.float64).astype(np.float32) if x.shape[1] > 1 else x[:, 0]
                if rs is not None:
                    y = rs.resample_chunk(y, last=last)
                if y.size:
                    yield y
                if last:
                    break
    except AudioError:
        raise
    except Exception as exc:  # libsndfile/mpg123 errors on damaged data (or on streams it cannot seek)
        err = TruncatedAudioError(f"{name}: the file is damaged or truncated ({str(exc)[:120]})")
        err.decoder_failed = True  # type: ignore[attr-defined]
        raise err from None
    if n_in == 0:
        if size > 4096:  # e.g. an Ogg file cut off before its first complete page
            raise TruncatedAudioError(f"{name}: no samples could be decoded from {size} bytes; the file is damaged "
                                      "or truncated, re-export or re-upload it")
        raise EmptyAudioError(f"{name}: zero samples (the file has a header but no audio)")
    # MP3 lengths without a Xing header are estimates; other formats declare exact lengths
    tol = 0.1 if "MP3" in info.format.upper() or "MPEG" in info.format.upper() else 0.001
    if info.frames > 0 and n_in < info.frames * (1 - tol) - 1:
        raise TruncatedAudioError(
            f"{name}: truncated: {n_in} of {info.frames} declared samples present; re-export or re-upload it"
        )


def _decode_ffmpeg(path: Path, sr: int, name: str, max_seconds: float | None) -> np.ndarray:
    cmd = ["ffmpeg", "-nostdin", "-v", "error", *FFMPEG_SAFE, "-i", _ffmpeg_input(path),
           "-vn", "-ac", "1", "-ar", str(sr), "-f", "f32le"]
    if max_seconds is not None:
        cmd += ["-t", f"{max_seconds + 1:.3f}"]  # bounds memory even when the container hides its length
    cmd += ["pipe:1"]
    # compressed audio decodes at >100 MB/s of input, far faster than real time; `-t` bounds the output
    timeout = 5.0 + 3.0 * path.stat().st_size / 1e6
    try:
        out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise AudioError(f"{name}: decoding took longer than {timeout:.0f} s; convert it to wav or flac") from None
    x = np.frombuffer(out.stdout[: len(out.stdout) // 4 * 4], dtype="<f4").astype(np.float32)
    if out.returncode != 0 and x.size == 0:
        msg = out.stderr.decode(errors="replace").strip().splitlines()
        raise NotAudioError(f"{name}: ffmpeg could not decode it ({(msg[-1] if msg else '?')[:160]})")
    if x.size == 0:
        raise EmptyAudioError(f"{name}: zero samples (the file has a header but no audio)")
    if max_seconds is not None and x.size > max_seconds * sr:
        raise TooLongError(f"{name}: longer than the {max_seconds:g} s limit; trim it or raise the limit")
    _check_finite(x, name)
    return x


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """High-quality band-limited resampling (soxr HQ) along the first axis; float32 out."""
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(x, dtype=np.float32), sr_in, sr_out, quality="HQ").astype(np.float32)


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average the channels of a (frames, channels) array (in float64: no overflow on huge floats)."""
    return x.mean(axis=1, dtype=np.float64).astype(np.float32) if x.ndim == 2 else x


def remove_dc(x: np.ndarray) -> np.ndarray:
    """Subtract the mean so an offset microphone does not look like low-frequency energy."""
    return (x - x.mean(dtype=np.float64)).astype(np.float32) if x.size else x


def _finish(x: np.ndarray, name: str) -> np.ndarray:
    _check_finite(x, name)
    x = remove_dc(to_mono(x))
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 1.0:  # float files may exceed full scale; resampling can overshoot slightly
        x = x / peak
    return np.ascontiguousarray(x, dtype=np.float32)


def _check_rate(sr: int) -> None:
    if not (MIN_SR <= sr <= MAX_SR):
        raise SampleRateError(f"requested sample rate {sr} Hz is outside {MIN_SR}-{MAX_SR} Hz")


def load_audio(source: Source, sr: int = DEFAULT_SR, max_seconds: float | None = DEFAULT_MAX_SECONDS) -> np.ndarray:
    """Decode a path, bytes or binary file-like into mono float32 in [-1, 1] at `sr` Hz, DC removed.

    The header is checked before decoding, so a recording over `max_seconds` is
    refused without reading its samples; decoding also stops at the limit when a
    header understates the length. Memory follows the data present, not the header.
    """
    _check_rate(sr)
    data, path, name = _read_bytes(source)
    with _as_path(data, path) as p:
        info = _probe(data, path, p, name)
        if info.decoder == "soundfile":
            _check_header(info, name, max_seconds)
            max_frames = None if max_seconds is None else int(math.ceil(max_seconds * info.sample_rate))
            try:
                parts = list(_sf_blocks(data, path, info, sr, name, max_frames=max_frames))
                x = np.concatenate(parts) if parts else np.zeros(0, np.float32)
            except TruncatedAudioError as exc:
                # libsndfile gives up on some valid files (e.g. FLAC of unknown length); ffmpeg decodes
                # what is there, and a declared length tells us whether that is all of it
                if not getattr(exc, "decoder_failed", False) or not _has_ffmpeg():
                    raise
                try:
                    x = _decode_ffmpeg(p.get(), sr, name, max_seconds)
                except (NotAudioError, EmptyAudioError):
                    raise exc from None
                if info.frames > 0 and len(x) < info.frames * sr / info.sample_rate * 0.999 - 2:
                    raise
        else:
            if info.sample_rate or info.channels:
                _check_header(info, name, max_seconds)
            x = _decode_ffmpeg(p.get(), sr, name, max_seconds)
    if x.size == 0:
        raise EmptyAudioError(f"{name}: zero samples after resampling (shorter than one sample at {sr} Hz)")
    return _finish(x, name)


def read_blocks(source: Source, sr: int = DEFAULT_SR, block_seconds: float = 10.0) -> Iterator[np.ndarray]:
    """Yield consecutive mono float32 blocks at `sr` from a long file, in bounded memory.

    soundfile formats are read block by block through a streaming resampler;
    other containers are streamed from an ffmpeg pipe. Blocks are not DC-removed
    (the MFCC front-end starts above DC) and hold about `block_seconds` each
    (the last may be shorter). Concatenated, they equal `load_audio` before DC removal
    (for audio within full scale: blocks are clipped, not scaled by the file's peak).
    """
    _check_rate(sr)
    if not block_seconds > 0:
        raise ValueError("block_seconds must be positive")
    data, path, name = _read_bytes(source)
    with _as_path(data, path) as p:
        info = _probe(data, path, p, name)
        if info.sample_rate:
            _check_header(info, name, None)
        if info.decoder == "soundfile":
            in_block = max(1, int(block_seconds * info.sample_rate))
            for y in _sf_blocks(data, path, info, sr, name, block_frames=in_block):
                yield np.clip(y, -1.0, 1.0)
            return
        block = max(1, int(block_seconds * sr))
        cmd = ["ffmpeg", "-nostdin", "-v", "error", *FFMPEG_SAFE, "-i", _ffmpeg_input(p.get()),
               "-vn", "-ac", "1", "-ar", str(sr), "-f", "f32le", "pipe:1"]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        n = 0
        try:
            assert proc.stdout is not None
            while True:
                buf = proc.stdout.read(block * 4)
                if not buf:
                    break
                y = np.frombuffer(buf[: len(buf) // 4 * 4], dtype="<f4")
                _check_finite(y, name)
                n += y.size
                yield np.clip(y, -1.0, 1.0).astype(np.float32)
        finally:
            proc.kill()
            proc.wait()
        if n == 0:
            raise NotAudioError(f"{name}: ffmpeg could not decode any audio from it")


# ----------------------------------------------------------------------------- CLI


def configure_info(p) -> None:
    p.add_argument("files", nargs="+", help="audio files")
    p.add_argument("--sr", type=int, default=DEFAULT_SR, help="rate to decode at (Hz)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")


def run_info(args) -> int:
    from audio_rnn.audio.framing import n_frames

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
