"""audio_rnn: recurrent networks for sound.

Keyword spotting with an LSTM/GRU over MFCC frames, character-level music
generation in ABC notation, and RNN/LSTM/GRU written from scratch in numpy.

The package's face, imported on first use (torch loads only with what needs it)::

    from audio_rnn import Recognizer, Spotter, LiveSpotter, Generator
    Recognizer().classify_files(["clip.wav"])   # one word per clip
    Spotter().detect("meeting.wav")             # keywords in a recording of any length
    Generator().generate(n=1)                   # folk tunes in ABC
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Recognizer": "audio_rnn.keywords.recognize",
    "Spotter": "audio_rnn.spotting.streaming",
    "LiveSpotter": "audio_rnn.spotting.live",
    "StreamConfig": "audio_rnn.spotting.detection",
    "Detection": "audio_rnn.spotting.detection",
    "Generator": "audio_rnn.music.generate",
    "load_audio": "audio_rnn.audio.decode",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'audio_rnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
