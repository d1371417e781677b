"""Keyword spotting: finding keywords in long recordings, frame by frame.

`streaming` runs a keyword model in numpy with carried state over blocks of a
recording and turns its posteriors into detections (the `spot` command);
`train` fits a spotter on long synthetic streams with per-frame targets
(`train-spot`); `stream_eval` builds test streams with known word times and
scores detections against them (`make-streams`, `eval-streams`). Spotting
builds on the keyword capability's data and models (`audio_rnn.keywords`).
"""
