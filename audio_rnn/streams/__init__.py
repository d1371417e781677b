"""Long recordings with known word times: how spotting is built, measured and trained on streams.

`synth` is the one stream synthesiser (words placed over a background at an SNR, recorded beds spliced,
FSDD takes and espeak-ng voices); `real` deals the held-out Speech Commands speakers of one or more
folders into it; `make` is `make-streams`; `scoring` matches detections to the truth and tunes the
spotter's settings (`eval-streams`); `train_spot` trains a stream spotter on synthesised streams
(`train-spot`). It drives the runtime in `audio_rnn.spotting` and never the other way round.
"""
