"""Keyword spotting at run time: finding keywords in recordings of any length, offline or live.

`runner` is the one stream loop: samples to log-mel frames (and voice-activity flags) to posteriors, in vad,
window or state mode. `streaming.Spotter` drives it over files and `live.LiveSpotter` over microphones, both in
numpy (`frontend` for the MFCCs, `network` for the recurrent net, no torch); `decider.Decider` turns
posterior rows into detections for both (`detection` holds the settings); `spot_cli` and `spot_stdin` are
`spot` and `spot -`. Building, scoring and training on test streams lives in `audio_rnn.streams`; a
browser's live session in `audio_rnn.ui.listen_session`. Spotting builds on the keyword capability's data
and models (`audio_rnn.keywords`).
"""
