"""Sequence generation: a character-level LSTM over ABC tunes (or any text).

`corpus` prepares and splits ABC corpora, checks tunes, constrains sampling to
whole bars (`MeterGuard`) and renders MIDI/WAV/SVG (`prepare-corpus`,
`render`); `text` holds the vocabulary; `charrnn` the model; `train` its
truncated-BPTT training (`train-gen`); `generate` sampling and bits per
character (`generate`, `score`), mixing in `copy_cache` when scoring;
`ngram` is the Kneser-Ney baseline. Built on `audio_rnn.training`.
"""
