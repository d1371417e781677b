"""Sequence generation: a character-level LSTM over ABC tunes (or any text).

`notation` holds what the others share about ABC (header fields, splitting a
file into tunes). `corpus` prepares and splits the training corpus
(`prepare-corpus`); `repeats` reads a tune's repeat structure; `validity`
checks a tune (headers, repeats, music21 parses it and writes MIDI, bar
lengths); `render` turns one into MIDI, WAV and an SVG score (`render`).
`text` is the vocabulary, `charrnn` the model (`stepper` its numpy twin for sampling), `train` its truncated-BPTT
training (`train-gen`, also fine-tunes); `generate` samples tunes, keeping each bar to the
meter with `meter_guard` and the repeats well formed with `structure_guard`, and scores files in bits per
character, mixing in `copy_cache`; `gen_cli` is the `generate` and `score` commands, whose defaults
(`settings`) the app shares; `ngram` is the Kneser-Ney baseline.
Built on `audio_rnn.training`.
"""
