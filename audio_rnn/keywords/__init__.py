"""Keyword recognition: one label for each 1 s clip.

`synth_speech` writes the espeak-ng speech set and `data` loads it (and FSDD,
`root/<label>/*.wav`, Speech Commands) as `Clip`s; `models` is the
`KeywordRNN`; `train` fits it on augmented epochs (the `train-kws` command);
`recognize` loads a checkpoint and classifies clips (`classify`); `evaluate`
scores a model on held-out conditions (`eval-kws`); `finetune` learns a
user's own words on top of the shipped model (the app's "train your own").
Built on `audio_rnn.audio` and `audio_rnn.training`.
"""
