"""Typed, user-facing errors: every failure a user can cause has a class and a clear message."""


class AudioRnnError(Exception):
    """Base class for errors a user can act on; the CLI prints them as one line, no traceback."""

    def one_line(self) -> str:
        """The message as the CLI and the app show it: `ClassName: message`."""
        return f"{type(self).__name__}: {super().__str__()}"


class AudioError(AudioRnnError):
    """The audio input cannot be used."""


class EmptyAudioError(AudioError):
    """The file or buffer holds no bytes, or decodes to zero samples."""


class NotAudioError(AudioError):
    """The bytes are not in any audio format we can decode."""


class TruncatedAudioError(AudioError):
    """The file starts like audio but ends early or has a lying header."""


class InvalidSamplesError(AudioError):
    """Decoded samples contain NaN or infinity."""


class SampleRateError(AudioError):
    """The declared or requested sample rate is outside what we accept."""


class TooLongError(AudioError):
    """The recording is longer than the configured limit (checked before decoding when possible)."""


class DecoderMissingError(AudioError):
    """The container needs ffmpeg, which is not installed."""


class CheckpointError(AudioRnnError):
    """A model file is missing, malformed, from a newer version, or does not match its config."""


class CorpusError(AudioRnnError):
    """A text/ABC corpus cannot be read or is unusable (empty, not UTF-8)."""


class DataError(AudioRnnError):
    """A training data folder is missing or has no usable examples."""
