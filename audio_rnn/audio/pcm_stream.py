"""Live audio from a pipe: a WAV stream or raw PCM read as it arrives, as mono float32 blocks.

`decode.read_blocks` needs a file it can probe and seek; standard input fed by
`arecord` or `ffmpeg -f wav -` cannot be sought and never ends while someone
speaks. `PcmStream` parses the RIFF header itself (PCM 8/16/24/32-bit or
float, any channel count), then yields whatever samples have arrived,
downmixed like `decode` does (channel mean, clipped to [-1, 1]).
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Iterator

import numpy as np

from audio_rnn.audio.decode import MAX_SR, MIN_SR
from audio_rnn.errors import EmptyAudioError, InvalidSamplesError, NotAudioError, SampleRateError, TruncatedAudioError

# WAV format tags; WAVE_FORMAT_EXTENSIBLE carries the real tag in its sub-format GUID
PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
UNKNOWN_SIZES = (0, 0xFFFFFFFF, 0x7FFFFFFF)  # what arecord/ffmpeg write when the length is unknown
MAX_HEADER = 1 << 20  # chunks before "data" beyond this are not a WAV stream a microphone sends


def _dtype(tag: int, bits: int, name: str) -> str:
    """numpy dtype for a WAV sample format (24-bit handled separately)."""
    if tag == FLOAT and bits in (32, 64):
        return f"<f{bits // 8}"
    if tag == PCM and bits in (8, 16, 24, 32):
        return {8: "u1", 16: "<i2", 24: "i3", 32: "<i4"}[bits]
    raise NotAudioError(f"{name}: unsupported WAV sample format (tag {tag}, {bits} bit); send 16-bit PCM")


class PcmStream:
    """Samples from a binary stream as they arrive: `.rate`, `.channels`, and `blocks()` of mono float32."""

    def __init__(self, f: BinaryIO, raw: bool = False, rate: int | None = None, channels: int = 1,
                 name: str = "standard input", read_size: int = 4096):
        """`raw`: headerless little-endian 16-bit PCM at `rate` Hz with `channels` interleaved; otherwise a
        WAV stream (its header gives rate and channels). `read_size`: bytes asked per read (a pipe
        answers with what has arrived, so blocks are as fresh as the writer's)."""
        self.f, self.name, self.read_size = f, name, int(read_size)
        self._pending = b""
        self._limit: int | None = None  # data bytes left, when the header declares a real length
        if raw:
            if not rate:
                raise SampleRateError(f"{name}: raw PCM needs its sample rate: pass --rate N (e.g. --rate 16000)")
            self.rate, self.channels, self.dtype, self.width = int(rate), int(channels), "<i2", 2
        else:
            self._read_header()
        if not MIN_SR <= self.rate <= MAX_SR:
            raise SampleRateError(f"{name}: sample rate {self.rate} Hz is outside {MIN_SR}-{MAX_SR} Hz")
        if not 1 <= self.channels <= 64:
            raise NotAudioError(f"{name}: {self.channels} channels; expected 1-64")
        self.frame_bytes = self.width * self.channels
        self.frames_read = 0

    # -- header
    def _read(self, n: int) -> bytes:
        """Exactly `n` bytes (fewer only at the end of the stream)."""
        out = self._pending[:n]
        self._pending = self._pending[n:]
        while len(out) < n:
            got = self.f.read(n - len(out))
            if not got:
                break
            out += got
        return out

    def _read_header(self) -> None:
        head = self._read(12)
        if not head:
            raise EmptyAudioError(f"{self.name}: no audio arrived (the stream is empty)")
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            raise NotAudioError(f"{self.name}: not a WAV stream (no RIFF/WAVE header); for headerless PCM pass "
                                "--raw --rate N")
        fmt = None
        seen = 12
        while True:
            ch = self._read(8)
            if len(ch) < 8:
                raise TruncatedAudioError(f"{self.name}: the WAV header ends before its data chunk")
            cid, size = ch[:4], struct.unpack("<I", ch[4:])[0]
            if cid == b"data":
                break
            seen += 8 + size + (size & 1)
            if seen > MAX_HEADER:
                raise NotAudioError(f"{self.name}: no data chunk in the first {MAX_HEADER} bytes of the WAV stream")
            body = self._read(size + (size & 1))
            if len(body) < size:
                label = cid.decode("latin-1").strip()
                raise TruncatedAudioError(f"{self.name}: the WAV header ends inside its '{label}' chunk")
            if cid == b"fmt ":
                fmt = body
        if fmt is None or len(fmt) < 16:
            raise NotAudioError(f"{self.name}: the WAV stream has no format chunk before its data")
        tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
        if tag == EXTENSIBLE and len(fmt) >= 26:
            tag = struct.unpack("<H", fmt[24:26])[0]
        self.dtype = _dtype(tag, bits, self.name)
        self.width = bits // 8
        self.rate, self.channels = int(rate), int(channels)
        if size not in UNKNOWN_SIZES and head[:4] == b"RIFF":
            self._limit = size

    # -- samples
    def _to_mono(self, data: bytes) -> np.ndarray:
        n = len(data) // self.frame_bytes
        if self.dtype == "i3":  # 24-bit: widen to int32 by hand
            b = np.frombuffer(data, np.uint8).reshape(-1, 3)
            x = (b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8) | (b[:, 2].astype(np.int32) << 16))
            x = ((x << 8) >> 8).astype(np.float32) / 8388608.0
        else:
            a = np.frombuffer(data, self.dtype)
            if a.dtype.kind == "f":
                x = a.astype(np.float32)
                if not np.all(np.isfinite(x)):
                    raise InvalidSamplesError(f"{self.name}: the samples contain NaN or infinity")
            elif a.dtype.kind == "u":
                x = (a.astype(np.float32) - 128.0) / 128.0
            else:
                x = a.astype(np.float32) / float(2 ** (8 * a.dtype.itemsize - 1))
        x = x.reshape(n, self.channels)
        y = x.mean(axis=1, dtype=np.float64).astype(np.float32) if self.channels > 1 else x[:, 0]
        return np.clip(y, -1.0, 1.0)

    def blocks(self) -> Iterator[np.ndarray]:
        """Mono float32 blocks in [-1, 1] as they arrive, until the stream ends (or its declared length)."""
        carry = self._pending
        self._pending = b""
        while self._limit is None or self._limit > 0:
            ask = self.read_size if self._limit is None else min(self.read_size, self._limit)
            got = carry if carry else self.f.read(ask)
            carry = b""
            if not got:
                break
            if self._limit is not None:
                got = got[:self._limit]
                self._limit -= len(got)
            data = self._pending + got
            k = len(data) // self.frame_bytes * self.frame_bytes
            self._pending = data[k:]
            if k:
                self.frames_read += k // self.frame_bytes
                yield self._to_mono(data[:k])
        if self.frames_read == 0:
            raise EmptyAudioError(f"{self.name}: the stream ended before any samples arrived")


def open_stdin(raw: bool = False, rate: int | None = None, channels: int = 1) -> PcmStream:
    """A PcmStream on this process's standard input, read without buffering (each read returns what arrived)."""
    import sys

    if sys.stdin is None or sys.stdin.isatty():
        raise NotAudioError("standard input is a terminal: pipe audio into `spot -`, e.g. "
                            "arecord -f S16_LE -r 16000 -c 1 -t raw | audio-rnn spot - --raw --rate 16000")
    raw_in = getattr(sys.stdin.buffer, "raw", sys.stdin.buffer)
    return PcmStream(raw_in, raw=raw, rate=rate, channels=channels)
