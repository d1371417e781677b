"""audio_rnn: recurrent networks for sound.

Keyword spotting with an LSTM/GRU over MFCC frames, character-level music
generation in ABC notation, and RNN/LSTM/GRU written from scratch in numpy.
Heavy modules (torch) are imported lazily by the submodules that need them.
"""

__version__ = "0.1.0"
