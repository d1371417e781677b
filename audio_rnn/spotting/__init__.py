"""Keyword spotting: finding keywords in recordings of any length, offline or live.

`runner` is the one stream loop: samples to log-mel frames (and voice-activity flags) to posteriors, in vad,
window or state mode. `streaming.Spotter` drives it over files and `live.LiveSpotter` over microphones, both in
numpy (`frontend` for the MFCCs, `network` for the recurrent net, no torch); `decider.Decider` turns
posterior rows into detections for both (`detection` holds the settings); `spot_cli` is the `spot` command. `train` fits a stream-trained spotter on long
synthetic streams with per-frame targets (`train-spot`); `streams` and `real_streams` build test streams with
known word times (`make-streams`) and `scoring` scores detections against them (`eval-streams`). Spotting
builds on the keyword capability's data and models (`audio_rnn.keywords`).
"""
