"""Keyword spotting: finding keywords in long recordings, frame by frame.

`streaming` holds the `Spotter` and the `spot` command: it reads a recording
in blocks, runs a keyword model over it in numpy (`frontend` for the MFCCs,
`network` for the recurrent net, both without torch) and turns the per-frame
posteriors into detections (`detection`). `train` fits a spotter on long
synthetic streams with per-frame targets (`train-spot`); `stream_eval`
builds test streams with known word times and scores detections against
them (`make-streams`, `eval-streams`). Spotting builds on the keyword
capability's data and models (`audio_rnn.keywords`).
"""
