"""Sequence generation: a character-level LSTM over ABC tunes (or any text).

`notation` holds what the others share about ABC (header fields, splitting a
file into tunes). `corpus` prepares and splits the training corpus
(`prepare-corpus`); `validity` checks a tune (headers, music21 parses it, bar
lengths); `render` turns one into MIDI, WAV and an SVG score (`render`).
`text` is the vocabulary, `charrnn` the model (`stepper` its numpy twin for sampling), `train` its truncated-BPTT
training (`train-gen`); `generate` samples tunes, keeping each bar to the
meter with `meter_guard`, and scores files in bits per character (`generate`,
`score`), mixing in `copy_cache`; `ngram` is the Kneser-Ney baseline.
Built on `audio_rnn.training`.
"""
