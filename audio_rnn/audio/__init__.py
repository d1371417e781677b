"""The audio front-end: from a file or bytes to normalised MFCC frames.

`decode` reads any supported file into mono float32 at one rate (block
reading for long recordings, the `info` command); `framing` cuts a signal
into sub-frames with their times; `features` turns waves into
per-utterance-normalised MFCCs (the `features` command); `augment` perturbs
waves and spectrograms for training. Everything that hears sound goes
through here; this package imports no capability.
"""
